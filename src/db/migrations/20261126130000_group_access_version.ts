import { sql, type Kysely } from 'kysely';

// groups.access_version: a counter the database moves whenever anything that decides a
// member's permissions in the group changes: a membership (join, leave, kick, ban), a
// member's roles, a role (its permissions or position, created or deleted), a channel's
// overwrites, a channel's privacy or type, the owner. Triggers move it, so no code path
// (nor a manual UPDATE) can forget to.
//
// What it is for (docs/groups.md "Access cache"): a node may keep a member's channel access
// between requests and send its hot statements (a channel send, a history page) with the
// version it was computed at; the statement itself compares it with the group's current
// version and refuses when they differ, and only then is the access loaded afresh. A
// decision is therefore never staler than the statement that acts on it.
//
// Bulk writes (the demo's COPY-sized inserts of member roles and overwrites) would pay a
// row-level trigger per row: the tables written in bulk use statement-level triggers with
// transition tables, one update per group touched.

const BUMP_FROM = (table: string) => `
  UPDATE groups SET access_version = access_version + 1
  WHERE id IN (SELECT DISTINCT group_id FROM ${table})`;

/**
 * cgraph_group_members_count (20261125000600) with `also` added to both of its updates.
 * The body keeps that migration's text to the whitespace: down must restore it exactly.
 */
async function membersCountFunction(db: Kysely<any>, also: string): Promise<void> {
  const body = `
    BEGIN
      IF TG_OP = 'UPDATE' AND OLD.group_id = NEW.group_id THEN
        RETURN NULL;
      END IF;
      IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE groups SET member_count = member_count - 1${also} WHERE id = OLD.group_id;
      END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE groups SET member_count = member_count + 1${also} WHERE id = NEW.group_id;
      END IF;
      RETURN NULL;
    END
    `;
  await sql.raw(`CREATE OR REPLACE FUNCTION cgraph_group_members_count() RETURNS trigger LANGUAGE plpgsql AS $$${body}$$`).execute(db);
}

const STATEMENT_TABLES = ['group_member_roles', 'roles', 'channel_permission_overwrites'] as const;

export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE groups ADD COLUMN access_version bigint NOT NULL DEFAULT 0`.execute(db);

  // Memberships: the member count trigger already updates the group's row for each
  // membership written, so it moves the version in the same update.
  await membersCountFunction(db, ', access_version = access_version + 1');

  // Statement-level: one function per transition table name.
  await sql.raw(`
    CREATE FUNCTION cgraph_group_access_new_rows() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN ${BUMP_FROM('new_rows')}; RETURN NULL; END $$
  `).execute(db);
  await sql.raw(`
    CREATE FUNCTION cgraph_group_access_old_rows() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN ${BUMP_FROM('old_rows')}; RETURN NULL; END $$
  `).execute(db);
  for (const table of STATEMENT_TABLES) {
    await sql.raw(`
      CREATE TRIGGER ${table}_access_insert AFTER INSERT ON ${table}
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cgraph_group_access_new_rows()
    `).execute(db);
    // An update may move rows between groups only in theory (group_id is part of each
    // table's foreign keys); the old rows' groups are the ones whose access changed.
    await sql.raw(`
      CREATE TRIGGER ${table}_access_update AFTER UPDATE ON ${table}
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cgraph_group_access_old_rows()
    `).execute(db);
    await sql.raw(`
      CREATE TRIGGER ${table}_access_delete AFTER DELETE ON ${table}
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cgraph_group_access_old_rows()
    `).execute(db);
  }

  // Channels: only a change of privacy or type matters (a send updates the channel's row
  // every time; those updates must not move the version).
  await sql`
    CREATE FUNCTION cgraph_channel_access() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE groups SET access_version = access_version + 1 WHERE id = NEW.group_id;
      RETURN NULL;
    END $$
  `.execute(db);
  await sql`
    CREATE TRIGGER channels_access_update AFTER UPDATE OF is_private, type ON channels
      FOR EACH ROW WHEN (OLD.is_private IS DISTINCT FROM NEW.is_private OR OLD.type IS DISTINCT FROM NEW.type)
      EXECUTE FUNCTION cgraph_channel_access()
  `.execute(db);

  // The owner: in the same row, before it is written.
  await sql`
    CREATE FUNCTION cgraph_group_owner_access() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.access_version := OLD.access_version + 1;
      RETURN NEW;
    END $$
  `.execute(db);
  await sql`
    CREATE TRIGGER groups_owner_access BEFORE UPDATE OF owner_id ON groups
      FOR EACH ROW WHEN (OLD.owner_id IS DISTINCT FROM NEW.owner_id)
      EXECUTE FUNCTION cgraph_group_owner_access()
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TRIGGER groups_owner_access ON groups`.execute(db);
  await sql`DROP FUNCTION cgraph_group_owner_access()`.execute(db);
  await sql`DROP TRIGGER channels_access_update ON channels`.execute(db);
  await sql`DROP FUNCTION cgraph_channel_access()`.execute(db);
  for (const table of STATEMENT_TABLES) {
    for (const event of ['insert', 'update', 'delete']) await sql.raw(`DROP TRIGGER ${table}_access_${event} ON ${table}`).execute(db);
  }
  await sql`DROP FUNCTION cgraph_group_access_old_rows()`.execute(db);
  await sql`DROP FUNCTION cgraph_group_access_new_rows()`.execute(db);
  await membersCountFunction(db, '');
  await sql`ALTER TABLE groups DROP COLUMN access_version`.execute(db);
}
