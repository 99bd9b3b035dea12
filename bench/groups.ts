// `npm run bench -- groups`: groups on demo data (src/modules/groups/demo.ts), over HTTP on
// loopback against the app served in this process. Figures:
//   1. permission resolution: GET /groups/:id/channels (every channel with the caller's
//      effective permissions and unread count) for a member holding roles in a group of
//      100 roles and 50 channels, p99 at 10 concurrent clients, beside GET /api/v1/me
//      (target p99 < 10 ms);
//   2. send in channels of 10 000-member groups: 50 concurrent senders, each in a channel
//      of their own, messages per second and p99, beside the same insert transaction with
//      plain pg (the DM targets: >= 40 % of it and >= 1 500 messages/s);
//   3. history page of 50 in the busiest channels, p99 with 20 readers, beside GET /health
//      (the DM target: p99 < 15 ms).
// BENCH_GROUPS_SCALE (default 0.1: 30 groups, 100 000 channel messages; the three large
// groups always have 10 000 members), BENCH_SECONDS (default 5) per timed phase.
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import pg from 'pg';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/lib/logger.ts';
import { newId } from '../src/lib/ids.ts';
import { hashPassword } from '../src/modules/accounts/password.ts';
import { writeGroupsDemo } from '../src/modules/groups/demo.ts';
import { loadChannelAccess, Permission } from '../src/modules/groups/permissions.ts';
import { benchDatabase, fmt, median, percentile } from './lib.ts';

const SCALE = Number(process.env.BENCH_GROUPS_SCALE ?? 0.1);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const USERS = 12_000;
const PASSWORD = 'bench password';

async function timed(seconds: number, workers: number, op: (worker: number, i: number) => Promise<void>) {
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; performance.now() < until; i++) {
        const t = performance.now();
        await op(w, i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { rate: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

const ms = (n: number) => `${n.toFixed(2)} ms`;

export async function run(): Promise<void> {
  const bench = await benchDatabase('cgraph_bench_groups');
  const { pool, db } = bench.database;
  const config = loadConfig({ NODE_ENV: 'production', DATABASE_URL: bench.url, LOG_LEVEL: 'warn', POOL_SIZE: '10', RATE_LIMIT_ENABLED: 'false', DB_CHECKOUT_WARN_MS: '1000' });
  const app = await buildApp({ config, database: bench.database, logger: createLogger('error') });
  try {
    console.log(`groups benchmark: scale ${SCALE}, ${USERS.toLocaleString('en-US')} users; ${availableParallelism()} cores, load ${loadavg()[0]!.toFixed(2)}`);
    const hash = await hashPassword(PASSWORD);
    await pool.query(
      `INSERT INTO users (username, email, password_hash, status) SELECT 'gb_' || g, 'gb_' || g || '@bench.invalid', $1, 'offline' FROM generate_series(1, $2::int) AS g`,
      [hash, USERS],
    );
    const client = await pool.connect();
    const demo = await writeGroupsDemo(client, SCALE, { largeMembers: 10_000 }).finally(() => client.release());
    console.log(
      `demo groups written in ${(demo.ms / 1000).toFixed(1)} s: ${demo.groups} groups (largest ${fmt(demo.largestGroupMembers)} members), ${fmt(demo.members)} memberships, ${fmt(demo.channelMessages)} channel messages`,
    );
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const login = async (username: string) => {
      const res = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: username, password: PASSWORD }) });
      if (!res.ok) throw new Error(`login ${username}: ${res.status}`);
      return ((await res.json()) as { token: string }).token;
    };
    const get = async (url: string, token?: string) => {
      const res = await fetch(`${base}${url}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
      await res.arrayBuffer();
    };

    // -- 1. channel list with effective permissions ------------------------------------------
    const big = (await pool.query<{ id: string }>(`SELECT id FROM groups WHERE name = 'Demo group 1'`)).rows[0]!;
    const member = (
      await pool.query<{ username: string; roles: number }>(
        `SELECT u.username, (SELECT count(*)::int FROM group_member_roles r WHERE r.group_member_id = m.id) AS roles
         FROM group_members m JOIN users u ON u.id = m.user_id JOIN groups g ON g.id = m.group_id
         WHERE m.group_id = $1 AND m.user_id <> g.owner_id ORDER BY roles DESC, m.id LIMIT 1`,
        [big.id],
      )
    ).rows[0]!;
    const shape = (await pool.query<{ roles: number; channels: number }>(
      `SELECT (SELECT count(*)::int FROM roles WHERE group_id = $1) AS roles, (SELECT count(*)::int FROM channels WHERE group_id = $1) AS channels`,
      [big.id],
    )).rows[0]!;
    const token = await login(member.username);
    await timed(1, 10, () => get(`/api/v1/groups/${big.id}/channels`, token)); // warm-up
    const me = await timed(SECONDS, 10, () => get('/api/v1/me', token));
    const list = await timed(SECONDS, 10, () => get(`/api/v1/groups/${big.id}/channels`, token));
    console.log(`\n1. channel list with effective permissions: a member with ${member.roles} roles, group of ${shape.roles} roles and ${shape.channels} channels, 10 clients`);
    console.log(`   GET /groups/:id/channels: p50 ${ms(list.p50)}, p99 ${ms(list.p99)}, ${fmt(list.rate)} req/s (target p99 < 10 ms) | baseline GET /me: p50 ${ms(me.p50)}, p99 ${ms(me.p99)}, ${fmt(me.rate)} req/s`);

    // -- 2. send ----------------------------------------------------------------------------
    // Text channels of the 10 000-member groups, each with a member allowed to send there.
    const candidates = (
      await pool.query<{ channel_id: string; user_id: string; username: string }>(
        `SELECT c.id AS channel_id, u.id AS user_id, u.username
         FROM channels c JOIN groups g ON g.id = c.group_id
         JOIN LATERAL (SELECT m.user_id FROM group_members m WHERE m.group_id = g.id AND m.user_id <> g.owner_id ORDER BY m.id OFFSET (c.position * 37) % 1000 LIMIT 1) m ON true
         JOIN users u ON u.id = m.user_id
         WHERE g.member_count >= 10000 AND c.type = 'text' ORDER BY c.group_id, c.position`,
      )
    ).rows;
    const senders: typeof candidates = [];
    for (const c of candidates) {
      if (senders.length === 50) break;
      const access = await loadChannelAccess(db, c.channel_id, c.user_id);
      if (access && (access.permissions & Permission.SEND_MESSAGES) !== 0 && !senders.some((s) => s.user_id === c.user_id)) senders.push(c);
    }
    const tokens = await Promise.all(senders.map((s) => login(s.username)));
    const http = () =>
      timed(SECONDS, senders.length, async (w, i) => {
        const res = await fetch(`${base}/api/v1/channels/${senders[w]!.channel_id}/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tokens[w]}`, 'content-type': 'application/json' },
          body: JSON.stringify({ content: `bench message ${i} from worker ${w}` }),
        });
        if (res.status !== 201) throw new Error(`send: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
      });
    const plain = new pg.Pool({ connectionString: bench.url, max: 10 });
    const direct = () =>
      timed(SECONDS, senders.length, async (w, i) => {
        const s = senders[w]!;
        const c = await plain.connect();
        try {
          await c.query('BEGIN');
          const bumped = await c.query<{ last_message_seq: string; last_message_at: Date }>(
            `UPDATE channels SET last_message_seq = last_message_seq + 1, last_message_at = clock_timestamp() WHERE id = $1 RETURNING last_message_seq, last_message_at`,
            [s.channel_id],
          );
          const { last_message_seq: seq, last_message_at: at } = bumped.rows[0]!;
          await c.query(
            `INSERT INTO channel_messages (id, channel_id, sender_id, content, type, seq, inserted_at, updated_at) VALUES ($1, $2, $3, $4, 'text', $5, $6, $6)
             ON CONFLICT (channel_id, sender_id, nonce) WHERE nonce IS NOT NULL DO NOTHING RETURNING id`,
            [newId(), s.channel_id, s.user_id, `direct message ${i} from worker ${w}`, seq, at],
          );
          await c.query(
            `INSERT INTO channel_read_states (channel_id, user_id, last_read_seq, last_read_at) VALUES ($1, $2, $3, now())
             ON CONFLICT (channel_id, user_id) DO UPDATE SET last_read_seq = greatest(channel_read_states.last_read_seq, excluded.last_read_seq), last_read_at = now()`,
            [s.channel_id, s.user_id, seq],
          );
          await c.query('COMMIT');
        } catch (error) {
          await c.query('ROLLBACK');
          throw error;
        } finally {
          c.release();
        }
      });
    await http();
    await direct();
    const rounds: Array<{ http: number; direct: number; p99: number }> = [];
    for (let r = 0; r < 3; r++) {
      const a = await http();
      const b = await direct();
      rounds.push({ http: a.rate, direct: b.rate, p99: a.p99 });
    }
    await plain.end();
    const sendRate = median(rounds.map((r) => r.http));
    const directRate = median(rounds.map((r) => r.direct));
    console.log(`\n2. send, ${senders.length} concurrent senders in channels of 10 000-member groups, 3 rounds of ${SECONDS} s`);
    console.log(`   POST /channels/:id/messages: ${fmt(sendRate)} messages/s (p99 ${ms(Math.max(...rounds.map((r) => r.p99)))})`);
    console.log(`   the same transaction, plain pg: ${fmt(directRate)} messages/s; ratio ${((sendRate / directRate) * 100).toFixed(1)} % (DM targets: >= 40 %, >= 1 500 messages/s)`);

    // -- 3. history -------------------------------------------------------------------------
    const busiest = (
      await pool.query<{ id: string; n: number; username: string }>(
        `SELECT c.id, c.last_message_seq::int AS n, u.username FROM channels c JOIN groups g ON g.id = c.group_id JOIN users u ON u.id = g.owner_id
         WHERE c.type <> 'voice' ORDER BY c.last_message_seq DESC LIMIT 20`,
      )
    ).rows;
    const readerTokens = await Promise.all(busiest.map((c) => login(c.username)));
    const anchors = await Promise.all(
      busiest.map(async (c) => (await pool.query<{ id: string }>(`SELECT id FROM channel_messages WHERE channel_id = $1 ORDER BY random() LIMIT 200`, [c.id])).rows.map((r) => r.id)),
    );
    const health = await timed(SECONDS, 20, () => get('/health'));
    const history = await timed(SECONDS, 20, async (w) => {
      const k = w % busiest.length;
      const pool = anchors[k]!;
      const query = Math.random() < 0.5 || pool.length === 0 ? '?limit=50' : `?limit=50&before=${pool[Math.floor(Math.random() * pool.length)]}`;
      await get(`/api/v1/channels/${busiest[k]!.id}/messages${query}`, readerTokens[k]);
    });
    console.log(`\n3. history page of 50, the ${busiest.length} busiest channels (${busiest[0]!.n}…${busiest.at(-1)!.n} messages), 20 readers`);
    console.log(`   GET /channels/:id/messages: p50 ${ms(history.p50)}, p99 ${ms(history.p99)}, ${fmt(history.rate)} pages/s (DM target p99 < 15 ms) | baseline GET /health: p50 ${ms(health.p50)}, p99 ${ms(health.p99)}`);
  } finally {
    await app.close();
    await bench.close();
  }
}
