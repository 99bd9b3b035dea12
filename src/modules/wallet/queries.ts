// Plain Kysely for wallet sign-in: the wallet_nonces table and the wallet side of users.
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import type { AuthUser } from '../sessions/service.ts';

/** The columns of an AuthUser: never password_hash. */
export const authUserColumns = [
  'id',
  'email',
  'username',
  'display_name',
  'avatar_url',
  'status',
  'custom_status',
  'wallet_address',
  'is_admin',
  'inserted_at',
] as const satisfies readonly (keyof AuthUser)[];

export async function insertNonce(
  db: Db,
  row: { nonce: string; address: string; userId: string | null; expiresAt: Date },
): Promise<void> {
  await db
    .insertInto('wallet_nonces')
    .values({ nonce: row.nonce, address: row.address, user_id: row.userId, expires_at: row.expiresAt })
    .execute();
}

/**
 * Uses a nonce up, atomically: only a live, unused nonce issued for this address and
 * purpose (userId null = sign-in, else linking for that user) matches. Concurrent callers
 * serialise on the row lock; after the first commits, the others match nothing.
 */
export function consumeNonce(
  db: Db,
  p: { nonce: string; address: string; userId: string | null },
): Promise<{ nonce: string; user_id: string | null } | undefined> {
  return db
    .updateTable('wallet_nonces')
    .set({ consumed_at: sql<Date>`now()` })
    .where('nonce', '=', p.nonce)
    .where('address', '=', p.address)
    .where('consumed_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .where('user_id', p.userId === null ? 'is' : '=', p.userId)
    .returning(['nonce', 'user_id'])
    .executeTakeFirst();
}

/** Deletes nonces that expired before `before` (used or not): for the cleanup job. */
/** Removes nonces that expired more than `graceMs` ago: for the cleanup job. */
export function sweepExpiredNonces(db: Db, graceMs = 24 * 3_600_000): Promise<number> {
  return deleteExpiredNonces(db, new Date(Date.now() - graceMs));
}

export async function deleteExpiredNonces(db: Db, before: Date): Promise<number> {
  const result = await db.deleteFrom('wallet_nonces').where('expires_at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}

export function findUserByWallet(db: Db, address: string): Promise<AuthUser | undefined> {
  return db
    .selectFrom('users')
    .select(authUserColumns)
    .where('wallet_address', '=', address)
    .executeTakeFirst();
}

/**
 * Creates a wallet-only user, or nothing when a unique index says no: the wallet is
 * already taken (a racing first sign-in) or the username is. ON CONFLICT DO NOTHING waits
 * for a racing insert to commit instead of aborting the transaction, so the caller can
 * re-read and tell the two apart.
 */
export function insertWalletUser(
  db: Db,
  p: { address: string; username: string },
): Promise<AuthUser | undefined> {
  return db
    .insertInto('users')
    .values({ wallet_address: p.address, username: p.username })
    .onConflict((oc) => oc.doNothing())
    .returning(authUserColumns)
    .executeTakeFirst();
}

/** Sets the user's wallet; a wallet held by another user violates users_wallet_address_index. */
export function setUserWallet(db: Db, userId: string, address: string): Promise<AuthUser | undefined> {
  return db
    .updateTable('users')
    .set({ wallet_address: address, updated_at: sql<Date>`now()` })
    .where('id', '=', userId)
    .returning(authUserColumns)
    .executeTakeFirst();
}
