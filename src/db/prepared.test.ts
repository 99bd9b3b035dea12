import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { countQueries, useTestDatabase } from '../../test/db.ts';
import { newId } from '../lib/ids.ts';
import { prepare, prepareShapes } from './prepared.ts';

describe('prepare (compile-once queries)', () => {
  const t = useTestDatabase();

  const insertUser = prepare((db, p: { id: string; username: string; email: string }) =>
    db
      .insertInto('users')
      .values({ id: p.id, username: p.username, email: p.email, password_hash: 'x', status: 'offline' })
      .returning(['id', 'username']),
  );
  const byUsernames = prepare((db, p: { a: string; b: string; limit: number }) =>
    db.selectFrom('users').select(['username']).where('username', 'in', [p.a, p.b]).orderBy('username').limit(p.limit),
  );

  it('runs the same SQL with each call’s parameters, and constant values stay in place', async () => {
    const first = await insertUser(t.db, { id: newId(), username: 'alice', email: 'alice@example.com' });
    const second = await insertUser(t.db, { id: newId(), username: 'bob', email: 'bob@example.com' });
    expect(first[0]?.username).toBe('alice');
    expect(second[0]?.username).toBe('bob');
    const { result, queries } = await countQueries(t, () => byUsernames(t.db, { a: 'bob', b: 'alice', limit: 1 }));
    expect(result).toEqual([{ username: 'alice' }]);
    expect(queries).toEqual(['select "username" from "users" where "username" in ($1, $2) order by "username" limit $3']);
  });

  it('works inside a transaction and rolls back with it', async () => {
    await t.db
      .transaction()
      .execute(async (trx) => {
        await insertUser(trx, { id: newId(), username: 'carol', email: 'carol@example.com' });
        throw new Error('roll back');
      })
      .catch(() => undefined);
    expect(await byUsernames(t.db, { a: 'carol', b: 'carol', limit: 5 })).toEqual([]);
  });

  it('refuses a parameter that shapes the query instead of being a value', async () => {
    const inlined = prepare((db, p: { column: string }) =>
      db.selectFrom('users').select(sql.raw<string>(String(p.column)).as('x')),
    );
    await expect(inlined(t.db, { column: 'username' })).rejects.toThrow(/parameter "column" is not a query value/);
  });

  it('prepareShapes builds one prepared query per shape key, each with its own SQL', async () => {
    let builds = 0;
    const byColumn = prepareShapes(
      (column: 'username' | 'email') => column,
      (db, p: { value: string }, column) => {
        builds += 1;
        return db.selectFrom('users').select('id').where(column, '=', p.value);
      },
    );
    expect(byColumn('username')).toBe(byColumn('username'));
    expect(byColumn('email')).not.toBe(byColumn('username'));
    await byColumn('username')(t.db, { value: 'alice' });
    await byColumn('username')(t.db, { value: 'bob' });
    const { queries } = await countQueries(t, () => byColumn('email')(t.db, { value: 'alice@example.com' }));
    expect(builds).toBe(2); // once per shape, not per call
    expect(queries).toEqual(['select "id" from "users" where "email" = $1']);
  });
});
