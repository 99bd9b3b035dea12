import { sql, type Kysely } from 'kysely';

// Extensions and SQL functions the later migrations rely on.
//
// * citext: case-insensitive text, for users.email.
// * cgraph_uuid_v7(): the DEFAULT of every `id` column. The application normally
//   generates UUIDv7 ids itself; the default serves raw SQL, COPY and psql sessions.
// * cgraph_hot(score, created): Reddit's "hot" rank, stored in forum_posts.hot.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE EXTENSION IF NOT EXISTS citext`.execute(db);

  // RFC 9562 UUIDv7: bits 0-47 = unix time in milliseconds (big-endian), bits 48-51 =
  // version 0111, bits 64-65 = variant 10, the other 74 bits random. We start from a
  // random v4 UUID (version 0100, variant 10 already set), overwrite its first 6 bytes
  // with the timestamp and turn the version nibble 0100 into 0111 by setting bits 52
  // and 53 (set_bit numbers bits from the least significant bit of byte 0, so bits
  // 52/53 are the 0x10/0x20 bits of byte 6, the version nibble's two low bits).
  // clock_timestamp(), not now(): ids created later in one transaction sort later.
  await sql`
    CREATE FUNCTION cgraph_uuid_v7() RETURNS uuid
    LANGUAGE sql VOLATILE PARALLEL SAFE
    AS $$
      SELECT encode(
        set_bit(
          set_bit(
            overlay(
              uuid_send(gen_random_uuid())
              PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
              FROM 1 FOR 6
            ),
            52, 1
          ),
          53, 1
        ),
        'hex'
      )::uuid
    $$
  `.execute(db);

  // Reddit's hot formula (r2/lib/db/_sorts.pyx):
  //   order = log10(max(|s|, 1)); sign = sign(s); seconds = epoch_seconds(created) - 1134028003
  //   hot = round(sign * order + seconds / 45000, 7)
  // Computed in numeric so the result is exact to the 7th decimal. IMMUTABLE is true:
  // the epoch of a timestamptz does not depend on the TimeZone setting (extract() is only
  // marked STABLE because other fields do), so the value can be stored and indexed.
  await sql`
    CREATE FUNCTION cgraph_hot(score integer, created timestamptz) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
      SELECT round(
        sign(score::numeric) * log(greatest(abs(score::numeric), 1))
          + (extract(epoch FROM created) - 1134028003) / 45000,
        7
      )::double precision
    $$
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION cgraph_hot(integer, timestamptz)`.execute(db);
  await sql`DROP FUNCTION cgraph_uuid_v7()`.execute(db);
  await sql`DROP EXTENSION IF EXISTS citext`.execute(db);
}
