// The node's gateway: its live connections indexed by user, session and room; the bus
// subscriptions that keep each connection's rights current; the producer that turns this
// node's domain events into numbered room events; and delivery of room events arriving
// over the fan-out from any node.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { WebSocket } from 'ws';
import type { GatewayConfig } from '../config.ts';
import type { Db } from '../db/database.ts';
import type { DomainEvent, EventBus } from '../events/bus.ts';
import type { Logger } from '../lib/logger.ts';
import type { SessionAuthenticator } from '../modules/sessions/authenticator.ts';
import { Connection, type ConnectionHandlers } from './connection.ts';
import { TOPICS, type Fanout } from './fanout/transport.ts';
import { RoomEventProducer } from './producer.ts';
import {
  CLOSE,
  envelopePayload,
  eventFrame,
  parseEnvelopePayload,
  type ClientFrame,
  type Envelope,
} from './protocol.ts';
import { replay, startingPoint } from './resume.ts';
import { parseRoom, room as roomOf, type Room, type RoomKind, type RoomRegistry } from './rooms.ts';

/** What the presence tracker needs to hear (src/gateway/presence.ts). */
export interface PresenceHooks {
  connected(userId: string): void;
  disconnected(userId: string): void;
  active(userId: string): void;
}

export interface GatewayDeps {
  db: Db;
  events: EventBus;
  fanout: Fanout;
  authenticator: SessionAuthenticator;
  config: GatewayConfig;
  logger: Logger;
  registry: RoomRegistry;
}

export class Gateway implements ConnectionHandlers {
  readonly nodeId = randomUUID();
  private readonly byUser = new Map<string, Set<Connection>>();
  private readonly bySession = new Map<string, Set<Connection>>();
  /**
   * Each room's local members. The entry's `name` is the one copy of the room's string that
   * every member's `rooms` holds: in a group of 1 000 online members each holds 999 presence
   * rooms, and a string per membership was most of the memory per idle connection.
   */
  private readonly byRoom = new Map<Room, { name: Room; members: Set<Connection> }>();
  private readonly producer: RoomEventProducer;
  private readonly unsubscribe: Array<() => void> = [];
  /** Bumped per user on every removal, so a room reload racing with it starts over. */
  private readonly generations = new Map<string, number>();
  presence: PresenceHooks | undefined;

  private readonly sessionTimer: NodeJS.Timeout;
  /** Every open socket, authenticated or not, for the one timer that drives them all. */
  private readonly all = new Set<Connection>();
  private readonly ticker: NodeJS.Timeout;

  constructor(private readonly deps: GatewayDeps) {
    const { events, fanout, logger } = deps;
    this.sessionTimer = setInterval(() => {
      this.checkSessions().catch((error: unknown) => logger.warn({ err: error }, 'gateway: session check failed'));
    }, 60_000);
    this.sessionTimer.unref();
    const { identifyTimeoutMs, heartbeatIntervalMs } = deps.config;
    this.ticker = setInterval(
      () => {
        const now = Date.now();
        for (const c of this.all) c.tick(now);
      },
      Math.max(25, Math.min(1000, identifyTimeoutMs / 4, heartbeatIntervalMs / 4)),
    );
    this.ticker.unref();
    this.unsubscribe.push(events.subscribe((event) => this.onDomainEvent(event)));
    this.producer = new RoomEventProducer({
      ...deps,
      nodeId: this.nodeId,
      deliverLocal: (envelope, dataJson) => this.deliver(envelope, dataJson),
    });
    fanout.subscribe(TOPICS.gateway, (payload) => {
      const received = parseEnvelopePayload(payload);
      if (!received) return logger.warn('gateway: ignored a malformed envelope');
      if (received.envelope.from !== this.nodeId) this.deliver(received.envelope, received.dataJson);
    });
  }

  accept(socket: WebSocket): Connection {
    const connection = new Connection(socket, this.deps.config, this, this.deps.logger);
    this.all.add(connection);
    return connection;
  }

  /** Connections open on this node (for tests and metrics). */
  get connectionCount(): number {
    let n = 0;
    for (const set of this.byUser.values()) n += set.size;
    return n;
  }

  /** The rooms of a user's first connection on this node (tests, diagnostics). */
  roomsOf(userId: string): Room[] {
    const first = this.byUser.get(userId)?.values().next().value;
    return first ? [...first.rooms] : [];
  }

  localConnections(userId: string): number {
    return this.byUser.get(userId)?.size ?? 0;
  }

  /** Waits until every room event produced so far on this node is stored and sent. */
  drain(): Promise<void> {
    return this.producer.drain();
  }

  /**
   * Sessions end by revocation (an event, handled at once) or by running out: every minute
   * ONE statement finds which of this node's sessions still exist and have not expired,
   * closes the sockets of the others (4001), and marks the live ones active (a user on the
   * gateway is using the session, so it must not lapse for idleness meanwhile).
   */
  async checkSessions(): Promise<void> {
    const ids = [...this.bySession.keys()];
    if (ids.length === 0) return;
    const { rows } = await sql<{ id: string }>`
      WITH live AS (SELECT id FROM sessions WHERE id = ANY(${ids}::uuid[]) AND expires_at > now()),
           touched AS (
             UPDATE sessions SET last_active_at = now()
              WHERE id IN (SELECT id FROM live) AND last_active_at < now() - interval '1 minute'
           )
      SELECT id FROM live
    `.execute(this.deps.db);
    const live = new Set(rows.map((r) => r.id));
    for (const id of ids) {
      if (live.has(id)) continue;
      for (const c of [...(this.bySession.get(id) ?? [])]) c.close(CLOSE.notAuthenticated, 'session expired');
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sessionTimer);
    clearInterval(this.ticker);
    this.closeSockets();
    for (const off of this.unsubscribe) off();
    this.producer.stop();
    await this.drain();
  }

  /** Shutdown: every socket is told to reconnect (and resume) elsewhere. */
  closeSockets(): void {
    for (const c of [...this.all]) c.close(CLOSE.goingAway, 'server shutting down');
  }

  // -- connection lifecycle ---------------------------------------------------------------

  async start(
    connection: Connection,
    frame: Extract<ClientFrame, { op: 'identify' | 'resume' }>,
  ): Promise<boolean> {
    const { db, authenticator, registry, config } = this.deps;
    const auth = await authenticator.authenticate(frame.token);
    if (!auth) return false;
    if (connection.state === 'closed') return true;
    connection.userId = auth.user.id;
    connection.sessionId = auth.sessionId;
    // Indexed before the rooms load, so membership changes and revocations arriving
    // meanwhile apply; events wait in `held` until the connection is ready.
    connection.held = [];
    index(this.byUser, auth.user.id, connection);
    index(this.bySession, auth.sessionId, connection);
    const [rooms, hidden] = await Promise.all([
      registry.roomsOf(db, auth.user.id),
      hiddenUsers(db, auth.user.id),
    ]);
    if (isClosed(connection)) return true;
    for (const r of rooms) if (!connection.leftWhileStarting?.has(r)) this.join(connection, r);
    connection.leftWhileStarting = undefined;
    connection.setHidden(hidden);
    connection.state = 'live';
    connection.counted = true;
    this.presence?.connected(auth.user.id);

    const replayedPositions = new Set<number>();
    if (frame.op === 'identify') {
      const start = await startingPoint(db, auth.user.id);
      if (isClosed(connection)) return true;
      connection.lastSeq = start.position;
      connection.send(
        JSON.stringify({
          op: 'ready',
          seq: connection.lastSeq,
          session_id: auth.sessionId,
          user: { id: auth.user.id, username: auth.user.username },
          rooms: [...connection.rooms],
          // Friends' statuses, as `presence.updated` would tell them: only those whose
          // presence room the connection is in, never a blocked user's.
          presences: start.presences.filter(
            (p) => connection.rooms.has(roomOf('presence', p.user_id)) && !connection.hidden.has(p.user_id),
          ),
        }),
      );
    } else {
      const result = await replay(db, [...connection.rooms], frame.last_seq, config.resumeMaxEvents);
      if (result.kind === 'resync') {
        connection.lastSeq = result.position;
        connection.send(
          JSON.stringify({
            op: 'resync',
            seq: result.position,
            session_id: auth.sessionId,
            rooms: [...connection.rooms],
          }),
        );
      } else {
        connection.lastSeq = frame.last_seq;
        let replayed = 0;
        for (const e of result.events) {
          replayedPositions.add(e.position);
          if (!connection.rooms.has(e.room as Room) || (e.actor_id && connection.hidden.has(e.actor_id)))
            continue;
          connection.send(
            eventFrame(
              { from: '', room: e.room, room_seq: e.room_seq, type: e.type, data: e.data },
              e.position,
            ),
          );
          connection.lastSeq = e.position;
          replayed += 1;
        }
        connection.send(
          JSON.stringify({ op: 'resumed', seq: connection.lastSeq, replayed, session_id: auth.sessionId }),
        );
      }
    }
    const held = connection.held;
    connection.held = undefined;
    for (const h of held) connection.deliver(h.position, h.frame, replayedPositions);
    return true;
  }

  closed(connection: Connection): void {
    this.all.delete(connection);
    if (connection.userId === '') return; // closed before identify: indexed nowhere else
    unindex(this.byUser, connection.userId, connection);
    unindex(this.bySession, connection.sessionId, connection);
    if (!this.byUser.has(connection.userId)) this.generations.delete(connection.userId);
    for (const r of connection.rooms) this.unindexRoom(r, connection);
    connection.rooms.clear();
    // Only connections presence counted (one closed while starting never was).
    if (connection.counted) this.presence?.disconnected(connection.userId);
  }

  activity(connection: Connection): void {
    this.presence?.active(connection.userId);
  }

  /** Client typing: to the room's other members, never stored, at most one per interval per room. */
  typing(connection: Connection, requested: string): void {
    const target = this.resolveRoom(connection, requested);
    if (!target)
      return void connection.send(
        JSON.stringify({ op: 'error', code: 'not_found', message: 'no such room', room: requested }),
      );
    const now = Date.now();
    connection.typingAt ??= new Map();
    if (now - (connection.typingAt.get(target) ?? -Infinity) < this.deps.config.typingIntervalMs) return;
    connection.typingAt.set(target, now);
    const { kind, id } = parseRoom(target)!;
    const envelope: Envelope = {
      from: this.nodeId,
      room: target,
      type: 'typing',
      data: {
        room: target,
        user_id: connection.userId,
        [`${kind}_id`]: id,
        timestamp: new Date(now).toISOString(),
      },
      actor: connection.userId,
      exclude: connection.userId,
    };
    const dataJson = JSON.stringify(envelope.data);
    this.deliver(envelope, dataJson);
    this.deps.fanout.publish(TOPICS.gateway, envelopePayload(envelope, dataJson));
  }

  /** `conversation:<id>`, `channel:<id>` or a bare id of either, if the connection is in it. */
  private resolveRoom(connection: Connection, requested: string): Room | undefined {
    const parsed = parseRoom(requested);
    if (parsed) {
      const r = roomOf(parsed.kind, parsed.id);
      return (parsed.kind === 'conversation' || parsed.kind === 'channel') && connection.rooms.has(r)
        ? r
        : undefined;
    }
    const id = requested.toLowerCase();
    for (const kind of ['conversation', 'channel'] as const)
      if (connection.rooms.has(roomOf(kind, id))) return roomOf(kind, id);
    return undefined;
  }

  // -- delivery ---------------------------------------------------------------------------

  /** `dataJson`: the data already serialised (by the producer; spliced into every frame). */
  private deliver(envelope: Envelope, dataJson?: string): void {
    const members = this.byRoom.get(envelope.room as Room)?.members;
    if (!members) return;
    const shared =
      envelope.position !== undefined ? eventFrame(envelope, envelope.position, dataJson) : undefined;
    for (const c of members) {
      if (c.userId === envelope.exclude) continue;
      if (envelope.actor && c.hidden.has(envelope.actor)) continue;
      c.deliver(envelope.position, shared ?? eventFrame(envelope, c.lastSeq, dataJson));
    }
  }

  private join(connection: Connection, r: Room): void {
    let entry = this.byRoom.get(r);
    if (!entry) this.byRoom.set(r, (entry = { name: r, members: new Set() }));
    connection.rooms.add(entry.name);
    entry.members.add(connection);
  }

  private leave(connection: Connection, r: Room): void {
    if (connection.state === 'starting') (connection.leftWhileStarting ??= new Set()).add(r);
    if (connection.rooms.delete(r)) this.unindexRoom(r, connection);
  }

  private unindexRoom(r: Room, connection: Connection): void {
    const entry = this.byRoom.get(r);
    if (!entry) return;
    entry.members.delete(connection);
    if (entry.members.size === 0) this.byRoom.delete(r);
  }

  // -- rights follow domain events (every node) --------------------------------------------

  /** Recomputes one kind of rooms for a user's connections on this node. */
  private async reloadRooms(kind: RoomKind, userId: string): Promise<void> {
    if (!this.byUser.has(userId)) return;
    // A removal that lands while the query runs may not be in its snapshot: query again.
    let generation: number;
    let ids: string[];
    do {
      generation = this.generations.get(userId) ?? 0;
      ids = await kind.initialRooms(this.deps.db, userId);
    } while (generation !== (this.generations.get(userId) ?? 0));
    const now = new Set(ids.map((id) => roomOf(kind.kind, id)));
    for (const c of this.byUser.get(userId) ?? []) {
      for (const r of [...c.rooms]) if (r.startsWith(`${kind.kind}:`) && !now.has(r)) this.leave(c, r);
      for (const r of now) if (!c.rooms.has(r)) this.join(c, r);
    }
  }

  private onDomainEvent(event: DomainEvent): void {
    const { registry, db, logger } = this.deps;
    if (event.type === 'sessions.revoked') {
      for (const id of event.sessionIds)
        for (const c of [...(this.bySession.get(id) ?? [])])
          c.close(CLOSE.notAuthenticated, 'session revoked');
      return;
    }
    for (const change of registry.membershipChanges(event)) {
      if (!change.join) this.generations.set(change.userId, (this.generations.get(change.userId) ?? 0) + 1);
      for (const c of this.byUser.get(change.userId) ?? []) {
        if (change.join) this.join(c, change.room);
        else this.leave(c, change.room);
      }
    }
    registry
      .reloads(event, { db, localUserIds: () => [...this.byUser.keys()] })
      .then((reloads) =>
        Promise.all(
          reloads.flatMap(({ kind, userIds }) => userIds.map((userId) => this.reloadRooms(kind, userId))),
        ),
      )
      .catch((error: unknown) => logger.error({ err: error }, 'gateway: room reload failed'));
    if (event.type === 'user.blocked' || event.type === 'user.unblocked') {
      const pair =
        event.type === 'user.blocked'
          ? [event.userId, event.blockedUserId]
          : [event.userId, event.unblockedUserId];
      if (event.type === 'user.blocked') {
        // At once, before any query: the block is certain, only an unblock needs a look.
        for (const c of this.byUser.get(pair[0]!) ?? []) c.hide(pair[1]!);
        for (const c of this.byUser.get(pair[1]!) ?? []) c.hide(pair[0]!);
      }
      for (const userId of pair) {
        if (!this.byUser.has(userId)) continue;
        hiddenUsers(db, userId)
          .then((hidden) => {
            for (const c of this.byUser.get(userId) ?? []) c.setHidden(hidden);
          })
          .catch((error: unknown) => logger.error({ err: error }, 'gateway: block reload failed'));
      }
    }
  }
}

/** Re-reads the state after an await (TypeScript narrows it as if it could not change). */
function isClosed(connection: Connection): boolean {
  return connection.state === 'closed';
}

function index<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function unindex<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}

/** Users this user blocked or was blocked by (either direction hides their actions). */
async function hiddenUsers(db: Db, userId: string): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    SELECT friend_id AS id FROM friendships WHERE user_id = ${userId} AND status = 'blocked'
    UNION
    SELECT user_id FROM friendships WHERE friend_id = ${userId} AND status = 'blocked'
  `.execute(db);
  return rows.map((r) => r.id);
}
