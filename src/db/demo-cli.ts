// `cgraph db demo`: the demo generator (demo.ts) behind a progress bar.
import { SingleBar } from 'cli-progress';
import pg from 'pg';
import type { Database } from './database.ts';
import { planDemo, writeDemo, DEMO_PASSWORD } from './demo.ts';

export async function generateDemo(database: Database, scale: number): Promise<string> {
  const plan = planDemo(scale);
  const bar = new SingleBar({
    format: 'demo data [{bar}] {percentage}% | {value}/{total} rows | {phase} | {duration_formatted}',
    stream: process.stderr,
    // Non-TTY (CI logs, tests): a line now and then instead of a redrawn bar.
    noTTYOutput: true,
    notTTYSchedule: 5000,
    hideCursor: true,
  });
  bar.start(1, 0, { phase: 'planning' });
  // A connection of its own, outside the app's pool: its statements are long by design, and
  // the pool's slow-query warnings would only interleave with the progress bar.
  const client = new pg.Client({ connectionString: database.url, ssl: database.pool.options.ssl });
  await client.connect();
  try {
    const result = await writeDemo(client, plan, (done, total, phase) => {
      bar.setTotal(total);
      bar.update(done, { phase });
    });
    bar.stop();
    const seconds = (result.ms / 1000).toFixed(1);
    return [
      `demo data (tag ${result.tag}) in ${seconds} s: ${result.users.toLocaleString('en-US')} users, ${result.friendships.toLocaleString('en-US')} friendships,`,
      `${result.conversations.toLocaleString('en-US')} conversations (${result.participants.toLocaleString('en-US')} participants), ${result.messages.toLocaleString('en-US')} messages`,
      `sign in as ${result.powerUser}@demo.invalid (or any demo${result.tag}_<n>) with the password "${DEMO_PASSWORD}"`,
    ].join('\n');
  } catch (error) {
    bar.stop();
    throw error;
  } finally {
    await client.end();
  }
}
