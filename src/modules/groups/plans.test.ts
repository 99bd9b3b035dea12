// Every group request starts with one of the access loaders (permissions.ts) or the channel
// list's statement (channel-list.ts): prepared statements that must settle on their generic
// plans, not be planned per request. With `is_default = $n` (true as a parameter) the
// generic plan could not use @everyone's partial index, looked dearer than the custom
// plans, and PostgreSQL planned every call: 0.76 ms a channel access load instead of 0.17
// at the benchmark's scale, 0.40 instead of 0.15 for a group.
import { sql } from 'kysely';
import { beforeAll, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';
import { listChannels } from './channel-list.ts';
import { loadChannelAccess, loadGroupAccess } from './permissions.ts';

const api = useTestApp();
type User = Awaited<ReturnType<typeof api.register>>;
let owner: User, amy: User;
let groupId = '';
let general = '';

beforeAll(async () => {
  [owner, amy] = (await Promise.all(['gp_owner', 'gp_amy'].map((n) => api.register(n)))) as [User, User];
  const call = (method: 'GET' | 'POST', url: string) => api.call({ method, url: `/api/v1${url}`, token: owner.token });
  groupId = (await api.call({ method: 'POST', url: '/api/v1/groups', token: owner.token, payload: { name: 'Planned' } })).json().id;
  const code = (await call('POST', `/groups/${groupId}/invite`)).json().invite_code;
  expect((await api.call({ method: 'POST', url: `/api/v1/invites/${code}`, token: amy.token })).statusCode).toBe(200);
  general = (await call('GET', `/groups/${groupId}/channels`)).json().data[0].id;
  // 300 more groups of 11 roles, one of them @everyone: the statistics of real data, in
  // which @everyone is a small share of the roles.
  await sql`INSERT INTO groups (name, owner_id) SELECT 'planned ' || g, ${owner.user.id}::uuid FROM generate_series(1, 300) AS g`.execute(api.t.db);
  await sql`INSERT INTO roles (group_id, name, position, is_default)
            SELECT g.id, CASE WHEN k = 0 THEN '@everyone' ELSE 'role ' || k END, k, k = 0
            FROM groups g CROSS JOIN generate_series(0, 10) AS k WHERE g.id <> ${groupId}::uuid`.execute(api.t.db);
  await sql`ANALYZE groups, roles, group_members, channels`.execute(api.t.db);
});

it('the access loaders and the channel list settle on their generic plans after their first runs', async () => {
  // One connection: each pooled connection holds its own prepared statements.
  const plans = await api.t.db.connection().execute(async (conn) => {
    for (let i = 0; i < 8; i++) {
      for (const user of [owner, amy]) {
        expect((await loadGroupAccess(conn, groupId, user.user.id))?.memberId).toBeTruthy();
        expect((await loadChannelAccess(conn, general, user.user.id))?.channel.id).toBe(general);
        expect((await listChannels(conn, user.user.id, groupId)).size).toBeGreaterThan(0);
      }
    }
    return (
      await sql<{ generic: number; custom: number }>`SELECT generic_plans::int AS generic, custom_plans::int AS custom
        FROM pg_prepared_statements WHERE statement LIKE '%e.group_id = g.id AND e.is_default%' ORDER BY statement`.execute(conn)
    ).rows;
  });
  // Three statements, of 16 runs each here (the connection may have served the set-up
  // too). PostgreSQL's rule: five custom plans, then the generic one whenever it costs no
  // more than they did on average.
  expect(plans).toHaveLength(3);
  for (const plan of plans) {
    expect(plan.custom).toBe(5);
    expect(plan.generic).toBeGreaterThanOrEqual(11);
  }
});
