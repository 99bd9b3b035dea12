// Connection lifecycle over a real listening server and the `ws` client: identify (its
// statements and its timeout), heartbeats, Origin allow-list, inbound size and rate
// limits, slow consumers, shutdown.
import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { useTestApp } from '../../test/app-harness.ts';
import { buildApp } from '../app.ts';
import { loadConfig } from '../config.ts';
import { createLogger } from '../lib/logger.ts';
import { Connection, type ConnectionHandlers } from './connection.ts';
import { listen, TestClient } from './testing.ts';

const api = useTestApp({
  GATEWAY_FANOUT: 'in-process',
  GATEWAY_IDENTIFY_TIMEOUT: '400ms',
  GATEWAY_HEARTBEAT_INTERVAL: '300ms',
  GATEWAY_ALLOWED_ORIGINS: 'https://app.example.com',
  GATEWAY_MAX_FRAME_BYTES: '2048',
  GATEWAY_INBOUND_FRAMES: '20',
  GATEWAY_INBOUND_WINDOW: '60s',
});

let url = '';
const gatewayUrl = async () => (url ||= await listen(api.app));

describe('identify', () => {
  // First in the file: no earlier socket's offline grace period can fire in the middle.
  it('costs nine statements for a user in no group, the presence transition one of them', async () => {
    const { token } = await api.register('gw_counted');
    const statements: string[] = [];
    const off = api.t.telemetry.onQuery((event) => statements.push(event.sql));
    try {
      const client = await TestClient.open(await gatewayUrl());
      await client.identify(token);
      await expect.poll(() => statements.some((q) => q.includes('cgraph_presence_connect'))).toBe(true);
      await api.app.gateway.drain(); // the append of its presence.updated
      client.close();
    } finally {
      off();
    }
    // The session; conversation, presence, group and channel rooms; blocks; the stream
    // position with the presence snapshot; the presence transition; the append.
    expect(statements).toHaveLength(9);
    expect(statements.filter((q) => /^\s*(BEGIN|COMMIT)/i.test(q))).toEqual([]);
  });

  it('says hello, then answers a valid token with ready', async () => {
    const { token, user } = await api.register('gw_ready');
    const client = await TestClient.open(await gatewayUrl());
    const hello = await client.next((f) => f.op === 'hello');
    expect(hello.heartbeat_interval).toBe(300);
    const ready = await client.identify(token);
    expect(ready).toMatchObject({ op: 'ready', user: { id: user.id, username: 'gw_ready' } });
    expect(typeof ready.seq).toBe('number');
    expect(ready.rooms).toContain(`user:${user.id}`);
    client.send({ op: 'heartbeat' });
    await client.next((f) => f.op === 'heartbeat_ack');
    client.close();
  });

  it('closes with 4001 on a bad token, a missing token, or a frame before identify', async () => {
    for (const frame of [
      { op: 'identify', token: 'not-a-token' },
      { op: 'identify' },
      { op: 'typing', room: 'x' },
      'garbage',
    ]) {
      const client = await TestClient.open(await gatewayUrl());
      client.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
      expect((await client.waitClosed()).code).toBe(4001);
    }
  });

  it('closes with 4001 when no identify arrives within the timeout', async () => {
    const client = await TestClient.open(await gatewayUrl());
    const started = Date.now();
    expect((await client.waitClosed(3000)).code).toBe(4001);
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
  });

  it('refuses a second identify on the same connection', async () => {
    const { token } = await api.register('gw_twice');
    const client = await TestClient.open(await gatewayUrl());
    await client.identify(token);
    client.send({ op: 'identify', token });
    expect((await client.waitClosed()).code).toBe(4005);
  });

  it('answers a plain GET with 426', async () => {
    const res = await api.call({ method: 'GET', url: '/gateway' });
    expect(res.statusCode).toBe(426);
    expect(res.json()).toMatchObject({ error: { code: 'upgrade_required' } });
  });
});

describe('origin allow-list', () => {
  it('lets listed origins and non-browser clients in, refuses others with 403', async () => {
    await (
      await TestClient.open(await gatewayUrl(), { origin: 'https://app.example.com' })
    ).next((f) => f.op === 'hello');
    await (await TestClient.open(await gatewayUrl())).next((f) => f.op === 'hello');
    await expect(TestClient.open(await gatewayUrl(), { origin: 'https://evil.example.com' })).rejects.toThrow(
      /403/,
    );
  });
});

describe('limits', () => {
  it('closes a connection that sends a frame over the size limit (1009)', async () => {
    const { token } = await api.register('gw_big');
    const client = await TestClient.open(await gatewayUrl());
    await client.identify(token);
    client.send({ op: 'typing', room: 'x'.repeat(4000) });
    expect((await client.waitClosed()).code).toBe(1009);
  });

  it('closes a connection that sends frames too fast (4008)', async () => {
    const { token } = await api.register('gw_fast');
    const client = await TestClient.open(await gatewayUrl());
    await client.identify(token);
    for (let i = 0; i < 25; i++) client.send({ op: 'heartbeat' });
    expect((await client.waitClosed()).code).toBe(4008);
  });

  it('closes with 4002 on an unknown op after identify', async () => {
    const { token } = await api.register('gw_unknown');
    const client = await TestClient.open(await gatewayUrl());
    await client.identify(token);
    client.send({ op: 'launch' });
    expect((await client.waitClosed()).code).toBe(4002);
  });
});

describe('heartbeats', () => {
  it('keeps a client that answers pings and drops one that went silent', async () => {
    const { token, user } = await api.register('gw_silent');
    const client = await TestClient.open(await gatewayUrl());
    await client.identify(token);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // three intervals, pongs answered
    expect(api.app.gateway.localConnections(user.id)).toBe(1);
    // Stop reading: no pong goes back, as with a peer that vanished.
    (client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await expect.poll(() => api.app.gateway.localConnections(user.id), { timeout: 3000 }).toBe(0);
  });
});

describe('shutdown', () => {
  it('tells every socket to go elsewhere (1001) and closes without waiting for clients', async () => {
    const node = await buildApp({ config: api.t.config, database: api.t, logger: api.t.logger });
    const { token } = await api.register('gw_shutdown');
    const nodeUrl = await listen(node);
    const identified = await TestClient.open(nodeUrl);
    await identified.identify(token);
    const anonymous = await TestClient.open(nodeUrl); // not identified yet
    await anonymous.next((f) => f.op === 'hello');
    await node.close();
    expect(await identified.waitClosed()).toMatchObject({ code: 1001, reason: 'server shutting down' });
    expect((await anonymous.waitClosed()).code).toBe(1001);
  });
});

describe('send buffer', () => {
  it('cuts off a consumer whose unsent data exceeds the limit', () => {
    const socket = Object.assign(new EventEmitter(), {
      bufferedAmount: 0,
      send: vi.fn(),
      close: vi.fn(),
      terminate: vi.fn(),
      ping: vi.fn(),
    });
    const config = loadConfig({ NODE_ENV: 'test', GATEWAY_SEND_BUFFER_BYTES: '1000' }).gateway;
    const handlers: ConnectionHandlers = {
      start: async () => true,
      typing: () => undefined,
      activity: () => undefined,
      closed: () => undefined,
    };
    const connection = new Connection(socket as never, config, handlers, createLogger('silent'));
    expect(connection.send('x'.repeat(100))).toBe(true);
    socket.bufferedAmount = 950;
    expect(connection.send('x'.repeat(100))).toBe(false);
    expect(socket.terminate).toHaveBeenCalled();
    expect(connection.state).toBe('closed');
    expect(connection.send('x')).toBe(false);
  });
});
