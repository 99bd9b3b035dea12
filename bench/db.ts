// `npm run bench -- db`: the data layer (Kysely over the instrumented pool, plus the
// keyset pagination helper) against plain `pg` doing the same statements, in the same
// process and run. Target: the layer costs at most 10 % over plain pg.
import { sql } from 'kysely';
import pg from 'pg';
import { keysetPage, encodeCursor } from '../src/db/pagination.ts';
import { newId } from '../src/lib/ids.ts';
import { prepare } from '../src/db/prepared.ts';
import { benchDatabase, compare, fmt, measure } from './lib.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 21);
const INSERTS_PER_ROUND = Number(process.env.BENCH_INSERTS ?? 500);
const PAGES_PER_ROUND = Number(process.env.BENCH_PAGES ?? 500);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200_000);
const CONCURRENCY = 8;

export async function run(): Promise<void> {
  const bench = await benchDatabase();
  const { db } = bench.database;
  const plain = new pg.Pool({ connectionString: bench.url, max: 10 });
  try {
    console.log(`db benchmark: ${ROUNDS} rounds, variants interleaved, median per variant`);

    // -- single-row insert --------------------------------------------------------------
    let n = 0;
    const user = () => {
      const i = n++;
      return { id: newId(), email: `u${i}@bench.test`, username: `bench_${i}`, password_hash: 'x', status: 'offline' as const };
    };
    const insertSql = 'INSERT INTO users (id, email, username, password_hash, status) VALUES ($1, $2, $3, $4, $5)';
    for (const concurrency of [1, CONCURRENCY]) {
      const results = await compare(ROUNDS, {
        layer: () => measure(INSERTS_PER_ROUND, concurrency, () => db.insertInto('users').values(user()).execute()),
        prepared: () => measure(INSERTS_PER_ROUND, concurrency, () => insertUser(db, user())),
        plain: () =>
          measure(INSERTS_PER_ROUND, concurrency, () => {
            const u = user();
            return plain.query(insertSql, [u.id, u.email, u.username, u.password_hash, u.status]);
          }),
      });
      report(`single-row insert, ${concurrency} concurrent`, results);
    }

    // -- 50-row keyset page ---------------------------------------------------------------
    const owner = await db.selectFrom('users').select('id').limit(1).executeTakeFirstOrThrow();
    const conversationId = newId();
    await db.insertInto('conversations').values({ id: conversationId, is_group: true, name: 'bench' }).execute();
    await sql`
      INSERT INTO messages (id, conversation_id, sender_id, content, type, seq, inserted_at)
      SELECT cgraph_uuid_v7(), ${conversationId}, ${owner.id}, 'message ' || g, 'text', g,
             now() - (${MESSAGES} - g) * interval '1 second'
      FROM generate_series(1, ${MESSAGES}) AS g`.execute(db);
    await sql`VACUUM ANALYZE messages`.execute(db);
    const ids = (
      await db.selectFrom('messages').select('id').where('conversation_id', '=', conversationId).orderBy('id').execute()
    ).map((r) => r.id);
    const randomId = () => ids[Math.floor(Math.random() * (ids.length - 100)) + 100]!;
    const pageSql = 'SELECT * FROM messages WHERE conversation_id = $1 AND id < $2 ORDER BY id DESC LIMIT 51';
    for (const concurrency of [1, CONCURRENCY]) {
      const results = await compare(ROUNDS, {
        layer: () =>
          measure(PAGES_PER_ROUND, concurrency, () =>
            keysetPage(db.selectFrom('messages').selectAll().where('conversation_id', '=', conversationId), {
              limit: 50,
              cursor: encodeCursor([randomId()]),
            }),
          ),
        prepared: () =>
          measure(PAGES_PER_ROUND, concurrency, () => historyPage(db, { conversationId, before: randomId(), limit: 51 })),
        plain: () => measure(PAGES_PER_ROUND, concurrency, () => plain.query(pageSql, [conversationId, randomId()])),
      });
      report(`50-row keyset page (${MESSAGES.toLocaleString('en-US')} messages), ${concurrency} concurrent`, results);
    }
  } finally {
    await plain.end();
    await bench.close();
  }
}

type Result = { rate: number; cpuUs: number };

function report(name: string, results: Record<string, Result>): void {
  const plain = results.plain!;
  console.log(`${name}:`);
  console.log(`  plain pg            ${fmt(plain.rate)}/s, ${plain.cpuUs.toFixed(0)} µs CPU/op`);
  for (const [variant, label] of [
    ['layer', 'layer (builder)'],
    ['prepared', 'layer (prepared)'],
  ] as const) {
    const r = results[variant]!;
    console.log(
      `  ${label.padEnd(19)} ${fmt(r.rate)}/s, ${r.cpuUs.toFixed(0)} µs CPU/op: ratio ${(r.rate / plain.rate).toFixed(3)}, ` +
        `costs ${((plain.rate / r.rate - 1) * 100).toFixed(1)} % over plain pg (target <= 10 %)`,
    );
  }
}

const insertUser = prepare((db, u: { id: string; email: string; username: string; password_hash: string; status: 'offline' }) =>
  db.insertInto('users').values({ id: u.id, email: u.email, username: u.username, password_hash: u.password_hash, status: u.status }),
);

const historyPage = prepare((db, p: { conversationId: string; before: string; limit: number }) =>
  db
    .selectFrom('messages')
    .selectAll()
    .where('conversation_id', '=', p.conversationId)
    .where('id', '<', p.before)
    .orderBy('id', 'desc')
    .limit(p.limit),
);
