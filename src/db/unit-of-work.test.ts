import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/db.ts';
import { newId } from '../lib/ids.ts';
import { cast, persist } from './changeset.ts';
import type { Db } from './database.ts';
import { UnitOfWork, fail, transaction } from './unit-of-work.ts';

const t = useTestDatabase();

function insertUser(db: Db, username: string, email = `${username}@example.com`) {
  return db
    .insertInto('users')
    .values({ id: newId(), username, email, password_hash: 'x' })
    .returning(['id', 'username'])
    .executeTakeFirstOrThrow();
}

async function usernames(): Promise<string[]> {
  const rows = await t.db.selectFrom('users').select('username').orderBy('username').execute();
  return rows.map((row) => row.username);
}

/** Reads through a connection of its own, outside the pool the unit of work used. */
async function visibleElsewhere(username: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: t.url });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM users WHERE username = $1', [username]);
    return rowCount === 1;
  } finally {
    await client.end();
  }
}

describe('UnitOfWork', () => {
  it('runs named steps in order, each seeing the results so far, then runs afterCommit', async () => {
    const events: string[] = [];
    let seenFromOutside: boolean | undefined;
    const outcome = await UnitOfWork.new()
      .step('owner', (trx) => insertUser(trx, 'uow_owner'))
      .step('forum', async (trx, { owner }, { afterCommit }) => {
        const forum = await trx
          .insertInto('forums')
          .values({ id: newId(), name: 'UoW', slug: 'uow', owner_id: owner.id })
          .returning(['id', 'owner_id'])
          .executeTakeFirstOrThrow();
        afterCommit(async () => {
          seenFromOutside = await visibleElsewhere('uow_owner');
          events.push(`forum created ${forum.id}`);
        });
        return forum;
      })
      .step('count', async (trx, { forum }) => {
        events.push('count step ran');
        const row = await trx
          .selectFrom('forums')
          .where('owner_id', '=', forum.owner_id)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow();
        return Number(row.n);
      })
      .run(t.db);

    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.results.owner.username).toBe('uow_owner');
    expect(outcome.results.forum.owner_id).toBe(outcome.results.owner.id);
    expect(outcome.results.count).toBe(1);
    expect(outcome.afterCommitErrors).toEqual([]);
    // The callback ran after the step that registered it and after the commit: another
    // connection already saw the row.
    expect(events).toEqual(['count step ran', `forum created ${outcome.results.forum.id}`]);
    expect(seenFromOutside).toBe(true);
  });

  it('a step failing with a value rolls back every earlier step and runs no afterCommit', async () => {
    const before = await usernames();
    let callbackRan = false;
    const outcome = await UnitOfWork.new()
      .step('first', (trx) => insertUser(trx, 'rollback_one'))
      .step('second', async (trx, _results, { afterCommit }) => {
        afterCommit(() => {
          callbackRan = true;
        });
        return insertUser(trx, 'rollback_two');
      })
      .step('third', async (trx) => {
        const taken = await trx
          .selectFrom('users')
          .where('username', '=', 'rollback_one')
          .select('id')
          .executeTakeFirst();
        return taken ? fail({ reason: 'quota_exceeded' as const }) : 'unreachable';
      })
      .step('fourth', () => Promise.resolve('never runs'))
      .run(t.db);

    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.failedStep).toBe('third');
    expect(outcome.error).toEqual({ reason: 'quota_exceeded' });
    expect(Object.keys(outcome.resultsSoFar)).toEqual(['first', 'second']);
    expect(outcome.resultsSoFar.first?.username).toBe('rollback_one');
    expect(await usernames()).toEqual(before);
    expect(callbackRan).toBe(false);
  });

  it('a changeset failing inside a step (unique violation) aborts the unit with its field errors', async () => {
    await insertUser(t.db, 'taken_name');
    const outcome = await UnitOfWork.new()
      .step('forum_owner', (trx) => insertUser(trx, 'would_be_owner'))
      .step('user', async (trx) => {
        const changeset = cast({}, { username: 'taken_name' }, { username: 'string' }).uniqueConstraint(
          'username',
          {
            name: 'users_username_index',
          },
        );
        const result = await persist(changeset, (changes) =>
          insertUser(trx, changes.username!, 'fresh@example.com'),
        );
        return result.ok ? result.value : fail(result.errors);
      })
      .run(t.db);
    expect(outcome).toMatchObject({
      ok: false,
      failedStep: 'user',
      error: { username: ['has already been taken'] },
    });
    expect(await usernames()).not.toContain('would_be_owner');
  });

  it('a step that throws rolls back and the exception propagates', async () => {
    const unit = UnitOfWork.new()
      .step('user', (trx) => insertUser(trx, 'thrown_away'))
      .step('boom', () => Promise.reject(new Error('boom')));
    await expect(unit.run(t.db)).rejects.toThrow('boom');
    expect(await usernames()).not.toContain('thrown_away');
  });

  it('a failing afterCommit callback is reported without undoing the commit or skipping the others', async () => {
    const ran: string[] = [];
    const outcome = await UnitOfWork.new()
      .step('user', async (trx, _results, { afterCommit }) => {
        afterCommit(() => Promise.reject(new Error('mail server down')));
        afterCommit(() => void ran.push('second callback'));
        return insertUser(trx, 'committed_anyway');
      })
      .run(t.db);
    expect(outcome.ok).toBe(true);
    expect(outcome.ok && (outcome.afterCommitErrors[0] as Error).message).toBe('mail server down');
    expect(ran).toEqual(['second callback']);
    expect(await usernames()).toContain('committed_anyway');
  });

  it('refuses duplicate step names', () => {
    const unit = UnitOfWork.new().step('a', () => Promise.resolve(1));
    expect(() => unit.step('a' as never, () => Promise.resolve(2))).toThrow(/duplicate step "a"/);
  });
});

describe('transaction', () => {
  it('commits the value, or rolls back on fail(error)', async () => {
    const committed = await transaction(t.db, (trx) => insertUser(trx, 'tx_kept'));
    expect(committed.ok && committed.value.username).toBe('tx_kept');

    const rolledBack = await transaction(t.db, async (trx) => {
      await insertUser(trx, 'tx_dropped');
      return fail('changed my mind');
    });
    expect(rolledBack).toEqual({ ok: false, error: 'changed my mind' });
    expect(await usernames()).toContain('tx_kept');
    expect(await usernames()).not.toContain('tx_dropped');
  });

  it('refuses to nest inside an open transaction', async () => {
    await expect(
      t.db.transaction().execute((trx) => transaction(trx, () => Promise.resolve(1))),
    ).rejects.toThrow(/already inside a transaction/);
  });
});
