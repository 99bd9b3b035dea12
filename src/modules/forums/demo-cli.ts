// `cgraph db demo`, forums part: runs the forums demo (demo.ts) on a connection of its own
// behind a progress bar, and says what it made.
import { SingleBar } from 'cli-progress';
import pg from 'pg';
import type { Database } from '../../db/database.ts';
import { writeForumsDemo } from './demo.ts';

export async function generateForumsDemo(database: Database, scale: number): Promise<string> {
  const bar = new SingleBar({
    format: 'demo forums [{bar}] {percentage}% | {value}/{total} rows | {phase} | {duration_formatted}',
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 5000,
    hideCursor: true,
  });
  bar.start(1, 0, { phase: 'planning' });
  // Outside the app's pool, as for the messages: its statements are long by design.
  const client = new pg.Client({ connectionString: database.url, ssl: database.pool.options.ssl });
  await client.connect();
  try {
    const r = await writeForumsDemo(client, scale, (done, total, phase) => {
      bar.setTotal(total);
      bar.update(done, { phase });
    });
    bar.stop();
    const n = (x: number) => x.toLocaleString('en-US');
    return (
      `demo forums (slugs demo-${r.tag}-…) in ${(r.ms / 1000).toFixed(1)} s: ${n(r.forums)} forums, ${n(r.posts)} posts, ` +
      `${n(r.postVotes)} post votes (most on one post ${n(r.mostVotes)}), ${n(r.comments)} comments (largest thread ${n(r.largestThread)}), ` +
      `${n(r.commentVotes)} comment votes, ${n(r.pollVotes)} poll votes`
    );
  } catch (error) {
    bar.stop();
    throw error;
  } finally {
    await client.end();
  }
}
