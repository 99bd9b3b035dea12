// The wire protocol (API.md "Realtime gateway"; docs/gateway.md lists every frame).
import { z } from 'zod';

export const CLOSE = {
  /** A frame that is not JSON or not a known op. */
  decodeError: 4002,
  /** No valid token: missing, bad, timed out before identify, revoked or expired later. */
  notAuthenticated: 4001,
  /** identify/resume sent twice on one connection. */
  alreadyAuthenticated: 4005,
  /** Over the inbound frame rate. */
  rateLimited: 4008,
  /** No frame and no pong within the heartbeat timeout. */
  heartbeatTimeout: 4009,
  /** The server is shutting down; reconnect (and resume) elsewhere. */
  goingAway: 1001,
} as const;

const token = z.string().min(1).max(512);

export const clientFrame = z.discriminatedUnion('op', [
  z.object({ op: z.literal('identify'), token }),
  z.object({
    op: z.literal('resume'),
    token,
    last_seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  }),
  z.object({ op: z.literal('heartbeat') }),
  z.object({ op: z.literal('typing'), room: z.string().min(1).max(100) }),
]);

export type ClientFrame = z.infer<typeof clientFrame>;

/** What travels between nodes on the gateway topic: a room event, stored or ephemeral. */
export interface Envelope {
  /** The node that produced it (it delivers locally at once and skips its own echo). */
  from: string;
  room: string;
  type: string;
  data: unknown;
  /** Global position in the resume buffer (the frame's `seq`); absent for ephemeral events. */
  position?: number;
  room_seq?: number;
  /** The user who caused it: connections of users who blocked them (or were blocked) skip it. */
  actor?: string | null;
  /** This user does not receive it (the typist does not hear their own typing). */
  exclude?: string;
}

/**
 * An event frame. `dataJson`, when the producer has it, is the data already serialised:
 * spliced in as is, so an event's data is serialised once however often it is sent.
 */
export function eventFrame(envelope: Envelope, seq: number, dataJson?: string): string {
  const json = dataJson ?? JSON.stringify(envelope.data);
  return (
    `{"op":"event","type":${JSON.stringify(envelope.type)}` +
    (json === undefined ? '' : `,"data":${json}`) +
    `,"seq":${seq},"room":${JSON.stringify(envelope.room)}` +
    (envelope.room_seq !== undefined ? `,"room_seq":${envelope.room_seq}` : '') +
    '}'
  );
}

const DATA_KEY = ',"data":';

/**
 * The envelope as it travels between nodes: its other fields, marked `data_last`, then the
 * data already serialised as the last key. A receiving node parses only the small head and
 * splices the data into its frames as is (parseEnvelopePayload), so no node parses or
 * re-serialises an event's data.
 */
export function envelopePayload(envelope: Envelope, dataJson: string): string {
  const { data: _data, ...meta } = envelope;
  return `${JSON.stringify({ ...meta, data_last: true }).slice(0, -1)}${DATA_KEY}${dataJson}}`;
}

/**
 * Reads a payload of envelopePayload (or a plain JSON envelope). The first `,"data":` is
 * the data key: inside a JSON string every `"` is escaped, so it cannot occur there.
 */
export function parseEnvelopePayload(payload: string): { envelope: Envelope; dataJson: string } | undefined {
  try {
    const at = payload.indexOf(DATA_KEY);
    if (at > 0 && payload.endsWith('}')) {
      const head = JSON.parse(`${payload.slice(0, at)}}`) as Envelope & { data_last?: boolean };
      if (head.data_last === true) return { envelope: head, dataJson: payload.slice(at + DATA_KEY.length, -1) };
    }
    const envelope = JSON.parse(payload) as Envelope;
    return { envelope, dataJson: JSON.stringify(envelope.data) };
  } catch {
    return undefined;
  }
}
