import { sql, type Kysely } from 'kysely';

// users: the seed's User. `status` is nullable here, exactly as the seed's create_users
// migration left it (default 'offline'); 20261125000900 backfills it and 20261125001000
// makes it NOT NULL.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE users (
      id              uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      email           citext      NULL,
      password_hash   text        NULL,
      username        text        NOT NULL,
      display_name    text        NULL,
      avatar_url      text        NULL,
      status          text        NULL DEFAULT 'offline',
      custom_status   text        NULL,
      wallet_address  text        NULL,
      last_active_at  timestamptz NULL,
      is_admin        boolean     NOT NULL DEFAULT false,
      inserted_at     timestamptz NOT NULL DEFAULT now(),
      updated_at      timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT users_pkey PRIMARY KEY (id),
      CONSTRAINT users_email_check
        CHECK (char_length(email) BETWEEN 3 AND 254 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
      CONSTRAINT users_password_hash_check CHECK (char_length(password_hash) BETWEEN 1 AND 512),
      CONSTRAINT users_username_check CHECK (username ~ '^[a-z0-9_]{3,20}$'),
      CONSTRAINT users_display_name_check CHECK (char_length(display_name) <= 64),
      CONSTRAINT users_avatar_url_check CHECK (char_length(avatar_url) <= 2048 AND avatar_url ~ '^https?://'),
      CONSTRAINT users_status_check CHECK (status IN ('online', 'idle', 'dnd', 'offline')),
      CONSTRAINT users_custom_status_check CHECK (char_length(custom_status) <= 128),
      CONSTRAINT users_wallet_address_check CHECK (wallet_address ~ '^0x[0-9a-f]{40}$'),
      CONSTRAINT users_login_check CHECK (email IS NOT NULL OR wallet_address IS NOT NULL),
      CONSTRAINT users_credential_check CHECK (password_hash IS NOT NULL OR wallet_address IS NOT NULL)
    )
  `.execute(db);

  await sql`CREATE UNIQUE INDEX users_email_index ON users (email)`.execute(db);
  await sql`CREATE UNIQUE INDEX users_username_index ON users (username)`.execute(db);
  // The seed has a plain index on wallet_address; unique also means one account per wallet.
  await sql`CREATE UNIQUE INDEX users_wallet_address_index ON users (wallet_address)`.execute(db);
  // The idle sweep: online users whose last activity is older than the idle threshold.
  await sql`
    CREATE INDEX users_last_active_at_online_index ON users (last_active_at) WHERE status = 'online'
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE users`.execute(db);
}
