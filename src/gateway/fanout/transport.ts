// The one cross-node transport. Both the domain-event bus (src/events/bus.ts: cache
// eviction, authorisation changes) and the gateway (room events for sockets) ride on it,
// each on its own topic, so there is a single mechanism to configure and operate.
// Delivery is at-most-once and fire-and-forget: a node that misses a gateway event leaves
// its clients to notice the gap (per-room sequence) and resume from the database buffer.
export type FanoutKind = 'in-process' | 'postgres' | 'redis';

export interface Fanout {
  readonly kind: FanoutKind;
  /** Sends to every node subscribed to the topic (this one included). Never throws. */
  publish(topic: string, payload: string): void;
  subscribe(topic: string, handler: (payload: string) => void): void;
  close(): Promise<void>;
}

/** Topics (channel names: PostgreSQL identifiers, so lower case, no punctuation but _). */
export const TOPICS = { events: 'cgraph_events', gateway: 'cgraph_gateway' } as const;

/** Calls every handler, isolating failures: one bad subscriber must not starve the others. */
export function dispatch(
  handlers: ReadonlyArray<(payload: string) => void> | undefined,
  payload: string,
  onError: (error: unknown) => void,
): void {
  for (const handler of handlers ?? []) {
    try {
      handler(payload);
    } catch (error) {
      onError(error);
    }
  }
}
