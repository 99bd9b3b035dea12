// One process: a hub shared by whoever was built with it. Normally that is one node; tests
// hand the same hub to two apps to model two nodes without a broker.
import { dispatch, type Fanout } from './transport.ts';

export class InProcessHub {
  readonly handlers = new Map<string, Array<(payload: string) => void>>();
}

/** The process's default hub: the API and an in-process job worker share it. */
const processHub = new InProcessHub();

export function createInProcessFanout(
  hub = processHub,
  onError: (error: unknown) => void = () => undefined,
): Fanout {
  const mine: Array<[string, (payload: string) => void]> = [];
  return {
    kind: 'in-process',
    publish(topic, payload) {
      // Asynchronous like the real brokers, so code never comes to rely on re-entrancy.
      queueMicrotask(() => dispatch(hub.handlers.get(topic), payload, onError));
    },
    subscribe(topic, handler) {
      const list = hub.handlers.get(topic) ?? [];
      list.push(handler);
      hub.handlers.set(topic, list);
      mine.push([topic, handler]);
    },
    async close() {
      for (const [topic, handler] of mine) {
        const list = hub.handlers.get(topic);
        if (list)
          hub.handlers.set(
            topic,
            list.filter((h) => h !== handler),
          );
      }
      mine.length = 0;
    },
  };
}
