// `cgraph db demo`, forums part: runs the forums demo (demo.ts) on a connection of its own
// behind a progress bar, and says what it made.
import type { Database } from '../../db/database.ts';
import { withProgressBar } from '../../db/demo-cli.ts';
import { writeForumsDemo } from './demo.ts';

export async function generateForumsDemo(database: Database, scale: number): Promise<string> {
  const r = await withProgressBar(database, 'demo forums', (client, progress) => writeForumsDemo(client, scale, progress));
  const n = (x: number) => x.toLocaleString('en-US');
  return (
    `demo forums (slugs demo-${r.tag}-…) in ${(r.ms / 1000).toFixed(1)} s: ${n(r.forums)} forums, ${n(r.posts)} posts, ` +
    `${n(r.postVotes)} post votes (most on one post ${n(r.mostVotes)}), ${n(r.comments)} comments (largest thread ${n(r.largestThread)}), ` +
    `${n(r.commentVotes)} comment votes, ${n(r.pollVotes)} poll votes`
  );
}
