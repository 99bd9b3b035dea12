// Test helpers: an app listening on a real port, and a `ws` client that records frames.
import type { FastifyInstance } from 'fastify';
import WebSocket from 'ws';

export interface Frame {
  op: string;
  type?: string;
  data?: Record<string, unknown>;
  seq?: number;
  room?: string;
  room_seq?: number;
  [key: string]: unknown;
}

export class TestClient {
  readonly frames: Frame[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: Array<() => void> = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse((data as Buffer).toString('utf8')) as Frame);
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    ws.on('error', () => this.wake());
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<TestClient> {
    const ws = new WebSocket(url, { headers });
    const client = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** Waits for a frame matching `match` (searching from the start of what arrived). */
  async next(match: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`no matching frame in ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`);
      await this.wait(deadline - Date.now());
    }
  }

  event(type: string, pred: (f: Frame) => boolean = () => true, timeoutMs?: number): Promise<Frame> {
    return this.next((f) => f.op === 'event' && f.type === type && pred(f), timeoutMs);
  }

  events(type: string): Frame[] {
    return this.frames.filter((f) => f.op === 'event' && f.type === type);
  }

  async waitClosed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('socket still open');
      await this.wait(deadline - Date.now());
    }
    return this.closed;
  }

  async identify(token: string): Promise<Frame> {
    this.send({ op: 'identify', token });
    return this.next((f) => f.op === 'ready');
  }

  close(): void {
    this.ws.close();
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(ms, 0));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export async function listen(app: FastifyInstance): Promise<string> {
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return `${address.replace(/^http/, 'ws')}/gateway`;
}

/** Resolves once nothing arrived for a little while: to assert that an event did NOT come. */
export const settle = (ms = 300) => new Promise((resolve) => setTimeout(resolve, ms));
