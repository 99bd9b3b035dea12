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

export function eventFrame(envelope: Envelope, seq: number): string {
  return JSON.stringify({
    op: 'event',
    type: envelope.type,
    data: envelope.data,
    seq,
    room: envelope.room,
    ...(envelope.room_seq !== undefined ? { room_seq: envelope.room_seq } : {}),
  });
}
