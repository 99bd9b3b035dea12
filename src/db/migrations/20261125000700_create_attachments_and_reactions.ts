import { sql, type Kysely } from 'kysely';

// attachments: uploaded files. An upload is created unattached (POST /attachments) and
// then attached to at most one message, of either kind.
// reactions: the seed's Reaction, shared by DM messages and channel messages: exactly one
// of message_id / channel_message_id is set, and a user reacts with an emoji once per message.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE attachments (
      id                  uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      uploader_id         uuid        NULL,
      message_id          uuid        NULL,
      channel_message_id  uuid        NULL,
      storage_key         text        NOT NULL,
      filename            text        NOT NULL,
      content_type        text        NOT NULL,
      size                bigint      NOT NULL,
      sha256              bytea       NULL,
      inserted_at         timestamptz NOT NULL DEFAULT now(),
      updated_at          timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT attachments_pkey PRIMARY KEY (id),
      CONSTRAINT attachments_uploader_id_fkey FOREIGN KEY (uploader_id) REFERENCES users (id) ON DELETE SET NULL,
      CONSTRAINT attachments_message_id_fkey FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE,
      CONSTRAINT attachments_channel_message_id_fkey
        FOREIGN KEY (channel_message_id) REFERENCES channel_messages (id) ON DELETE CASCADE,
      CONSTRAINT attachments_target_check CHECK (num_nonnulls(message_id, channel_message_id) <= 1),
      CONSTRAINT attachments_storage_key_check CHECK (char_length(storage_key) BETWEEN 1 AND 1024),
      CONSTRAINT attachments_filename_check CHECK (char_length(filename) BETWEEN 1 AND 255),
      CONSTRAINT attachments_content_type_check
        CHECK (char_length(content_type) <= 255 AND content_type ~ '^[a-z0-9.+-]+/[a-zA-Z0-9.+-]+$'),
      CONSTRAINT attachments_size_check CHECK (size >= 0),
      CONSTRAINT attachments_sha256_check CHECK (octet_length(sha256) = 32)
    )
  `.execute(db);
  await sql`CREATE UNIQUE INDEX attachments_storage_key_index ON attachments (storage_key)`.execute(db);
  await sql`
    CREATE INDEX attachments_message_id_index ON attachments (message_id) WHERE message_id IS NOT NULL
  `.execute(db);
  await sql`
    CREATE INDEX attachments_channel_message_id_index ON attachments (channel_message_id)
      WHERE channel_message_id IS NOT NULL
  `.execute(db);
  await sql`CREATE INDEX attachments_uploader_id_index ON attachments (uploader_id)`.execute(db);

  await sql`
    CREATE TABLE reactions (
      id                  uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      message_id          uuid        NULL,
      channel_message_id  uuid        NULL,
      user_id             uuid        NOT NULL,
      emoji               text        NOT NULL,
      inserted_at         timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT reactions_pkey PRIMARY KEY (id),
      CONSTRAINT reactions_message_id_fkey FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE,
      CONSTRAINT reactions_channel_message_id_fkey
        FOREIGN KEY (channel_message_id) REFERENCES channel_messages (id) ON DELETE CASCADE,
      CONSTRAINT reactions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
      CONSTRAINT reactions_target_check CHECK (num_nonnulls(message_id, channel_message_id) = 1),
      CONSTRAINT reactions_emoji_check CHECK (char_length(emoji) BETWEEN 1 AND 64)
    )
  `.execute(db);
  await sql`
    CREATE UNIQUE INDEX reactions_message_id_emoji_user_id_index ON reactions (message_id, emoji, user_id)
      WHERE message_id IS NOT NULL
  `.execute(db);
  await sql`
    CREATE UNIQUE INDEX reactions_channel_message_id_emoji_user_id_index
      ON reactions (channel_message_id, emoji, user_id) WHERE channel_message_id IS NOT NULL
  `.execute(db);
  await sql`CREATE INDEX reactions_user_id_index ON reactions (user_id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE reactions`.execute(db);
  await sql`DROP TABLE attachments`.execute(db);
}
