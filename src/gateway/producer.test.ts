// The producer's database cost, pinned: what one DM message costs the gateway after the
// send commits (every statement counted through the pool's telemetry, prepared ones
// included, which bypass Kysely's plugins), and that a batch
// of events, several in one room, is numbered gap-free in ONE statement.
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../../test/app-harness.ts';
import { builtView, createEventBus, withBuiltView, type DomainEvent } from '../events/bus.ts';
import { sendMessage } from '../modules/messaging/conversation-send.ts';
import { findNotification } from '../modules/notifications/queries.ts';
import { CONVERSATION } from '../modules/messaging/location.ts';
import { findMessageView } from '../modules/messaging/messages.ts';
import { notificationCreated, toView as notificationView } from '../modules/notifications/service.ts';
import type { Fanout } from './fanout/transport.ts';
import { RoomEventProducer } from './producer.ts';
import { envelopePayload, eventFrame, parseEnvelopePayload, type Envelope } from './protocol.ts';

const api = useTestApp({ GATEWAY_FANOUT: 'in-process' });

/** A producer on its own bus, counting its statements and keeping what it publishes. */
function counted() {
  // Each statement by its first keyword (select, with, …); the test does nothing else meanwhile.
  const statements: string[] = [];
  const off = api.t.telemetry.onQuery((event) => statements.push(event.sql.trimStart().split(/\s/)[0]!.toLowerCase()));
  const published: Envelope[] = [];
  const local: string[] = [];
  const fanout: Fanout = {
    kind: 'in-process',
    publish: (_topic, payload) => published.push(JSON.parse(payload) as Envelope),
    subscribe: () => undefined,
    close: () => Promise.resolve(),
  };
  const events = createEventBus(api.t.logger);
  const producer = new RoomEventProducer({
    db: api.t.db,
    events,
    fanout,
    logger: api.t.logger,
    nodeId: 'test-node',
    deliverLocal: (_envelope, dataJson) => local.push(dataJson),
  });
  return { statements, published, local, events, producer, off };
}

async function dmWithMessage(prefix: string) {
  const a = await api.register(`${prefix}_a`);
  const b = await api.register(`${prefix}_b`);
  const res = await api.call({
    method: 'POST',
    url: '/api/v1/conversations',
    token: a.token,
    payload: { user_ids: [b.user.id] },
  });
  expect(res.statusCode).toBe(201);
  const conversationId = res.json<{ id: string }>().id;
  const send = async (content: string) => {
    const r = await api.call({
      method: 'POST',
      url: `/api/v1/conversations/${conversationId}/messages`,
      token: a.token,
      payload: { content },
    });
    expect(r.statusCode).toBe(201);
    return r.json<{ id: string }>().id;
  };
  return { a, b, conversationId, send };
}

const created = (conversationId: string, messageId: string, senderId: string): DomainEvent => ({
  type: 'message.created',
  location: 'conversation',
  containerId: conversationId,
  messageId,
  senderId,
});

describe('room event producer', () => {
  it('costs three statements for a DM message: two reads and one append for both events', async () => {
    const { a, b, conversationId, send } = await dmWithMessage('prod_cost');
    const messageId = await send('counted');
    const notification = await api.t.db
      .selectFrom('notifications')
      .select(['id', 'type'])
      .where('user_id', '=', b.user.id)
      .orderBy('inserted_at', 'desc')
      .executeTakeFirstOrThrow();
    await api.app.gateway.drain(); // the app's own producer is done with the send

    const { statements, published, local, events, producer, off } = counted();
    // What the send publishes after its commit, in its order.
    events.publish(notificationCreated({ id: notification.id, userId: b.user.id, type: notification.type }));
    events.publish(created(conversationId, messageId, a.user.id));
    await producer.drain();
    producer.stop();
    off();

    // The message view, the notification, and ONE append numbering both events.
    expect(statements).toEqual(['select', 'select', 'with']);
    expect(published.map((e) => [e.type, e.room])).toEqual([
      ['notification.created', `user:${b.user.id}`],
      ['message.created', `conversation:${conversationId}`],
    ]);
    expect(published[1]).toMatchObject({ data: { id: messageId, content: 'counted' }, actor: a.user.id });
    expect(published[1]!.position).toBeGreaterThan(published[0]!.position!);
    // Each event's data was serialised once and shared by the local frame and the fan-out.
    expect(local.map((json) => JSON.parse(json) as unknown)).toEqual(published.map((e) => e.data));
  });

  it('takes the view its local publisher built instead of reading the message back', async () => {
    const { a, conversationId, send } = await dmWithMessage('prod_built');
    const messageId = await send('built here');
    await api.app.gateway.drain();
    const view = (await findMessageView(api.t.db, CONVERSATION, conversationId, messageId, a.user.id))!;

    const { statements, published, events, producer, off } = counted();
    events.publish(withBuiltView(created(conversationId, messageId, a.user.id), view));
    await producer.drain();
    producer.stop();
    off();

    expect(statements).toEqual(['with']); // the append alone
    expect(published[0]!.data).toEqual({ ...view, conversation_id: conversationId });
    // What crosses nodes is the event alone: the view is kept beside it, not in it.
    expect(JSON.parse(JSON.stringify(withBuiltView(created(conversationId, messageId, a.user.id), view)))).toEqual(
      created(conversationId, messageId, a.user.id),
    );
  });

  it('the views a send publishes equal what the gateway would read back (message and notification)', async () => {
    const { a, b, conversationId } = await dmWithMessage('prod_views');
    const published: DomainEvent[] = [];
    const bus = createEventBus(api.t.logger);
    bus.subscribe((event) => published.push(event));
    const sender = { id: a.user.id, username: a.user.username, display_name: null, avatar_url: null };
    // A reply and a mention of b: the notification is the most specific kind, with data.
    const first = await sendMessage(api.t.db, bus, sender, conversationId, { content: 'first' });
    published.length = 0;
    await sendMessage(api.t.db, bus, sender, conversationId, { content: `hi @${b.user.username}`, reply_to_id: first.id });
    const [notification, message] = published as [
      Extract<DomainEvent, { type: 'notification.created' }>,
      Extract<DomainEvent, { type: 'message.created' }>,
    ];
    expect([notification.type, message.type]).toEqual(['notification.created', 'message.created']);
    const row = await findNotification(api.t.db, b.user.id, notification.notificationId);
    expect(builtView(notification)).toEqual(notificationView(row!));
    expect(builtView(message)).toEqual(await findMessageView(api.t.db, CONVERSATION, conversationId, message.messageId, a.user.id));
  });

  it('numbers several events of one room in one statement, gap-free and in publication order', async () => {
    const { a, conversationId, send } = await dmWithMessage('prod_batch');
    const ids = [await send('one'), await send('two'), await send('three')];
    const room = `conversation:${conversationId}`;
    await api.app.gateway.drain(); // the app's own producer numbers these sends first
    const before = await api.t.db
      .selectFrom('gateway_room_sequences')
      .select('seq')
      .where('room', '=', room)
      .executeTakeFirst();
    const start = Number(before?.seq ?? 0);

    const { statements, published, events, producer, off } = counted();
    for (const id of ids) events.publish(created(conversationId, id, a.user.id));
    await producer.drain();
    producer.stop();
    off();

    expect(statements.filter((kind) => kind === 'with')).toHaveLength(1);
    expect(published.map((e) => (e.data as { id: string }).id)).toEqual(ids);
    expect(published.map((e) => e.room_seq)).toEqual([start + 1, start + 2, start + 3]);
    const positions = published.map((e) => e.position!);
    expect([...positions].sort((x, y) => x - y)).toEqual(positions);
    const stored = await api.t.db
      .selectFrom('gateway_events')
      .select(['position', 'room_seq'])
      .where('position', 'in', positions)
      .orderBy('position')
      .execute();
    expect(stored.map((r) => [Number(r.position), Number(r.room_seq)])).toEqual(
      published.map((e) => [e.position, e.room_seq]),
    );
  });
});

describe('envelope payloads', () => {
  const envelope: Envelope = {
    from: 'node',
    room: 'conversation:1',
    type: 'message.created',
    data: { content: 'a tricky ,"data": {"x":1} "quote" \\ and ünïcødé' },
    actor: 'u"ser',
    position: 7,
    room_seq: 3,
  };

  it('carries the serialised data as is, and reads back what was sent', () => {
    const dataJson = JSON.stringify(envelope.data);
    const payload = envelopePayload(envelope, dataJson);
    expect(JSON.parse(payload)).toEqual({ ...envelope, data_last: true });
    const read = parseEnvelopePayload(payload)!;
    expect(read.dataJson).toBe(dataJson);
    expect({ ...read.envelope, data: JSON.parse(read.dataJson) as unknown }).toEqual({ ...envelope, data_last: true });
    // The frame made from the spliced data is the frame made from the object.
    expect(eventFrame(read.envelope, 7, read.dataJson)).toBe(eventFrame(envelope, 7));
    expect(JSON.parse(eventFrame(envelope, 7))).toEqual({
      op: 'event',
      type: envelope.type,
      data: envelope.data,
      seq: 7,
      room: envelope.room,
      room_seq: 3,
    });
  });

  it('reads a plain JSON envelope (data not last) and refuses garbage', () => {
    const read = parseEnvelopePayload(JSON.stringify(envelope))!;
    expect(read.envelope).toEqual(envelope);
    expect(JSON.parse(read.dataJson)).toEqual(envelope.data);
    expect(parseEnvelopePayload('{"from":"x","data":')).toBeUndefined();
    expect(parseEnvelopePayload('not json')).toBeUndefined();
  });
});
