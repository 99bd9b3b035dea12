import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/db.ts';
import { ValidationError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { Changeset, cast, persist, valueOrThrow } from './changeset.ts';

const t = useTestDatabase();

const FORUM_FIELDS = { name: 'string', slug: 'string', description: 'string', is_public: 'boolean' } as const;

function forumChangeset(attrs: unknown) {
  return cast({}, attrs, FORUM_FIELDS)
    .validateRequired(['name', 'slug'])
    .validateLength('name', { min: 1, max: 100 })
    .validateFormat('slug', /^[a-z0-9-]+$/)
    .validateLength('slug', { min: 2, max: 50 })
    .uniqueConstraint('slug', { name: 'forums_slug_index' });
}

describe('cast', () => {
  it('keeps only permitted fields, casts their types and turns blanks into null', () => {
    const changeset = cast(
      {},
      { name: 'Rust', slug: 'rust', is_admin: true, description: '   ', is_public: 'false' },
      FORUM_FIELDS,
    );
    expect(changeset.changes).toEqual({ name: 'Rust', slug: 'rust', is_public: false });
    expect(changeset.valid).toBe(true);
  });

  it('reports a value of the wrong type as "is invalid" and leaves it out of the changes', () => {
    const changeset = cast({}, { name: 42, slug: 'ok', is_public: 'maybe' }, FORUM_FIELDS);
    expect(changeset.errors).toEqual({ name: ['is invalid'], is_public: ['is invalid'] });
    expect(changeset.changes).toEqual({ slug: 'ok' });
  });

  it('casts integers and floats from numbers and numeric strings', () => {
    const changeset = cast(
      {},
      { a: '12', b: 7, c: '1.5', d: 1.5, e: 'x' },
      {
        a: 'integer',
        b: 'integer',
        c: 'float',
        d: 'integer',
        e: 'float',
      },
    );
    expect(changeset.changes).toEqual({ a: 12, b: 7, c: 1.5 });
    expect(changeset.errors).toEqual({ d: ['is invalid'], e: ['is invalid'] });
  });

  it('records only what differs from the data being updated', () => {
    const changeset = cast({ name: 'Rust', slug: 'rust' }, { name: 'Rust', slug: 'rustlang' }, FORUM_FIELDS);
    expect(changeset.changes).toEqual({ slug: 'rustlang' });
    expect(changeset.getField('name')).toBe('Rust');
    expect(changeset.getChange('name')).toBeUndefined();
  });

  it('refuses input that is not an object', () => {
    expect(cast({}, ['name'], FORUM_FIELDS).errors).toEqual({ _base: ['is invalid'] });
    expect(cast({}, null, FORUM_FIELDS).valid).toBe(false);
  });
});

describe('validations (Ecto messages)', () => {
  it("validateRequired: can't be blank, unless the data already has the value", () => {
    expect(forumChangeset({ description: 'x' }).errors).toEqual({
      name: ["can't be blank"],
      slug: ["can't be blank"],
    });
    const update = cast(
      { name: 'Rust', slug: 'rust' },
      { description: 'new' },
      FORUM_FIELDS,
    ).validateRequired(['name']);
    expect(update.valid).toBe(true);
    const cleared = cast({ name: 'Rust' }, { name: '' }, FORUM_FIELDS).validateRequired(['name']);
    expect(cleared.errors).toEqual({ name: ["can't be blank"] });
  });

  it('validateRequired does not pile onto a field that failed to cast', () => {
    expect(forumChangeset({ name: 5, slug: 'ok' }).errors).toEqual({ name: ['is invalid'] });
  });

  it('validateFormat: has invalid format', () => {
    expect(forumChangeset({ name: 'Rust', slug: 'Not A Slug' }).errors).toEqual({
      slug: ['has invalid format'],
    });
  });

  it('validateLength: at least / at most / exactly %{count} character(s), counted in code points', () => {
    expect(forumChangeset({ name: 'Rust', slug: 'r' }).errors).toEqual({
      slug: ['should be at least 2 character(s)'],
    });
    expect(forumChangeset({ name: 'x'.repeat(101), slug: 'ok' }).errors).toEqual({
      name: ['should be at most 100 character(s)'],
    });
    const exact = cast({}, { code: 'abc' }, { code: 'string' }).validateLength('code', { is: 4 });
    expect(exact.errors).toEqual({ code: ['should be 4 character(s)'] });
    // Four astral-plane emoji: 8 UTF-16 units, but 4 characters to PostgreSQL's char_length.
    const emoji = cast({}, { name: '😀😀😀😀' }, FORUM_FIELDS).validateLength('name', { max: 4 });
    expect(emoji.valid).toBe(true);
  });

  it('validateInclusion: is invalid', () => {
    const fields = { status: 'string' } as const;
    const statuses = ['online', 'idle', 'dnd', 'offline'];
    expect(cast({}, { status: 'away' }, fields).validateInclusion('status', statuses).errors).toEqual({
      status: ['is invalid'],
    });
    expect(cast({}, { status: 'dnd' }, fields).validateInclusion('status', statuses).valid).toBe(true);
  });

  it('validateChange runs a custom check on the new value only', () => {
    const noAdmins = (value: string) => (value.includes('admin') ? 'is reserved' : undefined);
    expect(
      forumChangeset({ name: 'Admins', slug: 'admin-team' }).validateChange('slug', noAdmins).errors,
    ).toEqual({
      slug: ['is reserved'],
    });
    const unchanged = cast({ slug: 'admin' }, {}, FORUM_FIELDS).validateChange('slug', noAdmins);
    expect(unchanged.valid).toBe(true);
  });

  it('putChange, getChange and deleteChange; every step returns a new changeset', () => {
    const base = Changeset.of<{ name: string }>({ name: 'old' });
    const changed = base.putChange('name', 'new').putChange('extra', 1);
    expect(base.changes).toEqual({});
    expect(changed.changes).toEqual({ name: 'new', extra: 1 });
    expect(changed.getChange('extra')).toBe(1);
    expect(changed.putChange('name', 'old').changes).toEqual({ extra: 1 });
    expect(changed.deleteChange('extra').changes).toEqual({ name: 'new' });
  });

  it('apply gives the would-be record or the errors', () => {
    expect(forumChangeset({ name: 'Go', slug: 'go' }).apply()).toEqual({
      ok: true,
      value: { name: 'Go', slug: 'go' },
    });
    expect(forumChangeset({ slug: 'go' }).apply()).toEqual({
      ok: false,
      errors: { name: ["can't be blank"] },
    });
  });
});

describe('persist: constraints become field errors', () => {
  const insertForum = (changes: { name?: string | null; slug?: string | null; owner_id?: string }) =>
    t.db
      .insertInto('forums')
      .values({ id: newId(), name: changes.name!, slug: changes.slug!, owner_id: changes.owner_id! })
      .returning(['id', 'slug'])
      .executeTakeFirstOrThrow();

  async function owner() {
    const id = newId();
    await t.db
      .insertInto('users')
      .values({ id, username: `u${id.slice(-8)}`, email: `${id}@example.com`, password_hash: 'x' })
      .execute();
    return id;
  }

  const newForum = async (attrs: Record<string, unknown>, ownerId?: string) =>
    forumChangeset(attrs).putChange('owner_id', ownerId ?? (await owner()));

  it('writes a valid changeset and returns the result', async () => {
    const result = await persist(await newForum({ name: 'Elixir', slug: 'elixir' }), insertForum);
    expect(result.ok && result.value.slug).toBe('elixir');
  });

  it('does not call write for an invalid changeset', async () => {
    let called = false;
    const result = await persist(forumChangeset({ name: '' }), () => {
      called = true;
      return Promise.resolve(null);
    });
    expect(called).toBe(false);
    expect(result).toEqual({ ok: false, errors: { name: ["can't be blank"], slug: ["can't be blank"] } });
  });

  it('turns a 23505 on a declared unique index into "has already been taken" on its field', async () => {
    const ownerId = await owner();
    expect((await persist(await newForum({ name: 'Zig', slug: 'zig' }, ownerId), insertForum)).ok).toBe(true);
    const again = await persist(await newForum({ name: 'Zig two', slug: 'zig' }, ownerId), insertForum);
    expect(again).toEqual({ ok: false, errors: { slug: ['has already been taken'] } });
    expect(await t.db.selectFrom('forums').where('slug', '=', 'zig').select('id').execute()).toHaveLength(1);
  });

  it('re-throws a violation of a constraint the changeset did not declare', async () => {
    const undeclared = cast({}, { name: 'Nim', slug: 'nim' }, FORUM_FIELDS).putChange(
      'owner_id',
      await owner(),
    );
    expect((await persist(undeclared, insertForum)).ok).toBe(true);
    await expect(persist(undeclared, insertForum)).rejects.toMatchObject({
      code: '23505',
      constraint: 'forums_slug_index',
    });
  });

  it('maps declared foreign key and check constraints', async () => {
    const missingOwner = await persist(
      forumChangeset({ name: 'Orphan', slug: 'orphan' })
        .putChange('owner_id', newId())
        .foreignKeyConstraint('owner_id', { name: 'forums_owner_id_fkey' }),
      insertForum,
    );
    expect(missingOwner).toEqual({ ok: false, errors: { owner_id: ['does not exist'] } });

    // No length validation in this changeset, so the table's CHECK answers.
    const tooLong = cast({}, { name: 'x'.repeat(101), slug: 'long' }, FORUM_FIELDS)
      .putChange('owner_id', await owner())
      .checkConstraint('name', { name: 'forums_name_check', message: 'is too long' });
    expect(await persist(tooLong, insertForum)).toEqual({ ok: false, errors: { name: ['is too long'] } });
  });

  it('valueOrThrow turns failed results into a 422 ValidationError with the fields', () => {
    expect(valueOrThrow({ ok: true, value: 1 })).toBe(1);
    let thrown: unknown;
    try {
      valueOrThrow({ ok: false, errors: { slug: ['has already been taken'] } });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    expect(thrown).toMatchObject({
      status: 422,
      code: 'validation_failed',
      fields: { slug: ['has already been taken'] },
    });
  });
});
