// Compile-once queries for hot paths. Building and compiling a Kysely query costs tens of
// microseconds of CPU per call (measured in bench/db.ts), which is most of what the layer
// adds over plain `pg`; executing an already compiled query costs nothing measurable.
// `prepare` builds the query once with placeholder values, keeps the SQL, and on each
// call only swaps the placeholders for the real parameters.
//
// Each prepared query's SQL is also a named (server-side) prepared statement: the pool's
// query wrapper (telemetry.ts) sends it by name, so every connection parses it once and
// PostgreSQL may then reuse a generic plan instead of planning each call. For a history
// page that halves the time at the database (planning was half of it). Statements are per
// connection; a migration that changes a table's columns needs a server restart (as it
// would for any code reading the new columns).
import { CompiledQuery, type Compilable, type Kysely } from 'kysely';
import type { DB } from './schema.ts';

const KEY = Symbol('cgraph.placeholder');

interface Placeholder {
  readonly [KEY]: string;
}

function isPlaceholder(value: unknown): value is Placeholder {
  return typeof value === 'object' && value !== null && KEY in value;
}

const statementNames = new Map<string, string>();

/** The server-side statement name of a prepared query's SQL, if it is one. */
export function statementName(sql: string): string | undefined {
  return statementNames.get(sql);
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
    if (!statementNames.has(query.sql)) statementNames.set(query.sql, `cgraph_${statementNames.size + 1}`);
    return { sql: query.sql, slots };
  };

  return async (executor, params) => {
    compiled ??= compile(executor);
    const values = compiled.slots.map((slot) => (typeof slot === 'string' ? params[slot] : slot.value));
    const result = await executor.executeQuery<O>(CompiledQuery.raw(compiled.sql, values));
    return result.rows;
  };
}

/**
 * prepare() for a query with a few fixed shapes (a location's table names, a direction,
 * a sort): one prepared query per shape, built on first use. `key` names a shape (equal
 * keys, same query); `build` receives the shape beside the parameter stand-ins.
 */
export function prepareShapes<S, P extends Record<string, unknown>, O>(
  key: (shape: S) => string,
  build: (db: Kysely<DB>, params: P, shape: S) => Compilable<O>,
): (shape: S) => PreparedQuery<P, O> {
  const byKey = new Map<string, PreparedQuery<P, O>>();
  return (shape) => {
    const k = key(shape);
    let query = byKey.get(k);
    if (!query) {
      query = prepare((db, params: P) => build(db, params, shape));
      byKey.set(k, query);
    }
    return query;
  };
}
