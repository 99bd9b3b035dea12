// `cgraph db seed`: the seed's priv/repo/seeds.exs. Idempotent: a second run finds the
// admin and the forums by their unique keys and changes nothing.
import { sql } from 'kysely';
import type { Config } from '../config.ts';
import { newId } from '../lib/ids.ts';
import { hashPassword } from '../modules/accounts/password.ts';
import type { Db } from './database.ts';

export const DEFAULT_FORUMS = [
  { name: 'General', slug: 'general', description: 'General discussion' },
  { name: 'Announcements', slug: 'announcements', description: 'Official announcements' },
  { name: 'Help', slug: 'help', description: 'Get help here' },
] as const;

const DEVELOPMENT_ADMIN_PASSWORD = 'adminpassword';

export class SeedError extends Error {
  override readonly name = 'SeedError';
}

export interface SeedResult {
  adminCreated: boolean;
  forumsCreated: string[];
}

function adminPassword(config: Config): string {
  if (config.admin.password) return config.admin.password;
  if (config.env === 'development') return DEVELOPMENT_ADMIN_PASSWORD;
  throw new SeedError(`CGRAPH_ADMIN_PASSWORD is not set: ${config.env} seeds refuse a default admin password`);
}

export async function runSeeds(db: Db, config: Config): Promise<SeedResult> {
  const password = adminPassword(config);
  if (password.length < 8) throw new SeedError('CGRAPH_ADMIN_PASSWORD must have at least 8 characters');

  return db.transaction().execute(async (trx) => {
    // Serialise concurrent seeders so the check-then-insert below is safe.
    await sql`SELECT pg_advisory_xact_lock(hashtext('cgraph.seeds'))`.execute(trx);
    let admin = await trx.selectFrom('users').select('id').where('username', '=', 'admin').executeTakeFirst();
    const adminCreated = !admin;
    if (!admin) {
      admin = await trx
        .insertInto('users')
        .values({
          id: newId(),
          email: config.admin.email,
          username: 'admin',
          password_hash: await hashPassword(password),
          display_name: 'Administrator',
          status: 'offline',
          is_admin: true,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
    }
    const created = await trx
      .insertInto('forums')
      .values(DEFAULT_FORUMS.map((forum) => ({ id: newId(), ...forum, owner_id: admin.id, is_public: true })))
      .onConflict((oc) => oc.column('slug').doNothing())
      .returning('slug')
      .execute();
    return { adminCreated, forumsCreated: created.map((row) => row.slug) };
  });
}
