// The seed's User.changeset and registration_changeset, and the insert that uses them.
// Validations mirror the users table's CHECK constraints, so bad input is reported field
// by field instead of failing in PostgreSQL; the unique indexes are declared so a
// duplicate that slips past (two sign-ups racing) is a field error too.
import type { Selectable } from 'kysely';
import { cast, persist, type CastValues, type Changeset, type Result } from '../../db/changeset.ts';
import type { DB, Db } from '../../db/database.ts';
import { newId } from '../../lib/ids.ts';
import { hashPassword } from './password.ts';

export type UserRow = Selectable<DB['users']>;

const PROFILE_FIELDS = {
  email: 'string',
  username: 'string',
  display_name: 'string',
  avatar_url: 'string',
} as const;

// One @, no whitespace, and a dotted domain without empty labels: stricter than the seed's
// ~r/@/ and than the table's CHECK, sane for every address people actually sign up with.
const EMAIL = /^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$/;
const USERNAME = /^[a-z0-9_]+$/;
const HTTP_URL = /^https?:\/\//;

export const PASSWORD_MIN = 8;
// Long enough for any passphrase, short enough that hashing cost stays bounded.
export const PASSWORD_MAX = 256;

export type UserChangeset = Changeset<UserRow & CastValues<typeof PROFILE_FIELDS>>;

/** User.changeset: the profile fields a user sets at sign-up and edits later. */
export function userChangeset(user: Partial<UserRow>, attrs: unknown): UserChangeset {
  return cast(user, attrs, PROFILE_FIELDS)
    .validateRequired(['email', 'username'])
    .validateLength('email', { max: 254 })
    .validateFormat('email', EMAIL)
    .validateLength('username', { min: 3, max: 20 })
    .validateFormat('username', USERNAME)
    .validateLength('display_name', { max: 64 })
    .validateLength('avatar_url', { max: 2048 })
    .validateFormat('avatar_url', HTTP_URL)
    .uniqueConstraint('email', { name: 'users_email_index' })
    .uniqueConstraint('username', { name: 'users_username_index' });
}

/**
 * registration_changeset: the profile plus a password, hashed with Argon2id into
 * password_hash. The plain password is dropped from the changes whatever happens, so it
 * can never be written or logged with them; it is only hashed when everything else is
 * valid, so rejected input costs no 50 ms hash.
 */
export async function registrationChangeset(user: Partial<UserRow>, attrs: unknown): Promise<UserChangeset> {
  const changeset = userChangeset(user, attrs)
    .cast(attrs, { password: 'string' })
    .validateRequired(['password'])
    .validateLength('password', { min: PASSWORD_MIN, max: PASSWORD_MAX });
  const password = changeset.getChange('password');
  const withoutPassword = changeset.deleteChange('password');
  if (!withoutPassword.valid || typeof password !== 'string') return withoutPassword;
  return withoutPassword.putChange('password_hash', await hashPassword(password));
}

/**
 * Creates a user from sign-up input: the row, or field errors (`{ email: ['has already
 * been taken'] }` for an email in use in any letter case, since email is citext).
 */
export async function registerUser(db: Db, attrs: unknown): Promise<Result<UserRow>> {
  const changeset = await registrationChangeset({}, attrs);
  return persist(changeset, (changes) =>
    db
      .insertInto('users')
      .values({
        id: newId(),
        email: changes.email,
        username: changes.username!,
        display_name: changes.display_name,
        avatar_url: changes.avatar_url,
        password_hash: changes.password_hash,
      })
      .returningAll()
      .executeTakeFirstOrThrow(),
  );
}
