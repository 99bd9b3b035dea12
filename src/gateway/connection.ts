// One socket: the handshake (identify or resume within a timeout), heartbeats, inbound
// size/rate limits, and the outbound buffer limit. What the connection may receive lives
// in `rooms` and `hidden`, kept current by the hub as domain events arrive.
import type { WebSocket } from 'ws';
import type { GatewayConfig } from '../config.ts';
import type { Logger } from '../lib/logger.ts';
import { CLOSE, clientFrame, type ClientFrame } from './protocol.ts';
import type { Room } from './rooms.ts';

export interface ConnectionHandlers {
  /** identify or resume: authenticates and subscribes; false closes with 4001. */
  start(connection: Connection, frame: Extract<ClientFrame, { op: 'identify' | 'resume' }>): Promise<boolean>;
  typing(connection: Connection, room: string): void;
  activity(connection: Connection): void;
  /** Once, when the socket closes (identified or not). */
  closed(connection: Connection): void;
}

const NONE: ReadonlySet<string> = new Set();

export class Connection {
  userId = '';
  sessionId = '';
  readonly rooms = new Set<Room>();
  /**
   * Users blocked by, or blocking, this user: their actions are not delivered. Usually
   * empty, so connections share one empty set until they need their own (memory per idle
   * connection is a budget: docs/gateway.md).
   */
  hidden: ReadonlySet<string> = NONE;
  /** The position of the last stored event sent (typing frames repeat it). */
  lastSeq = 0;
  state: 'handshake' | 'starting' | 'live' | 'closed' = 'handshake';
  /** Presence counted this connection (it got past starting). */
  counted = false;
  /** While a resume replays history, live events wait here (then go out in order). */
  held: Array<{ position: number | undefined; frame: string }> | undefined;
  /** Rooms left while the initial room list was loading: not to be re-added by it. */
  leftWhileStarting: Set<Room> | undefined;
  /** When this connection last sent typing, per room (created on first use). */
  typingAt: Map<string, number> | undefined;
  private alive = true;
  private frames = 0;
  private windowStart = Date.now();
  private readonly openedAt = Date.now();
  private lastPingAt = Date.now();
  private closedReported = false;

  constructor(
    readonly socket: WebSocket,
    private readonly config: GatewayConfig,
    private readonly handlers: ConnectionHandlers,
    private readonly logger: Logger,
  ) {
    socket.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    socket.on('pong', () => (this.alive = true));
    socket.on('close', () => this.onClose());
    socket.on('error', (error) => logger.debug({ err: error }, 'gateway socket error'));
    this.send(JSON.stringify({ op: 'hello', heartbeat_interval: config.heartbeatIntervalMs }));
  }

  /**
   * Called by the gateway's one timer (not a timer per connection: memory): the identify
   * timeout, and the heartbeat: a peer that neither sent anything nor answered our ping for
   * a whole interval is gone.
   */
  tick(now: number): void {
    if (this.state === 'closed') return;
    if (this.state === 'handshake' && now - this.openedAt >= this.config.identifyTimeoutMs) {
      return this.close(CLOSE.notAuthenticated, 'identify timeout');
    }
    if (now - this.lastPingAt < this.config.heartbeatIntervalMs) return;
    if (!this.alive) return this.close(CLOSE.heartbeatTimeout, 'heartbeat timeout', true);
    this.alive = false;
    this.lastPingAt = now;
    this.socket.ping();
  }

  setHidden(ids: Iterable<string>): void {
    const set = new Set(ids);
    this.hidden = set.size > 0 ? set : NONE;
  }

  hide(userId: string): void {
    this.setHidden([...this.hidden, userId]);
  }

  /**
   * Queues a frame. A consumer too slow to drain its buffer is cut off (terminated: a close
   * frame would only queue behind the backlog) instead of growing the server's memory.
   */
  send(frame: string): boolean {
    if (this.state === 'closed') return false;
    if (this.socket.bufferedAmount + frame.length > this.config.sendBufferBytes) {
      this.logger.info(
        { userId: this.userId, buffered: this.socket.bufferedAmount },
        'gateway: slow consumer disconnected',
      );
      this.close(4010, 'slow consumer', true);
      return false;
    }
    this.socket.send(frame);
    return true;
  }

  /**
   * Sends an event's frame, or holds it while the connection starts (a resume replays
   * first). Positions are handed out before commit, so events of different rooms may
   * arrive slightly out of position order: lastSeq is the highest sent, nothing is dropped
   * for being lower, and only what the replay already sent (`skip`) is skipped.
   */
  deliver(position: number | undefined, frame: string, skip?: ReadonlySet<number>): void {
    if (this.held) return void this.held.push({ position, frame });
    if (position !== undefined) {
      if (skip?.has(position)) return;
      if (position > this.lastSeq) this.lastSeq = position;
    }
    this.send(frame);
  }

  close(code: number, reason: string, terminate = false): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (terminate) this.socket.terminate();
    else this.socket.close(code, reason);
    this.onClose();
  }

  private onClose(): void {
    if (this.state !== 'closed') this.state = 'closed';
    if (!this.closedReported) {
      this.closedReported = true;
      this.handlers.closed(this);
    }
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    this.alive = true;
    if (this.state === 'closed') return;
    const now = Date.now();
    if (now - this.windowStart >= this.config.inboundWindowMs) {
      this.windowStart = now;
      this.frames = 0;
    }
    if (++this.frames > this.config.inboundFrames) return this.close(CLOSE.rateLimited, 'rate limited');
    let frame: ClientFrame;
    try {
      if (isBinary) throw new Error('binary frame');
      const parsed = clientFrame.safeParse(JSON.parse(data.toString('utf8')));
      if (!parsed.success) throw parsed.error;
      frame = parsed.data;
    } catch {
      // Before authentication anything unexpected is a failed handshake.
      return this.close(
        this.state === 'handshake' ? CLOSE.notAuthenticated : CLOSE.decodeError,
        'invalid frame',
      );
    }
    if (frame.op === 'heartbeat') return void this.send('{"op":"heartbeat_ack"}');
    if (frame.op === 'identify' || frame.op === 'resume') {
      if (this.state !== 'handshake') return this.close(CLOSE.alreadyAuthenticated, 'already authenticated');
      this.state = 'starting';
      this.handlers.start(this, frame).then(
        (ok) => {
          if (!ok) this.close(CLOSE.notAuthenticated, 'invalid token');
        },
        (error: unknown) => {
          this.logger.error({ err: error }, 'gateway: start failed');
          this.close(1011, 'internal error');
        },
      );
      return;
    }
    if (this.state !== 'live') return this.close(CLOSE.notAuthenticated, 'not authenticated');
    this.handlers.activity(this);
    this.handlers.typing(this, frame.room);
  }
}
