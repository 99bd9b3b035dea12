import { sql, type Kysely } from 'kysely';

// sessions: the seed's Session. Only the SHA-256 of the bearer token is stored, as 32 raw
// bytes, so a database leak does not leak usable tokens.
// wallet_nonces: server-issued single-use Sign-In with Ethereum (EIP-4361) nonces.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE sessions (
      id              uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      user_id         uuid        NOT NULL,
      token           bytea       NOT NULL,
      user_agent      text        NULL,
      ip_address      text        NULL,
      expires_at      timestamptz NOT NULL,
      last_active_at  timestamptz NOT NULL DEFAULT now(),
      inserted_at     timestamptz NOT NULL DEFAULT now(),
      updated_at      timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT sessions_pkey PRIMARY KEY (id),
      CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
      CONSTRAINT sessions_token_check CHECK (octet_length(token) = 32),
      CONSTRAINT sessions_user_agent_check CHECK (char_length(user_agent) <= 512),
      CONSTRAINT sessions_ip_address_check CHECK (char_length(ip_address) <= 64)
    )
  `.execute(db);
  await sql`CREATE UNIQUE INDEX sessions_token_index ON sessions (token)`.execute(db);
  await sql`CREATE INDEX sessions_user_id_index ON sessions (user_id)`.execute(db);
  await sql`CREATE INDEX sessions_expires_at_index ON sessions (expires_at)`.execute(db);

  await sql`
    CREATE TABLE wallet_nonces (
      nonce        text        NOT NULL,
      address      text        NOT NULL,
      user_id      uuid        NULL,
      expires_at   timestamptz NOT NULL,
      consumed_at  timestamptz NULL,
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT wallet_nonces_pkey PRIMARY KEY (nonce),
      CONSTRAINT wallet_nonces_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
      CONSTRAINT wallet_nonces_nonce_check CHECK (nonce ~ '^[A-Za-z0-9]{8,64}$'),
      CONSTRAINT wallet_nonces_address_check CHECK (address ~ '^0x[0-9a-f]{40}$')
    )
  `.execute(db);
  await sql`CREATE INDEX wallet_nonces_expires_at_index ON wallet_nonces (expires_at)`.execute(db);
  // Serves the ON DELETE CASCADE from users (no sequential scan per deleted user).
  await sql`
    CREATE INDEX wallet_nonces_user_id_index ON wallet_nonces (user_id) WHERE user_id IS NOT NULL
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE wallet_nonces`.execute(db);
  await sql`DROP TABLE sessions`.execute(db);
}
