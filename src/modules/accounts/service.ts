// The accounts context: registration, login, the caller's profile, password change and
// public profiles. Login never tells whether an account exists: unknown users and wrong
// passwords get the same 401 after the same Argon2 work.
import { sql, type Selectable } from 'kysely';
import { cast, persist, valueOrThrow } from '../../db/changeset.ts';
import type { DB, Db } from '../../db/database.ts';
import type { EventBus } from '../../events/bus.ts';
import { transaction } from '../../db/unit-of-work.ts';
import { AppError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import { createSession, revokeOtherSessions, type AuthUser, type RequestMeta, type SessionPolicy } from '../sessions/service.ts';
import { dummyVerify, hashPassword, needsRehash, verifyPassword } from './password.ts';
import { PASSWORD_MAX, PASSWORD_MIN, registerUser } from './user-changeset.ts';

type UserRow = Selectable<DB['users']>;

export interface MeView {
  id: string;
  email: string | null;
  username: string;
  display_name: string | null;
  avatar_url: string | null;
  status: 'online' | 'idle' | 'dnd' | 'offline';
  custom_status: string | null;
  wallet_address: string | null;
  inserted_at: string;
}

export type PublicUserView = Omit<MeView, 'email' | 'wallet_address'>;

export function toMe(user: AuthUser | UserRow): MeView {
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    display_name: user.display_name,
    avatar_url: user.avatar_url,
    status: user.status,
    custom_status: user.custom_status,
    wallet_address: user.wallet_address,
    inserted_at: user.inserted_at.toISOString(),
  };
}

export function toPublicUser(user: UserRow): PublicUserView {
  const { email: _e, wallet_address: _w, ...view } = toMe(user);
  return view;
}

export interface AuthResult {
  user: MeView;
  token: string;
}

const invalidCredentials = () => new AppError('invalid_credentials', 'invalid login or password', 401);

export async function register(db: Db, policy: SessionPolicy, attrs: unknown, meta: RequestMeta): Promise<AuthResult> {
  const outcome = await transaction(db, async (trx) => {
    const user = valueOrThrow(await registerUser(trx, attrs));
    const { token } = await createSession(trx, policy, user.id, meta);
    return { user: toMe(user), token };
  });
  if (!outcome.ok) throw new Error('unreachable: register never fails by value');
  return outcome.value;
}

export async function login(
  db: Db,
  policy: SessionPolicy,
  input: { login: string; password: string },
  meta: RequestMeta,
): Promise<AuthResult> {
  const name = input.login.trim();
  // Oversized input cannot be an account; still pay the hash so timing says nothing.
  const user =
    name.length > 0 && name.length <= 254 && input.password.length <= PASSWORD_MAX
      ? await db
          .selectFrom('users')
          .selectAll()
          .where((eb) => (name.includes('@') ? eb('email', '=', name) : eb('username', '=', name.toLowerCase())))
          .executeTakeFirst()
      : undefined;
  if (!user?.password_hash) {
    await dummyVerify(input.password);
    throw invalidCredentials();
  }
  if (!(await verifyPassword(user.password_hash, input.password))) throw invalidCredentials();
  if (needsRehash(user.password_hash)) {
    await db
      .updateTable('users')
      .set({ password_hash: await hashPassword(input.password), updated_at: sql<Date>`now()` })
      .where('id', '=', user.id)
      .execute();
  }
  const { token } = await createSession(db, policy, user.id, meta);
  return { user: toMe(user), token };
}

export async function logout(db: Db, events: EventBus, userId: string, sessionId: string): Promise<void> {
  await db.deleteFrom('sessions').where('id', '=', sessionId).execute();
  events.publish({ type: 'sessions.revoked', userId, sessionIds: [sessionId] });
}

/** PATCH /me: the seed's changeset rules for the profile fields a user edits. */
export async function updateProfile(db: Db, events: EventBus, userId: string, attrs: unknown): Promise<MeView> {
  const current = await db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
  if (!current) throw new NotFoundError('user');
  const changeset = cast(current, attrs, {
    display_name: 'string',
    avatar_url: 'string',
    status: 'string',
    custom_status: 'string',
  })
    .validateLength('display_name', { max: 64 })
    .validateLength('avatar_url', { max: 2048 })
    .validateFormat('avatar_url', /^https?:\/\/[^\s/]+\S*$/, { message: 'must be an http(s) URL' })
    .validateRequired(['status'])
    .validateInclusion('status', ['online', 'idle', 'dnd', 'offline'])
    .validateLength('custom_status', { max: 128 });
  const updated = valueOrThrow(
    await persist(changeset, async (changes) => {
      if (Object.keys(changes).length === 0) return current;
      return db
        .updateTable('users')
        .set({ ...changes, status: changes.status, updated_at: sql<Date>`now()` })
        .where('id', '=', userId)
        .returningAll()
        .executeTakeFirstOrThrow();
    }),
  );
  if (updated !== current) events.publish({ type: 'user.updated', userId });
  return toMe(updated);
}

/** Changes the password and revokes every other session; returns the revoked session ids. */
export async function changePassword(
  db: Db,
  events: EventBus,
  userId: string,
  currentSessionId: string,
  input: { current_password: string; new_password: string },
): Promise<string[]> {
  const user = await db.selectFrom('users').select(['id', 'password_hash']).where('id', '=', userId).executeTakeFirst();
  if (!user) throw new NotFoundError('user');
  if (!user.password_hash || !(await verifyPassword(user.password_hash, input.current_password))) {
    throw new ValidationError({ current_password: ['is invalid'] });
  }
  const length = input.new_password.length;
  if (length < PASSWORD_MIN) throw new ValidationError({ new_password: [`should be at least ${PASSWORD_MIN} character(s)`] });
  if (length > PASSWORD_MAX) throw new ValidationError({ new_password: [`should be at most ${PASSWORD_MAX} character(s)`] });
  const passwordHash = await hashPassword(input.new_password);
  const outcome = await transaction(db, async (trx) => {
    await trx
      .updateTable('users')
      .set({ password_hash: passwordHash, updated_at: sql<Date>`now()` })
      .where('id', '=', userId)
      .execute();
    return revokeOtherSessions(trx, userId, currentSessionId);
  });
  if (!outcome.ok) throw new Error('unreachable: changePassword never fails by value');
  events.publish({ type: 'sessions.revoked', userId, sessionIds: outcome.value });
  return outcome.value;
}

export async function publicProfile(db: Db, username: string): Promise<PublicUserView> {
  const name = username.toLowerCase();
  if (!/^[a-z0-9_]{3,20}$/.test(name)) throw new NotFoundError('user');
  const user = await db.selectFrom('users').selectAll().where('username', '=', name).executeTakeFirst();
  if (!user) throw new NotFoundError('user');
  return toPublicUser(user);
}
