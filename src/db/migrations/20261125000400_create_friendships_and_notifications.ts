import { sql, type Kysely } from 'kysely';

// friendships: the seed's friend system. A pending or accepted row exists at most once per
// unordered pair of users, whoever asked; a block is directional (user_id blocks
// friend_id), so two users may block each other.
// notifications: the seed's Notification, plus the actor (for block filtering) and a
// collapse key (one unread "message" notification per conversation, say).

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE friendships (
      id            uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      user_id       uuid        NOT NULL,
      friend_id     uuid        NOT NULL,
      status        text        NOT NULL,
      requested_at  timestamptz NOT NULL DEFAULT now(),
      accepted_at   timestamptz NULL,
      inserted_at   timestamptz NOT NULL DEFAULT now(),
      updated_at    timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT friendships_pkey PRIMARY KEY (id),
      CONSTRAINT friendships_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
      CONSTRAINT friendships_friend_id_fkey FOREIGN KEY (friend_id) REFERENCES users (id) ON DELETE CASCADE,
      CONSTRAINT friendships_status_check CHECK (status IN ('pending', 'accepted', 'blocked')),
      CONSTRAINT friendships_self_check CHECK (user_id <> friend_id),
      CONSTRAINT friendships_accepted_at_check CHECK ((status = 'accepted') = (accepted_at IS NOT NULL))
    )
  `.execute(db);
  await sql`
    CREATE UNIQUE INDEX friendships_pair_index
      ON friendships (LEAST(user_id, friend_id), GREATEST(user_id, friend_id))
      WHERE status IN ('pending', 'accepted')
  `.execute(db);
  await sql`
    CREATE UNIQUE INDEX friendships_block_index ON friendships (user_id, friend_id) WHERE status = 'blocked'
  `.execute(db);
  await sql`CREATE INDEX friendships_user_id_status_index ON friendships (user_id, status)`.execute(db);
  await sql`CREATE INDEX friendships_friend_id_status_index ON friendships (friend_id, status)`.execute(db);

  await sql`
    CREATE TABLE notifications (
      id            uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      user_id       uuid        NOT NULL,
      type          text        NOT NULL,
      data          jsonb       NOT NULL DEFAULT '{}'::jsonb,
      read_at       timestamptz NULL,
      actor_id      uuid        NULL,
      collapse_key  text        NULL,
      inserted_at   timestamptz NOT NULL DEFAULT now(),
      updated_at    timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT notifications_pkey PRIMARY KEY (id),
      CONSTRAINT notifications_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
      CONSTRAINT notifications_actor_id_fkey FOREIGN KEY (actor_id) REFERENCES users (id) ON DELETE SET NULL,
      CONSTRAINT notifications_type_check CHECK (type ~ '^[a-z_]{1,32}$'),
      CONSTRAINT notifications_data_check CHECK (jsonb_typeof(data) = 'object'),
      CONSTRAINT notifications_collapse_key_check CHECK (char_length(collapse_key) BETWEEN 1 AND 200)
    )
  `.execute(db);
  // Seed index: per user, unread (read_at IS NULL) first.
  await sql`
    CREATE INDEX notifications_user_id_read_at_inserted_at_index ON notifications (user_id, read_at, inserted_at)
  `.execute(db);
  // The newest-first list, keyset-paged on (inserted_at, id).
  await sql`
    CREATE INDEX notifications_user_id_inserted_at_id_index ON notifications (user_id, inserted_at DESC, id DESC)
  `.execute(db);
  // At most one unread notification per (user, collapse key): a new one updates the old.
  await sql`
    CREATE UNIQUE INDEX notifications_user_id_collapse_key_index ON notifications (user_id, collapse_key)
      WHERE read_at IS NULL AND collapse_key IS NOT NULL
  `.execute(db);
  // Serves ON DELETE SET NULL from users.
  await sql`
    CREATE INDEX notifications_actor_id_index ON notifications (actor_id) WHERE actor_id IS NOT NULL
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE notifications`.execute(db);
  await sql`DROP TABLE friendships`.execute(db);
}
