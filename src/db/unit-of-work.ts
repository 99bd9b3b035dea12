// Units of work, after Ecto.Multi: named steps that run in one transaction, all or nothing.
// A step returns its value, or `fail(error)` to stop the unit and roll everything back
// (expected failures, such as a changeset's field errors, are values, not exceptions). A
// step that throws rolls back too and the exception propagates: that is a bug or an
// outage, not a result.
//
// Side effects that must not happen for work that never committed (domain events, emails,
// uploads) are registered with `afterCommit` and run only once the commit has succeeded.
import type { Transaction } from 'kysely';
import type { DB, Db } from './database.ts';

const FAILURE = Symbol('cgraph.failure');

export interface Failure<E> {
  readonly [FAILURE]: true;
  readonly error: E;
}

/** What a step (or a `transaction` body) returns to abort and roll back with `error`. */
export function fail<E>(error: E): Failure<E> {
  return { [FAILURE]: true, error };
}

function isFailure(value: unknown): value is Failure<unknown> {
  return typeof value === 'object' && value !== null && FAILURE in value;
}

export type AfterCommit = () => void | Promise<void>;

export interface TransactionContext {
  /** Runs `callback` after the transaction commits; never if it rolls back. */
  afterCommit: (callback: AfterCommit) => void;
}

/**
 * After a commit nothing can be undone, so a failing callback does not turn the result
 * into a failure: its error is reported here, and the other callbacks still run.
 */
export type TransactionResult<T, E> =
  { ok: true; value: T; afterCommitErrors: unknown[] } | { ok: false; error: E };

// Carries a step's failure out of Kysely's transaction callback, which rolls back on throw.
class Rollback extends Error {
  constructor(readonly failure: Failure<unknown>) {
    super('unit of work rolled back');
  }
}

/**
 * Ecto's Repo.transaction(fn): runs `body` in a transaction; returning `fail(error)`
 * rolls back and gives `{ ok: false, error }`.
 */
export async function transaction<T, E = never>(
  db: Db,
  body: (trx: Transaction<DB>, ctx: TransactionContext) => Promise<T | Failure<E>>,
): Promise<TransactionResult<T, E>> {
  // Kysely has no nested transactions: work that must join an open one takes its `trx`.
  if (db.isTransaction)
    throw new Error('transaction(): already inside a transaction; pass the work its trx instead');
  const callbacks: AfterCommit[] = [];
  let value: T;
  try {
    value = await db.transaction().execute(async (trx) => {
      const out = await body(trx, { afterCommit: (callback) => void callbacks.push(callback) });
      if (isFailure(out)) throw new Rollback(out);
      return out;
    });
  } catch (error) {
    if (error instanceof Rollback) return { ok: false, error: error.failure.error as E };
    throw error;
  }
  const afterCommitErrors: unknown[] = [];
  for (const callback of callbacks) {
    try {
      await callback();
    } catch (error) {
      afterCommitErrors.push(error);
    }
  }
  return { ok: true, value, afterCommitErrors };
}

export type StepFn<R, V, E> = (
  trx: Transaction<DB>,
  results: Readonly<R>,
  ctx: TransactionContext,
) => Promise<V | Failure<E>>;

export type UnitResult<R, E> =
  | { ok: true; results: R; afterCommitErrors: unknown[] }
  | { ok: false; failedStep: string; error: E; resultsSoFar: Partial<R> };

interface Step {
  name: string;
  run: StepFn<Record<string, unknown>, unknown, unknown>;
}

/**
 * Ecto.Multi: `UnitOfWork.new().step('user', …).step('profile', (trx, { user }) => …).run(db)`.
 * Each step sees the results of the steps before it, by name. Immutable: `step` returns a
 * new unit, so a shared prefix can be extended safely.
 */
export class UnitOfWork<R extends Record<string, unknown> = Record<never, never>, E = never> {
  private constructor(private readonly steps: readonly Step[]) {}

  static new(): UnitOfWork {
    return new UnitOfWork([]);
  }

  step<K extends string, V, E2 = never>(
    name: K extends keyof R ? never : K,
    run: StepFn<R, V, E2>,
  ): UnitOfWork<R & Record<K, V>, E | E2> {
    if (this.steps.some((step) => step.name === name))
      throw new Error(`unit of work: duplicate step "${name}"`);
    return new UnitOfWork([...this.steps, { name, run: run as unknown as Step['run'] }]);
  }

  async run(db: Db): Promise<UnitResult<R, E>> {
    const results: Record<string, unknown> = {};
    let failedStep = '';
    const outcome = await transaction(db, async (trx, ctx) => {
      for (const step of this.steps) {
        const value = await step.run(trx, results, ctx);
        if (isFailure(value)) {
          failedStep = step.name;
          return value;
        }
        results[step.name] = value;
      }
      return results;
    });
    if (outcome.ok) return { ok: true, results: results as R, afterCommitErrors: outcome.afterCommitErrors };
    return { ok: false, failedStep, error: outcome.error as E, resultsSoFar: results as Partial<R> };
  }
}
