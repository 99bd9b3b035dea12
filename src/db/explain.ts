// `cgraph db explain`: EXPLAIN ANALYZE for a named query or for SQL given on the command
// line (the seed's Ecto.Adapters.SQL.explain and "Slow Queries"). ANALYZE executes the
// statement, so it always runs inside a transaction that is rolled back, and through the
// extended protocol, which accepts exactly one statement: nothing given here can commit.
import type pg from 'pg';

export interface NamedQuery {
  description: string;
  sql: string;
  /** Sample parameters taken from the database (an existing forum, user, ...). */
  params(client: pg.PoolClient): Promise<unknown[]>;
}

const ZERO_UUID = '00000000-0000-7000-8000-000000000000';

async function firstId(client: pg.PoolClient, table: string, orderBy = 'id'): Promise<string> {
  const { rows } = await client.query<{ id: string }>(`SELECT id FROM ${table} ORDER BY ${orderBy} DESC LIMIT 1`);
  return rows[0]?.id ?? ZERO_UUID;
}

/** The hot reads of the platform, by name. Each is the statement the code runs. */
export const NAMED_QUERIES: Record<string, NamedQuery> = {
  'forum_posts.top': {
    description: "the seed's slow-query example: a forum's posts by score (sort=top&t=all, first page; the page statement embeds it, src/modules/forums/ranking.ts)",
    sql: 'SELECT id, score::text AS sort_key FROM forum_posts WHERE forum_id = $1 AND is_pinned = false AND deleted_at IS NULL ORDER BY score DESC, id DESC LIMIT 51',
    params: async (c) => [await firstId(c, 'forums')],
  },
  'forum_posts.hot': {
    description: "a forum's first page by hot rank (the page statement embeds it; src/modules/forums/ranking.ts)",
    sql: 'SELECT id, hot::text AS sort_key FROM forum_posts WHERE forum_id = $1 AND is_pinned = false AND deleted_at IS NULL ORDER BY hot DESC, id DESC LIMIT 51',
    params: async (c) => [await firstId(c, 'forums')],
  },
  'forum_posts.new': {
    description: "a forum's newest posts (first page; src/modules/forums/ranking.ts)",
    sql: 'SELECT id, id::text AS sort_key FROM forum_posts WHERE forum_id >= $1 AND forum_id <= $1 AND is_pinned = false AND deleted_at IS NULL ORDER BY forum_id, id DESC LIMIT 51',
    params: async (c) => [await firstId(c, 'forums')],
  },
  'messages.history': {
    description: 'a page of conversation history, newest first',
    sql: 'SELECT * FROM messages WHERE conversation_id = $1 AND id < $2 ORDER BY id DESC LIMIT 50',
    params: async (c) => [await firstId(c, 'conversations', 'last_message_at DESC NULLS LAST, id'), 'ffffffff-ffff-7fff-bfff-ffffffffffff'],
  },
  'messages.count_by_sender': {
    description: "the seed's aggregate: messages sent by a user",
    sql: 'SELECT count(*) FROM messages WHERE sender_id = $1',
    params: async (c) => [await firstId(c, 'users')],
  },
  'notifications.unread': {
    description: "a user's unread notifications, newest first",
    sql: 'SELECT * FROM notifications WHERE user_id = $1 AND read_at IS NULL ORDER BY inserted_at DESC, id DESC LIMIT 50',
    params: async (c) => [await firstId(c, 'users')],
  },
  'users.idle_sweep': {
    description: "the seed's batch update: online users inactive for an hour become idle",
    sql: "UPDATE users SET status = 'idle' WHERE status = 'online' AND last_active_at < now() - interval '1 hour'",
    params: () => Promise.resolve([]),
  },
};

export class ExplainError extends Error {
  override readonly name = 'ExplainError';
}

export async function explain(pool: pg.Pool, target: string): Promise<string> {
  const named = NAMED_QUERIES[target];
  const looksLikeSql = /^\s*(select|with|insert|update|delete|values|table)\b/i.test(target);
  if (!named && !looksLikeSql) {
    throw new ExplainError(
      `unknown query "${target}": give SQL, or one of ${Object.keys(NAMED_QUERIES).join(', ')}`,
    );
  }
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const params = named ? await named.params(client) : [];
    const sql = named ? named.sql : target.trim().replace(/;\s*$/, '');
    const result = await client.query<{ 'QUERY PLAN': string }>({
      text: `EXPLAIN (ANALYZE, BUFFERS) ${sql}`,
      values: params,
      queryMode: 'extended',
    } as pg.QueryConfig);
    return result.rows.map((row) => row['QUERY PLAN']).join('\n');
  } catch (error) {
    if (error instanceof ExplainError) throw error;
    throw new ExplainError(`EXPLAIN failed: ${(error as Error).message}`);
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}
