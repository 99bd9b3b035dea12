// `cgraph db demo`: the demo generator (demo.ts) behind a progress bar.
import { SingleBar } from 'cli-progress';
import pg from 'pg';
import type { Database } from './database.ts';
import { planDemo, writeDemo, DEMO_PASSWORD } from './demo.ts';

export type Progress = (done: number, total: number, phase: string) => void;

/**
 * Runs one demo writer behind a progress bar on a connection of its own, outside the app's
 * pool: its statements are long by design, and the pool's slow-query warnings would only
 * interleave with the bar. Non-TTY output (CI logs, tests) gets a line now and then.
 */
export async function withProgressBar<T>(
  database: Database,
  label: string,
  write: (client: pg.Client, progress: Progress) => Promise<T>,
): Promise<T> {
  const bar = new SingleBar({
    format: `${label} [{bar}] {percentage}% | {value}/{total} rows | {phase} | {duration_formatted}`,
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 5000,
    hideCursor: true,
  });
  bar.start(1, 0, { phase: 'planning' });
  const client = new pg.Client({ connectionString: database.url, ssl: database.pool.options.ssl });
  await client.connect();
  try {
    return await write(client, (done, total, phase) => {
      bar.setTotal(total);
      bar.update(done, { phase });
    });
  } finally {
    bar.stop();
    await client.end();
  }
}

export async function generateDemo(database: Database, scale: number): Promise<string> {
  const plan = planDemo(scale);
  const result = await withProgressBar(database, 'demo data', (client, progress) => writeDemo(client, plan, progress));
  const seconds = (result.ms / 1000).toFixed(1);
  return [
    `demo data (tag ${result.tag}) in ${seconds} s: ${result.users.toLocaleString('en-US')} users, ${result.friendships.toLocaleString('en-US')} friendships,`,
    `${result.conversations.toLocaleString('en-US')} conversations (${result.participants.toLocaleString('en-US')} participants), ${result.messages.toLocaleString('en-US')} messages, ${result.reactions.toLocaleString('en-US')} reactions`,
    `sign in as ${result.powerUser}@demo.invalid (or any demo${result.tag}_<n>) with the password "${DEMO_PASSWORD}"`,
  ].join('\n');
}
