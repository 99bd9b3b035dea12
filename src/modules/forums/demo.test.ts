// The forums demo at a tiny scale: the promised shape and skew, valid rows (the database's
// own constraints and foreign keys hold) and every counter the triggers keep equal to what
// the rows say, recomputed here from scratch.
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../../test/db.ts';
import { forumsDemoSize, planForumsDemo, writeForumsDemo } from './demo.ts';
import { postBatches } from './demo-plan.ts';
import { listComments } from './comments.ts';

const t = useTestDatabase();

describe('forums demo', () => {
  it('plans big and small forums, skewed votes and big threads', () => {
    expect(forumsDemoSize(1)).toMatchObject({ posts: 1_000_000, votes: 10_000_000, bigThreadComments: 10_000 });
    expect(() => forumsDemoSize(0)).toThrow(RangeError);
    const plan = planForumsDemo(0.1, 5_000, {}, 7);
    const { post, forums } = plan;
    const sum = (a: Int32Array) => a.reduce((s, x) => s + x, 0);
    expect(sum(post.votes)).toBe(1_000_000);
    const byForum = forums.map((f) => f.posts).sort((a, b) => b - a);
    expect(byForum.reduce((s, x) => s + x, 0)).toBe(100_000);
    expect(byForum[0]!).toBeGreaterThan(10 * byForum[byForum.length - 1]!);
    // A few hot posts: the top 1 % of posts hold far more than 1 % of the votes.
    const sorted = Array.from(post.votes).sort((a, b) => b - a);
    expect(sorted.slice(0, 1000).reduce((s, x) => s + x, 0)).toBeGreaterThan(0.2 * 1_000_000);
    expect(Array.from(post.comments).filter((c) => c === 10_000)).toHaveLength(forumsDemoSize(0.1).bigThreads);
    let broken = 0;
    for (let i = 0; i < post.votes.length; i++) {
      if (post.votes[i]! > forums[post.forum[i]! - 1]!.community || post.down[i]! > post.votes[i]!) broken += 1;
      if (i > 0 && post.ms[i]! < post.ms[i - 1]!) broken += 1;
    }
    expect(broken).toBe(0);
    const batches = postBatches(5, (i) => [3, 0, 4, 4, 1][i]!, 5);
    expect(batches).toEqual([{ from: 1, to: 1, rows: 3 }, { from: 3, to: 3, rows: 4 }, { from: 4, to: 5, rows: 5 }]);
  });

  it('writes forums whose every counter matches the rows', async () => {
    await t.pool.query(
      `INSERT INTO users (username, email, password_hash) SELECT 'fd_' || g, 'fd_' || g || '@demo.invalid', 'x' FROM generate_series(1, 600) AS g`,
    );
    const client = await t.pool.connect();
    const phases = new Set<string>();
    let result;
    try {
      // 17 forums instead of 3, so that two (10 and 17) are private, with 400 and 259 of the 600 users.
      result = await writeForumsDemo(
        client,
        0.001,
        (done, total, phase) => {
          expect(done).toBeLessThanOrEqual(total);
          phases.add(phase);
        },
        { forums: 17 },
      );
    } finally {
      client.release();
    }
    expect(phases).toContain('post votes');
    expect(phases).toContain('done');
    const q = async (text: string) => (await t.pool.query(text)).rows;
    const count = async (table: string) => Number((await q(`SELECT count(*) AS n FROM ${table}`))[0].n);
    expect(result.forums).toBe(17);
    expect(await count('forum_posts')).toBe(result.posts);
    expect(await count('forum_votes')).toBe(result.postVotes);
    expect(result.postVotes).toBe(10_000);
    expect(await count('forum_comments')).toBe(result.comments);
    expect(await count('comment_votes')).toBe(result.commentVotes);
    expect(await count('poll_votes')).toBe(result.pollVotes);
    expect(result.commentVotes).toBeGreaterThan(0);
    expect(result.pollVotes).toBeGreaterThan(0);
    expect(result.largestThread).toBe(200);

    // Post score, up/down counts = the votes; hot = cgraph_hot(score, inserted_at) (the
    // trigger's function); comment_count = the comments not deleted.
    expect(
      await q(`SELECT p.id FROM forum_posts p
               LEFT JOIN LATERAL (SELECT coalesce(sum(value), 0)::int AS s, count(*) FILTER (WHERE value = 1)::int AS up,
                                         count(*) FILTER (WHERE value = -1)::int AS down FROM forum_votes v WHERE v.post_id = p.id) v ON true
               WHERE p.score <> v.s OR p.upvotes <> v.up OR p.downvotes <> v.down
                  OR p.hot <> cgraph_hot(p.score, p.inserted_at)
                  OR p.comment_count <> (SELECT count(*) FROM forum_comments c WHERE c.post_id = p.id AND c.deleted_at IS NULL)`),
    ).toEqual([]);
    expect(
      await q(`SELECT c.id FROM forum_comments c
               LEFT JOIN LATERAL (SELECT coalesce(sum(value), 0)::int AS s, count(*) FILTER (WHERE value = 1)::int AS up,
                                         count(*) FILTER (WHERE value = -1)::int AS down FROM comment_votes v WHERE v.comment_id = c.id) v ON true
               WHERE c.score <> v.s OR c.upvotes <> v.up OR c.downvotes <> v.down`),
    ).toEqual([]);
    expect(
      await q(`SELECT o.id FROM poll_options o WHERE o.vote_count <> (SELECT count(*) FROM poll_votes v WHERE v.option_id = o.id)`),
    ).toEqual([]);
    // Replies: depth = parent's + 1, the parent older; the trees are deep and wide.
    expect(
      await q(`SELECT c.id FROM forum_comments c JOIN forum_comments p ON p.id = c.parent_id
               WHERE c.depth <> p.depth + 1 OR p.post_id <> c.post_id OR p.inserted_at >= c.inserted_at OR p.id >= c.id`),
    ).toEqual([]);
    const [shape] = await q(`SELECT max(depth)::int AS depth, count(*) FILTER (WHERE parent_id IS NULL)::int AS roots FROM forum_comments
                             WHERE post_id = (SELECT post_id FROM forum_comments GROUP BY post_id ORDER BY count(*) DESC LIMIT 1)`);
    expect(shape.depth).toBeGreaterThanOrEqual(3);
    expect(shape.roots).toBeGreaterThanOrEqual(20);

    // Every foreign key holds, though the load skipped the per-row checks.
    const fks = await q(`SELECT conname, conrelid::regclass::text AS t FROM pg_constraint WHERE contype = 'f'
                         AND conrelid::regclass::text IN ('forums', 'forum_moderators', 'forum_members', 'forum_flairs', 'forum_posts',
                                                          'poll_options', 'poll_votes', 'forum_comments', 'forum_votes', 'comment_votes')`);
    expect(fks.length).toBeGreaterThanOrEqual(15);
    const orphans = await q(`
      SELECT 'post' AS k FROM forum_posts p WHERE NOT EXISTS (SELECT 1 FROM forums f WHERE f.id = p.forum_id)
         OR (p.author_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p.author_id))
         OR (p.flair_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM forum_flairs fl WHERE fl.id = p.flair_id AND fl.forum_id = p.forum_id))
      UNION ALL SELECT 'vote' FROM forum_votes v WHERE NOT EXISTS (SELECT 1 FROM forum_posts p WHERE p.id = v.post_id) OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = v.user_id)
      UNION ALL SELECT 'comment' FROM forum_comments c WHERE NOT EXISTS (SELECT 1 FROM forum_posts p WHERE p.id = c.post_id) OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = c.author_id)
      UNION ALL SELECT 'cvote' FROM comment_votes v WHERE NOT EXISTS (SELECT 1 FROM forum_comments c WHERE c.id = v.comment_id) OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = v.user_id)
      UNION ALL SELECT 'poll' FROM poll_votes v WHERE NOT EXISTS (SELECT 1 FROM poll_options o WHERE o.id = v.option_id AND o.post_id = v.post_id) OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = v.user_id)
      UNION ALL SELECT 'mod' FROM forum_moderators m WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = m.user_id)`);
    expect(orphans).toEqual([]);
    // In a private forum, everyone who posts, comments or votes is a member.
    const members = await q(`SELECT (SELECT count(*) FROM forum_members m WHERE m.forum_id = f.id)::int AS n FROM forums f WHERE NOT f.is_public ORDER BY n`);
    expect(members.map((r) => r.n)).toEqual([259, 400]); // forums 17 and 10, of 600 users
    expect((await q(`SELECT 1 FROM forum_votes v JOIN forum_posts p ON p.id = v.post_id JOIN forums f ON f.id = p.forum_id WHERE NOT f.is_public LIMIT 1`))).toHaveLength(1);
    expect(
      await q(`SELECT 1 FROM forum_posts p JOIN forums f ON f.id = p.forum_id AND NOT f.is_public
               JOIN forum_votes v ON v.post_id = p.id
               WHERE NOT EXISTS (SELECT 1 FROM forum_members m WHERE m.forum_id = f.id AND m.user_id = v.user_id)
                  OR NOT EXISTS (SELECT 1 FROM forum_members m WHERE m.forum_id = f.id AND m.user_id = p.author_id)
               UNION ALL
               SELECT 1 FROM forum_posts p JOIN forums f ON f.id = p.forum_id AND NOT f.is_public
               JOIN forum_comments c ON c.post_id = p.id
               WHERE NOT EXISTS (SELECT 1 FROM forum_members m WHERE m.forum_id = f.id AND m.user_id = c.author_id)`),
    ).toEqual([]);

    // The triggers are back on and keep counting from here.
    expect((await q(`SELECT tgname FROM pg_trigger WHERE tgrelid::regclass::text IN ('forum_votes', 'comment_votes', 'forum_comments', 'poll_votes', 'forum_posts') AND NOT tgisinternal AND tgenabled <> 'O'`))).toEqual([]);
    const [target] = await q(`SELECT p.id, p.score FROM forum_posts p WHERE NOT EXISTS (SELECT 1 FROM forum_votes v WHERE v.post_id = p.id AND v.user_id = (SELECT id FROM users WHERE username = 'fd_1')) LIMIT 1`);
    await t.pool.query(`INSERT INTO forum_votes (post_id, user_id, value) SELECT $1, id, 1 FROM users WHERE username = 'fd_1'`, [target.id]);
    expect((await q(`SELECT score FROM forum_posts WHERE id = '${target.id}'`))[0].score).toBe(target.score + 1);
    // The indexes dropped for the load are back.
    expect(Number((await q(`SELECT count(*) AS n FROM pg_indexes WHERE tablename = 'forum_posts'`))[0].n)).toBeGreaterThanOrEqual(10);

    // The app reads the biggest thread (in a public forum) as a tree.
    const [big] = await q(`SELECT c.post_id FROM forum_comments c JOIN forum_posts p ON p.id = c.post_id JOIN forums f ON f.id = p.forum_id
                           WHERE f.is_public AND p.deleted_at IS NULL GROUP BY c.post_id ORDER BY count(*) DESC LIMIT 1`);
    const tree = await listComments(t.db, null, big.post_id, { sort: 'best', limit: 50 });
    expect(tree.data.length).toBeGreaterThan(0);
    expect(tree.data.some((node) => node.replies.length > 0)).toBe(true);
  });
});
