import { sql, type Kysely } from 'kysely';

// Listing snapshots for forums (docs/forums.md "Paging while scores move"). A keyset cursor
// on a live sort key (hot, score) skips a post whose score rises past the cursor between two
// page requests and repeats one that falls behind it. The first page of a hot/top listing
// therefore records the order of its first posts (at most 1000, Reddit's listing depth);
// later pages read their ids from here, so every post of the snapshot shows exactly once.
// Past the snapshot, paging continues live by (sort key, id) from the snapshot's last post
// (`last_key`, its sort key as PostgreSQL prints it; NULL when the snapshot holds the whole
// listing). Snapshots are short-lived:
// rows older than an hour are swept as new ones are written.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE forum_listings (
      id           uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      forum_id     uuid        NOT NULL,
      sort         text        NOT NULL,
      post_ids     uuid[]      NOT NULL,
      last_key     text        NULL,
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT forum_listings_pkey PRIMARY KEY (id),
      CONSTRAINT forum_listings_forum_id_fkey FOREIGN KEY (forum_id) REFERENCES forums (id) ON DELETE CASCADE,
      CONSTRAINT forum_listings_sort_check CHECK (sort ~ '^[a-z_]{1,20}$'),
      CONSTRAINT forum_listings_post_ids_check CHECK (cardinality(post_ids) <= 1000)
    )
  `.execute(db);
  await sql`CREATE INDEX forum_listings_forum_id_index ON forum_listings (forum_id)`.execute(db);
  await sql`CREATE INDEX forum_listings_inserted_at_index ON forum_listings (inserted_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE forum_listings`.execute(db);
}
