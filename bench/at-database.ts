// A statement "at the database": PostgreSQL's own execution time of the app's statement
// (executionTimes), beside the same statement's round trip from a Node `pg` client, each
// beside a baseline statement, in interleaved rounds on their own small pool. The
// messaging and groups suites measure their history pages with it.
import pg from 'pg';
import { percentile } from './lib.ts';
import { interleavedRounds, NO_SERVER, summary, timed, type Measured } from './server.ts';

export interface Statement {
  text: string;
  parameters: readonly unknown[];
}

/**
 * A statement's time inside PostgreSQL, without the network or the client: for `seconds`,
 * `EXPLAIN (ANALYZE, TIMING OFF) EXECUTE` of each statement `next` gives, prepared once per
 * text on one connection with SQL PREPARE (so after its first executions it runs the
 * generic plan, as the app's named statements do), reading PostgreSQL's Execution Time.
 * EXECUTE takes its arguments as literals (quoted by the driver): EXPLAIN accepts no bound
 * parameters. A round trip from a client adds the result's transfer and parsing, and that
 * client's own pauses (its garbage collector, the scheduler): on this 2-core machine those,
 * not the statement, make the tail of a Node client's timings.
 */
async function executionTimes(pool: pg.Pool, seconds: number, next: (i: number) => Statement): Promise<Measured> {
  const client = await pool.connect();
  const names = new Map<string, string>();
  const literal = (v: unknown) => {
    if (v === null || v === undefined) return 'NULL';
    if (typeof v === 'number' || typeof v === 'bigint') return String(v);
    if (typeof v === 'string') return client.escapeLiteral(v);
    throw new Error(`executionTimes: no literal for a parameter of type ${typeof v}`);
  };
  const times: number[] = [];
  try {
    const until = performance.now() + seconds * 1000;
    for (let i = 0; performance.now() < until; i++) {
      const s = next(i);
      let name = names.get(s.text);
      if (name === undefined) {
        names.set(s.text, (name = `bench_exec_${names.size}`));
        await client.query(`PREPARE ${name} AS ${s.text}`);
      }
      const { rows } = await client.query<{ 'QUERY PLAN': Array<{ 'Execution Time': number }> }>(
        `EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) EXECUTE ${name}(${s.parameters.map(literal).join(', ')})`,
      );
      times.push(rows[0]!['QUERY PLAN'][0]!['Execution Time']);
    }
    for (const name of names.values()) await client.query(`DEALLOCATE ${name}`);
  } finally {
    client.release();
  }
  return { rate: times.length / seconds, p50: percentile(times, 50), p99: percentile(times, 99), n: times.length, ...NO_SERVER };
}

export interface NamedStatement extends Statement {
  /** The name it is sent by, as the app's prepare()d statements are. */
  name: string;
}

/**
 * `page` (a fresh statement per call: worker or call index in, e.g. a random anchor) and
 * its baseline `pk`, each as PostgreSQL's execution time and as a Node client's round trip
 * (one connection each), in `rounds` interleaved rounds of `seconds`. `page` must return a
 * row with a non-zero `rows` column (an empty page means the benchmark's data is wrong).
 */
export async function atDatabase(
  url: string,
  rounds: number,
  seconds: number,
  page: (i: number) => NamedStatement,
  pk: () => NamedStatement,
) {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  const send = async (s: NamedStatement) => pool.query<{ rows?: number }>({ name: s.name, text: s.text, values: [...s.parameters] });
  const roundTrip = async (next: (i: number) => NamedStatement, check: boolean) => ({
    ...(await timed(seconds, 1, async (_, i) => {
      const result = await send(next(i));
      if (check && !result.rows[0]?.rows) throw new Error('empty history page');
    })),
    ...NO_SERVER,
  });
  try {
    await timed(1, 4, async (w, i) => void (await send(page(w + i)))); // warm-up
    const runs = await interleavedRounds(rounds, {
      pkExec: () => executionTimes(pool, seconds, pk),
      pageExec: () => executionTimes(pool, seconds, page),
      pk: () => roundTrip(pk, false),
      page: () => roundTrip(page, true),
    });
    return { pkExec: summary(runs.pkExec), pageExec: summary(runs.pageExec), pk: summary(runs.pk), page: summary(runs.page) };
  } finally {
    await pool.end();
  }
}

const ms = (n: number) => `${n.toFixed(2)} ms`;

/** The two lines that report atDatabase. */
export function atDatabaseLines(r: Awaited<ReturnType<typeof atDatabase>>): string[] {
  return [
    `   at the database (PostgreSQL's execution time of the app's prepared statement): p50 ${ms(r.pageExec.p50)}, p99 ${ms(r.pageExec.p99)} (worst round ${ms(r.pageExec.worstP99)}) (target p99 < 5 ms) | baseline, one message by primary key: p50 ${ms(r.pkExec.p50)}, p99 ${ms(r.pkExec.p99)}`,
    `   round trip from a Node pg client, one connection: p50 ${ms(r.page.p50)}, p99 ${ms(r.page.p99)} (worst round ${ms(r.page.worstP99)}) | baseline, primary key: p50 ${ms(r.pk.p50)}, p99 ${ms(r.pk.p99)}`,
  ];
}
