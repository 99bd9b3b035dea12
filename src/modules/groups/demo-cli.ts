// `cgraph db demo`, groups part: runs the groups demo (demo.ts) on one connection and
// says what it made.
import type { Database } from '../../db/database.ts';
import { writeGroupsDemo } from './demo.ts';

export async function generateGroupsDemo(database: Database, scale: number): Promise<string> {
  const client = await database.pool.connect();
  try {
    const r = await writeGroupsDemo(client, scale);
    const n = (x: number) => x.toLocaleString('en-US');
    return (
      `demo groups in ${(r.ms / 1000).toFixed(1)} s: ${n(r.groups)} groups (largest ${n(r.largestGroupMembers)} members), ` +
      `${n(r.members)} memberships, ${n(r.roles)} roles, ${n(r.channels)} channels, ${n(r.channelMessages)} channel messages`
    );
  } finally {
    client.release();
  }
}
