// Compile-once queries for hot paths. Building and compiling a Kysely query costs tens of
// microseconds of CPU per call (measured in bench/db.ts), which is most of what the layer
// adds over plain `pg`; executing an already compiled query costs nothing measurable.
// `prepare` builds the query once with placeholder values, keeps the SQL, and on each
// call only swaps the placeholders for the real parameters.
import { CompiledQuery, type Compilable, type Kysely } from 'kysely';
import type { DB } from './schema.ts';

const KEY = Symbol('cgraph.placeholder');

interface Placeholder {
  readonly [KEY]: string;
}

function isPlaceholder(value: unknown): value is Placeholder {
  return typeof value === 'object' && value !== null && KEY in value;
}

export type PreparedQuery<P, O> = (executor: Kysely<DB>, params: P) => Promise<O[]>;

/**
 * `build` receives stand-ins for the parameters and must use each of them only as a value
 * (in where, values, set, limit …), never to choose the shape of the query: the shape is
 * fixed at the first call. A parameter that ends up inlined in the SQL is refused.
 */
export function prepare<P extends Record<string, unknown>, O>(
  build: (db: Kysely<DB>, params: P) => Compilable<O>,
): PreparedQuery<P, O> {
  let compiled: { sql: string; slots: Array<string | { value: unknown }> } | undefined;

  const compile = (db: Kysely<DB>) => {
    const used = new Set<string>();
    const stand = new Proxy({} as P, {
      get: (_target, key) => {
        if (typeof key !== 'string') return undefined;
        used.add(key);
        return { [KEY]: key } satisfies Placeholder;
      },
    });
    const query = build(db, stand).compile();
    const slots = query.parameters.map((value) => (isPlaceholder(value) ? value[KEY] : { value }));
    for (const key of used) {
      if (!slots.includes(key)) throw new Error(`prepare: parameter "${key}" is not a query value (it was inlined or unused)`);
    }
    return { sql: query.sql, slots };
  };

  return async (executor, params) => {
    compiled ??= compile(executor);
    const values = compiled.slots.map((slot) => (typeof slot === 'string' ? params[slot] : slot.value));
    const result = await executor.executeQuery<O>(CompiledQuery.raw(compiled.sql, values));
    return result.rows;
  };
}
