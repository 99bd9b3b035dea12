// `npm run bench -- groups`: groups on demo data (src/modules/groups/demo.ts), against a real
// `cgraph serve` process on loopback (bench/server.ts), each figure beside a baseline
// measured in the same run:
//   1. permission resolution: GET /groups/:id/channels (every channel with the caller's
//      effective permissions and unread count) for a member holding roles in a group of
//      100 roles and 50 channels, with one client and with 10 concurrent clients, beside
//      GET /api/v1/me at the same concurrency (target p99 < 10 ms; the issue sets no
//      concurrency for it);
//   2. send in channels of 10 000-member groups: 50 concurrent senders over HTTP, each in a
//      channel of their own, against the same insert transaction (seq bump, insert, the
//      sender's read position) issued statement by statement with plain `pg` over a pool
//      the size of the server's (the DM targets: >= 40 % of it and >= 1 500 messages/s),
//      and against the app's own one-statement send (channelSendQuery) with plain `pg`;
//   3. history page of 50 in the busiest channels: p99 at the database (PostgreSQL's
//      execution time of the app's prepared statement, at-database.ts) beside a
//      primary-key lookup of one message (target < 5 ms), the same statements' round trip
//      from a Node pg client, and over HTTP with 20 readers beside GET /health at the same
//      concurrency (target < 15 ms).
// Each HTTP figure also gives the server process's CPU time per request (from /proc): on a
// shared machine latencies mostly measure the queue for the cores, CPU per request does not.
// HTTP phases and their baselines run interleaved for BENCH_ROUNDS rounds (default 3);
// figures are medians over rounds.
// BENCH_GROUPS_SCALE (default 0.1: 30 groups, 100 000 channel messages; the three large
// groups always have 10 000 members), BENCH_SECONDS (default 5) per timed phase,
// BENCH_SERVER_NODE_ARGS node flags for the server (e.g. `--cpu-prof --cpu-prof-dir=DIR`).
import { availableParallelism, loadavg } from 'node:os';
import pg from 'pg';
import { newId } from '../src/lib/ids.ts';
import { hashPassword } from '../src/modules/accounts/password.ts';
import { channelSendParams, channelSendQuery } from '../src/modules/groups/channel-send.ts';
import { writeGroupsDemo } from '../src/modules/groups/demo.ts';
import { loadChannelAccess, Permission } from '../src/modules/groups/permissions.ts';
import { channelAccessGuard } from '../src/modules/groups/channel-messages.ts';
import { CHANNEL } from '../src/modules/messaging/location.ts';
import { historyPageQuery } from '../src/modules/messaging/history.ts';
import { atDatabase, atDatabaseLines } from './at-database.ts';
import { benchDatabase, fmt, median, plainSendStatements, plainTransaction, settle } from './lib.ts';
import { cpuLine, HttpClient, interleavedRounds, line, onServer, startServer, summary, timed, type BenchServer, type Measured } from './server.ts';

const SCALE = Number(process.env.BENCH_GROUPS_SCALE ?? 0.1);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const USERS = 12_000;
const PASSWORD = 'bench password';
const POOL_SIZE = 10;
const LISTERS = 10;
const SENDERS = 50;
const READERS = 20;

const ms = (n: number) => `${n.toFixed(2)} ms`;
const interleaved = <K extends string>(variants: Record<K, () => Promise<Measured>>) => interleavedRounds(ROUNDS, variants);

export async function run(): Promise<void> {
  const bench = await benchDatabase('cgraph_bench_groups');
  const { pool, db } = bench.database;
  let server: BenchServer | undefined;
  let http: HttpClient | undefined;
  const plain = new pg.Pool({ connectionString: bench.url, max: POOL_SIZE });
  plain.on('error', () => undefined); // idle clients dropped with the database on failure
  try {
    console.log(`groups benchmark: scale ${SCALE}, ${USERS.toLocaleString('en-US')} users; ${availableParallelism()} cores, load ${loadavg()[0]!.toFixed(2)}`);
    const hash = await hashPassword(PASSWORD);
    await pool.query(
      `INSERT INTO users (username, email, password_hash, status) SELECT 'gb_' || g, 'gb_' || g || '@bench.invalid', $1, 'offline' FROM generate_series(1, $2::int) AS g`,
      [hash, USERS],
    );
    const demoClient = await pool.connect();
    const demo = await writeGroupsDemo(demoClient, SCALE, { largeMembers: 10_000 }).finally(() => demoClient.release());
    console.log(
      `demo groups written in ${(demo.ms / 1000).toFixed(1)} s: ${demo.groups} groups (largest ${fmt(demo.largestGroupMembers)} members), ${fmt(demo.members)} memberships, ${fmt(demo.channelMessages)} channel messages`,
    );
    const WRITTEN = ['users', 'groups', 'group_members', 'group_member_roles', 'roles', 'channels', 'channel_permission_overwrites', 'channel_messages', 'channel_read_states', 'notifications', 'gateway_events', 'gateway_room_sequences'];
    console.log(`settled (VACUUM ANALYZE, CHECKPOINT) in ${((await settle(pool, WRITTEN)) / 1000).toFixed(1)} s`);

    server = await startServer(bench.url, { POOL_SIZE: String(POOL_SIZE) });
    const client = (http = new HttpClient(server.base));
    const pid = server.pid;
    server.child.once('exit', (code, signal) => console.error(`the server exited (code ${code}, signal ${signal})`));
    const login = async (username: string) =>
      (await client.expect(200, 'POST', '/api/v1/auth/login', { body: { login: username, password: PASSWORD } })).json<{ token: string }>().token;
    const get = (url: string, token?: string) => client.expect(200, 'GET', url, { token }).then(() => undefined);

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
    const visible = (await client.expect(200, 'GET', `/api/v1/groups/${big.id}/channels`, { token })).json<{ data: unknown[] }>().data.length;
    const listPhase = () => onServer(pid, () => timed(SECONDS, LISTERS, () => get(`/api/v1/groups/${big.id}/channels`, token)));
    const mePhase = () => onServer(pid, () => timed(SECONDS, LISTERS, () => get('/api/v1/me', token)));
    await timed(1, LISTERS, () => get(`/api/v1/groups/${big.id}/channels`, token)); // warm-up
    // The issue sets no concurrency for this figure: one client (a request's own latency)
    // and LISTERS clients (under load), each beside the baseline at the same concurrency.
    const listOne = () => onServer(pid, () => timed(SECONDS, 1, () => get(`/api/v1/groups/${big.id}/channels`, token)));
    const meOne = () => onServer(pid, () => timed(SECONDS, 1, () => get('/api/v1/me', token)));
    const lists = await interleaved({ list: listPhase, me: mePhase, listOne, meOne });
    console.log(
      `\n1. channel list with effective permissions: a member with ${member.roles} roles, group of ${shape.roles} roles and ${shape.channels} channels (${visible} visible to them), ${ROUNDS} rounds of ${SECONDS} s`,
    );
    console.log(`   GET /groups/:id/channels, 1 client:  ${line(summary(lists.listOne))} (target p99 < 10 ms)`);
    console.log(`   baseline GET /api/v1/me, 1 client:   ${line(summary(lists.meOne))}`);
    console.log(`   GET /groups/:id/channels, ${LISTERS} clients: ${line(summary(lists.list))}`);
    console.log(`   baseline GET /api/v1/me, ${LISTERS} clients:  ${line(summary(lists.me))}`);
    console.log(`   the channel list at ${LISTERS} clients, ${cpuLine(summary(lists.list), LISTERS)}`);

    // -- 2. send ----------------------------------------------------------------------------
    // Text channels of the 10 000-member groups, each with a distinct member allowed to send
    // there (no two senders share a channel's row lock).
    const candidates = (
      await pool.query<{ channel_id: string; user_id: string; username: string }>(
        `SELECT c.id AS channel_id, u.id AS user_id, u.username
         FROM channels c JOIN groups g ON g.id = c.group_id
         JOIN LATERAL (SELECT m.user_id FROM group_members m WHERE m.group_id = g.id AND m.user_id <> g.owner_id ORDER BY m.id OFFSET (c.position * 37) % 1000 LIMIT 1) m ON true
         JOIN users u ON u.id = m.user_id
         WHERE g.member_count >= 10000 AND c.type = 'text' ORDER BY c.group_id, c.position`,
      )
    ).rows;
    const senders: Array<(typeof candidates)[number] & { accessVersion: number }> = [];
    for (const c of candidates) {
      if (senders.length === SENDERS) break;
      const access = await loadChannelAccess(db, c.channel_id, c.user_id);
      if (access && (access.permissions & Permission.SEND_MESSAGES) !== 0 && !senders.some((s) => s.user_id === c.user_id)) {
        senders.push({ ...c, accessVersion: access.access.accessVersion });
      }
    }
    const tokens = await Promise.all(senders.map((s) => login(s.username)));
    const overHttp = () =>
      onServer(pid, () =>
        timed(SECONDS, senders.length, async (w, i) => {
          await client.expect(201, 'POST', `/api/v1/channels/${senders[w]!.channel_id}/messages`, {
            token: tokens[w],
            body: { content: `bench message ${i} from worker ${w}` },
          });
        }),
      );
    // The issue's reference: the send transaction, statement by statement, with plain pg.
    const direct = () =>
      onServer(pid, () =>
        timed(SECONDS, senders.length, async (w, i) => {
          const s = senders[w]!;
          await plainTransaction(plain, async (c) => {
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
          });
        }),
      );
    // The app's own send statement (one round trip, compiled once per worker) with plain pg:
    // what the HTTP send would cost without Fastify, the access load and the gateway's work.
    // Sent by name, as the app sends its prepare()d statements (parsed once per connection).
    const sendPlain = plainSendStatements(plain, senders.length, (w, placeholder) =>
      channelSendQuery(
        channelSendParams({ containerId: senders[w]!.channel_id, senderId: senders[w]!.user_id, accessVersion: senders[w]!.accessVersion, content: placeholder, type: 'text' }),
      ).compile(db),
    );
    const single = () =>
      onServer(pid, () =>
        timed(SECONDS, senders.length, async (w, i) => {
          const result = await sendPlain(w, `single statement ${i} from worker ${w}`);
          if (!result.rows[0]?.id) throw new Error('single statement: nothing sent');
        }),
      );
    await overHttp(); // warm-up: connections, JIT, caches
    await direct();
    await single();
    const sends = await interleaved({ http: overHttp, direct, single });
    const send = summary(sends.http);
    const directRate = median(sends.direct.map((r) => r.rate));
    const singleRate = median(sends.single.map((r) => r.rate));
    console.log(`\n2. send, ${senders.length} concurrent senders in channels of 10 000-member groups, ${ROUNDS} rounds of ${SECONDS} s`);
    console.log(`   POST /channels/:id/messages: ${fmt(send.rate)} messages/s (rounds ${sends.http.map((r) => fmt(r.rate)).join(', ')}; p50 ${ms(send.p50)}, p99 ${ms(send.p99)}; server CPU ${send.cpu.toFixed(2)} ms/message)`);
    console.log(`   the same transaction, plain pg: ${fmt(directRate)} messages/s (rounds ${sends.direct.map((r) => fmt(r.rate)).join(', ')})`);
    console.log(`   ratio ${((send.rate / directRate) * 100).toFixed(1)} % (DM targets: >= 40 %, and >= 1 500 messages/s)`);
    console.log(`   the app's one send statement, plain pg: ${fmt(singleRate)} messages/s (rounds ${sends.single.map((r) => fmt(r.rate)).join(', ')}); HTTP send at ${((send.rate / singleRate) * 100).toFixed(1)} % of it`);
    console.log(`   HTTP send, ${cpuLine(send, senders.length)}`);
    console.log(`   plain-pg transaction, ${cpuLine(summary(sends.direct), senders.length)}`);

    // -- 3. history -------------------------------------------------------------------------
    await settle(pool, WRITTEN); // the send phase's rows
    const busiest = (
      await pool.query<{ id: string; n: number; username: string; user_id: string }>(
        `SELECT c.id, c.last_message_seq::int AS n, u.username, u.id AS user_id FROM channels c JOIN groups g ON g.id = c.group_id JOIN users u ON u.id = g.owner_id
         WHERE c.type <> 'voice' ORDER BY c.last_message_seq DESC LIMIT $1`,
        [READERS],
      )
    ).rows;
    const anchors = await Promise.all(
      // seq > 1: a page before the channel's first message would be empty.
      busiest.map(async (c) => (await pool.query<{ id: string }>(`SELECT id FROM channel_messages WHERE channel_id = $1 AND seq > 1 ORDER BY random() LIMIT 200`, [c.id])).rows.map((r) => r.id)),
    );
    const pick = <T>(items: T[]) => items[Math.floor(Math.random() * items.length)]!;
    // Half the pages are the newest, half start before a random message.
    const anchorFor = (k: number) => (Math.random() < 0.5 || anchors[k]!.length === 0 ? undefined : pick(anchors[k]!));
    // The app's page statement (historyPageQuery with the access-version guard, rendered as
    // JSON by PostgreSQL), sent by name as the app's prepare() sends it.
    const versions = await Promise.all(busiest.map(async (c) => (await loadChannelAccess(db, c.id, c.user_id))!.access.accessVersion));
    const statement = (w: number) => {
      const c = busiest[w % busiest.length]!;
      const anchor = anchorFor(w % busiest.length);
      const params = { containerId: c.id, viewerId: c.user_id, anchor, limit: 50, fetch: 51, guardArg: versions[w % busiest.length]! };
      const q = historyPageQuery(db, CHANNEL, 'older', anchor !== undefined, channelAccessGuard, params).compile();
      return { name: `history_${anchor !== undefined}`, text: q.sql, parameters: q.parameters };
    };
    const pkIds = anchors.flat();
    const atDb = await atDatabase(bench.url, ROUNDS, SECONDS, statement, () => ({ name: 'pk', text: `SELECT * FROM channel_messages WHERE id = $1`, parameters: [pick(pkIds)] }));
    const readerTokens = await Promise.all(busiest.map((c) => login(c.username)));
    const health = () => onServer(pid, () => timed(SECONDS, READERS, () => get('/health')));
    const history = () =>
      onServer(pid, () =>
        timed(SECONDS, READERS, async (w) => {
          const k = w % busiest.length;
          const anchor = anchorFor(k);
          await get(`/api/v1/channels/${busiest[k]!.id}/messages?limit=50${anchor ? `&before=${anchor}` : ''}`, readerTokens[k]);
        }),
      );
    await timed(1, READERS, async (w) => get(`/api/v1/channels/${busiest[w % busiest.length]!.id}/messages?limit=50`, readerTokens[w % busiest.length])); // warm-up
    const reads = await interleaved({ history, health });
    console.log(`\n3. history page of 50, the ${busiest.length} busiest channels (${busiest[0]!.n}…${busiest.at(-1)!.n} messages)`);
    for (const l of atDatabaseLines(atDb)) console.log(l);
    console.log(`   over HTTP, ${READERS} readers, GET /channels/:id/messages: ${line(summary(reads.history), 'pages/s')} (target p99 < 15 ms)`);
    console.log(`   baseline GET /health, ${READERS} clients: ${line(summary(reads.health))}`);
    console.log(`   history over HTTP, ${cpuLine(summary(reads.history), READERS)}`);
    console.log(`\nload average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } catch (error) {
    // Reported here: the cleanup below drops the database, and a pool still open would
    // otherwise crash on its terminated connections and hide this error.
    console.error('groups benchmark failed:', error);
    throw error;
  } finally {
    await plain.end();
    await http?.close();
    await server?.stop();
    await bench.close();
  }
}
