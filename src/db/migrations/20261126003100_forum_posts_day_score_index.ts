import { sql, type Kysely } from 'kysely';

// sort=top with a time window (t=day|week|month). Walking (forum_id, score DESC, id DESC)
// and filtering on inserted_at reads the whole forum's best posts until enough fall in the
// window: a week in a forum with a year of posts meant ~50 000 index entries for the first
// 1000 (measured: ~0.5 s at a million posts). This index orders each DAY of a forum by
// score, so a window is a merge of at most 32 day ranges, each already in score order
// (Merge Append of index scans: about `limit` rows read, no sort).
//
// cgraph_day(t) = whole days since the epoch (UTC). It is declared IMMUTABLE, as an index
// expression must be: extract(epoch) of a timestamptz does not depend on the session's
// time zone (date_part is STABLE only because other fields do).
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION cgraph_day(t timestamptz) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT floor(extract(epoch FROM t) / 86400)::integer $$
  `.execute(db);
  await sql`
    CREATE INDEX forum_posts_forum_id_day_score_id_index
      ON forum_posts (forum_id, cgraph_day(inserted_at), score DESC, id DESC)
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX forum_posts_forum_id_day_score_id_index`.execute(db);
  await sql`DROP FUNCTION cgraph_day(timestamptz)`.execute(db);
}
