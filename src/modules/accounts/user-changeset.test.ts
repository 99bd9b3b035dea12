import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../../test/db.ts';
import { valueOrThrow } from '../../db/changeset.ts';
import { ValidationError } from '../../lib/errors.ts';
import { verifyPassword } from './password.ts';
import { registerUser, registrationChangeset, userChangeset } from './user-changeset.ts';

const t = useTestDatabase();

const valid = { email: 'ada@example.com', username: 'ada_l', password: 'analytical engine' };

describe('userChangeset (the seed User.changeset)', () => {
  it('casts only the profile fields', () => {
    const changeset = userChangeset({}, { ...valid, display_name: 'Ada', is_admin: true, status: 'online' });
    expect(changeset.valid).toBe(true);
    expect(changeset.changes).toEqual({ email: 'ada@example.com', username: 'ada_l', display_name: 'Ada' });
  });

  it('requires email and username', () => {
    expect(userChangeset({}, { display_name: 'Nobody' }).errors).toEqual({
      email: ["can't be blank"],
      username: ["can't be blank"],
    });
  });

  it.each([
    ['no-at-sign.example.com'],
    ['two@@example.com'],
    ['spaces in@example.com'],
    ['nodomain@'],
    ['dotless@localhost'],
    ['trailing@dot.'],
  ])('rejects the email %s', (email) => {
    expect(userChangeset({}, { ...valid, email }).errors).toEqual({ email: ['has invalid format'] });
  });

  it('accepts plus addressing and subdomains, and caps email at 254 characters', () => {
    expect(userChangeset({}, { ...valid, email: 'ada+cgraph@mail.example.co.uk' }).valid).toBe(true);
    const long = `${'a'.repeat(64)}@${'b'.repeat(186)}.com`;
    expect(long).toHaveLength(255);
    expect(userChangeset({}, { ...valid, email: long }).errors).toEqual({
      email: ['should be at most 254 character(s)'],
    });
  });

  it('checks username length 3–20 and ^[a-z0-9_]+$', () => {
    expect(userChangeset({}, { ...valid, username: 'ab' }).errors).toEqual({
      username: ['should be at least 3 character(s)'],
    });
    expect(userChangeset({}, { ...valid, username: 'a'.repeat(21) }).errors).toEqual({
      username: ['should be at most 20 character(s)'],
    });
    expect(userChangeset({}, { ...valid, username: 'Ada-L' }).errors).toEqual({
      username: ['has invalid format'],
    });
    expect(userChangeset({}, { ...valid, username: 'x!' }).errors).toEqual({
      username: ['should be at least 3 character(s)', 'has invalid format'],
    });
  });

  it('checks avatar_url and display_name against the table limits', () => {
    expect(
      userChangeset({}, { ...valid, avatar_url: 'javascript:alert(1)', display_name: 'x'.repeat(65) }).errors,
    ).toEqual({
      avatar_url: ['has invalid format'],
      display_name: ['should be at most 64 character(s)'],
    });
  });
});

describe('registrationChangeset', () => {
  it('hashes the password into password_hash and drops the plain password', async () => {
    const changeset = await registrationChangeset({}, valid);
    expect(changeset.valid).toBe(true);
    expect(Object.keys(changeset.changes).sort()).toEqual(['email', 'password_hash', 'username']);
    expect(JSON.stringify(changeset.changes)).not.toContain(valid.password);
    const hash = changeset.getChange('password_hash')!;
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(hash, valid.password)).toBe(true);
  });

  it('requires a password of 8 to 256 characters, and hashes nothing when invalid', async () => {
    const missing = await registrationChangeset({}, { email: valid.email, username: valid.username });
    expect(missing.errors).toEqual({ password: ["can't be blank"] });
    const short = await registrationChangeset({}, { ...valid, password: 'short' });
    expect(short.errors).toEqual({ password: ['should be at least 8 character(s)'] });
    expect(short.changes).not.toHaveProperty('password');
    expect(short.changes).not.toHaveProperty('password_hash');
    const long = await registrationChangeset({}, { ...valid, password: 'p'.repeat(257) });
    expect(long.errors).toEqual({ password: ['should be at most 256 character(s)'] });
  });
});

describe('registerUser', () => {
  it('inserts the user with an Argon2id hash and returns the row', async () => {
    const result = await registerUser(t.db, { ...valid, display_name: 'Ada Lovelace' });
    const user = valueOrThrow(result);
    expect(user).toMatchObject({
      email: 'ada@example.com',
      username: 'ada_l',
      display_name: 'Ada Lovelace',
      status: 'offline',
    });
    expect(user.password_hash).toMatch(/^\$argon2id\$/);
    const stored = await t.db
      .selectFrom('users')
      .selectAll()
      .where('id', '=', user.id)
      .executeTakeFirstOrThrow();
    expect(stored.password_hash).toBe(user.password_hash);
    expect(Object.values(stored)).not.toContain(valid.password);
  });

  it('reports a taken username on the username field', async () => {
    const result = await registerUser(t.db, { ...valid, email: 'other@example.com' });
    expect(result).toEqual({ ok: false, errors: { username: ['has already been taken'] } });
  });

  it('reports a taken email on the email field, in any letter case (citext)', async () => {
    const result = await registerUser(t.db, { ...valid, email: 'ADA@Example.COM', username: 'ada_two' });
    expect(result).toEqual({ ok: false, errors: { email: ['has already been taken'] } });
    const rows = await t.db
      .selectFrom('users')
      .select('username')
      .where('email', '=', 'ada@example.com')
      .execute();
    expect(rows).toEqual([{ username: 'ada_l' }]);
  });

  it('returns field errors without touching the database when the input is invalid', async () => {
    const result = await registerUser(t.db, { email: 'nope', username: 'A', password: '1' });
    expect(result).toEqual({
      ok: false,
      errors: {
        email: ['has invalid format'],
        username: ['should be at least 3 character(s)', 'has invalid format'],
        password: ['should be at least 8 character(s)'],
      },
    });
    expect(() => valueOrThrow(result)).toThrow(ValidationError);
  });
});
