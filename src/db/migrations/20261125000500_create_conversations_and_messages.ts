import { sql, type Kysely } from 'kysely';

// conversations, conversation_participants, messages: the seed's DMs and group DMs.
//
// * A 1:1 DM stores its two participants in dm_user_low_id < dm_user_high_id, and a unique
//   index on that pair makes "the same DM every time" a database guarantee.
// * Unread counts are O(1): conversations.last_message_seq counts messages, each message
//   has its position `seq`, and a participant's unread count is
//   last_message_seq - last_read_seq (Mattermost's TotalMsgCount - MsgCount).
// * conversation_participants.last_activity_at copies the conversation's last activity per
//   participant, so "my conversations, newest activity first" is one index range scan.
// * A reply must be in the same conversation: (conversation_id, reply_to_id) references
//   messages (conversation_id, id), and deleting the target only clears reply_to_id
//   (PostgreSQL 15 column list on ON DELETE SET NULL).

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE conversations (
      id                uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      is_group          boolean     NOT NULL DEFAULT false,
      name              text        NULL,
      last_message_at   timestamptz NULL,
      owner_id          uuid        NULL,
      dm_user_low_id    uuid        NULL,
      dm_user_high_id   uuid        NULL,
      last_message_seq  bigint      NOT NULL DEFAULT 0,
      inserted_at       timestamptz NOT NULL DEFAULT now(),
      updated_at        timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT conversations_pkey PRIMARY KEY (id),
      CONSTRAINT conversations_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE SET NULL,
      CONSTRAINT conversations_dm_user_low_id_fkey
        FOREIGN KEY (dm_user_low_id) REFERENCES users (id) ON DELETE CASCADE,
      CONSTRAINT conversations_dm_user_high_id_fkey
        FOREIGN KEY (dm_user_high_id) REFERENCES users (id) ON DELETE CASCADE,
      CONSTRAINT conversations_name_check CHECK (char_length(name) <= 100),
      CONSTRAINT conversations_last_message_seq_check CHECK (last_message_seq >= 0),
      CONSTRAINT conversations_dm_pair_check CHECK (
        (is_group AND dm_user_low_id IS NULL AND dm_user_high_id IS NULL)
        OR (NOT is_group AND dm_user_low_id IS NOT NULL AND dm_user_high_id IS NOT NULL
            AND dm_user_low_id < dm_user_high_id)
      )
    )
  `.execute(db);
  await sql`
    CREATE UNIQUE INDEX conversations_dm_pair_index ON conversations (dm_user_low_id, dm_user_high_id)
  `.execute(db);
  // Serve the ON DELETE actions from users (the pair index already leads with dm_user_low_id).
  await sql`
    CREATE INDEX conversations_dm_user_high_id_index ON conversations (dm_user_high_id)
      WHERE dm_user_high_id IS NOT NULL
  `.execute(db);
  await sql`
    CREATE INDEX conversations_owner_id_index ON conversations (owner_id) WHERE owner_id IS NOT NULL
  `.execute(db);

  await sql`
    CREATE TABLE conversation_participants (
      id                uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      conversation_id   uuid        NOT NULL,
      user_id           uuid        NOT NULL,
      joined_at         timestamptz NOT NULL DEFAULT now(),
      last_read_at      timestamptz NULL,
      muted             boolean     NOT NULL DEFAULT false,
      last_read_seq     bigint      NOT NULL DEFAULT 0,
      last_activity_at  timestamptz NOT NULL DEFAULT now(),
      inserted_at       timestamptz NOT NULL DEFAULT now(),
      updated_at        timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT conversation_participants_pkey PRIMARY KEY (id),
      CONSTRAINT conversation_participants_conversation_id_fkey
        FOREIGN KEY (conversation_id) REFERENCES conversations (id) ON DELETE CASCADE,
      CONSTRAINT conversation_participants_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
      CONSTRAINT conversation_participants_last_read_seq_check CHECK (last_read_seq >= 0)
    )
  `.execute(db);
  await sql`
    CREATE UNIQUE INDEX conversation_participants_conversation_id_user_id_index
      ON conversation_participants (conversation_id, user_id)
  `.execute(db);
  // "My conversations, newest activity first", keyset-paged on (last_activity_at, conversation_id).
  await sql`
    CREATE INDEX conversation_participants_user_id_last_activity_at_index
      ON conversation_participants (user_id, last_activity_at DESC, conversation_id DESC)
  `.execute(db);

  await sql`
    CREATE TABLE messages (
      id               uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      conversation_id  uuid        NOT NULL,
      sender_id        uuid        NULL,
      content          text        NOT NULL DEFAULT '',
      type             text        NOT NULL DEFAULT 'text',
      edited_at        timestamptz NULL,
      deleted_at       timestamptz NULL,
      reply_to_id      uuid        NULL,
      seq              bigint      NOT NULL,
      nonce            text        NULL,
      inserted_at      timestamptz NOT NULL DEFAULT now(),
      updated_at       timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT messages_pkey PRIMARY KEY (id),
      CONSTRAINT messages_conversation_id_fkey
        FOREIGN KEY (conversation_id) REFERENCES conversations (id) ON DELETE CASCADE,
      CONSTRAINT messages_sender_id_fkey FOREIGN KEY (sender_id) REFERENCES users (id) ON DELETE SET NULL,
      CONSTRAINT messages_content_check CHECK (char_length(content) <= 16000),
      CONSTRAINT messages_type_check CHECK (type IN ('text', 'image', 'file', 'system')),
      CONSTRAINT messages_deleted_content_check CHECK (deleted_at IS NULL OR content = ''),
      CONSTRAINT messages_reply_to_id_check CHECK (reply_to_id <> id),
      CONSTRAINT messages_seq_check CHECK (seq >= 1),
      CONSTRAINT messages_nonce_check CHECK (char_length(nonce) BETWEEN 1 AND 64)
    )
  `.execute(db);
  // Target of the reply foreign key, and the history keyset (WHERE conversation_id = $1
  // AND id < $cursor ORDER BY id DESC).
  await sql`
    CREATE UNIQUE INDEX messages_conversation_id_id_index ON messages (conversation_id, id)
  `.execute(db);
  await sql`
    CREATE UNIQUE INDEX messages_conversation_id_seq_index ON messages (conversation_id, seq)
  `.execute(db);
  // Idempotent send: the same nonce from the same sender in the same conversation is one message.
  await sql`
    CREATE UNIQUE INDEX messages_conversation_id_sender_id_nonce_index
      ON messages (conversation_id, sender_id, nonce) WHERE nonce IS NOT NULL
  `.execute(db);
  await sql`
    CREATE INDEX messages_conversation_id_inserted_at_index ON messages (conversation_id, inserted_at)
  `.execute(db);
  await sql`CREATE INDEX messages_sender_id_index ON messages (sender_id)`.execute(db);
  // Serves the reply foreign key's ON DELETE action (and "replies to this message").
  await sql`
    CREATE INDEX messages_conversation_id_reply_to_id_index ON messages (conversation_id, reply_to_id)
      WHERE reply_to_id IS NOT NULL
  `.execute(db);
  await sql`
    ALTER TABLE messages ADD CONSTRAINT messages_reply_to_id_fkey
      FOREIGN KEY (conversation_id, reply_to_id) REFERENCES messages (conversation_id, id)
      ON DELETE SET NULL (reply_to_id)
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE messages`.execute(db);
  await sql`DROP TABLE conversation_participants`.execute(db);
  await sql`DROP TABLE conversations`.execute(db);
}
