import { sql, type Kysely } from 'kysely';

// groups.access_version (20261126130000) also moves when a channel is created or deleted,
// or when any of a channel's own fields changes (name, topic, position, category, type,
// privacy, updated_at), so that a node may keep the channel list's definitions between
// requests (src/modules/groups/channel-list.ts). A send's update of last_message_seq /
// last_message_at changes none of these and moves nothing.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`DROP TRIGGER channels_access_update ON channels`.execute(db);
  await sql`
    CREATE TRIGGER channels_access_update AFTER UPDATE ON channels
      FOR EACH ROW WHEN (
        (OLD.name, OLD.topic, OLD.position, OLD.category_id, OLD.type, OLD.is_private, OLD.updated_at)
        IS DISTINCT FROM (NEW.name, NEW.topic, NEW.position, NEW.category_id, NEW.type, NEW.is_private, NEW.updated_at)
      )
      EXECUTE FUNCTION cgraph_channel_access()
  `.execute(db);
  // Statement-level (the demo creates channels in bulk); the functions of 20261126130000.
  await sql`
    CREATE TRIGGER channels_access_insert AFTER INSERT ON channels
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cgraph_group_access_new_rows()
  `.execute(db);
  await sql`
    CREATE TRIGGER channels_access_delete AFTER DELETE ON channels
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cgraph_group_access_old_rows()
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TRIGGER channels_access_delete ON channels`.execute(db);
  await sql`DROP TRIGGER channels_access_insert ON channels`.execute(db);
  await sql`DROP TRIGGER channels_access_update ON channels`.execute(db);
  await sql`
    CREATE TRIGGER channels_access_update AFTER UPDATE OF is_private, type ON channels
      FOR EACH ROW WHEN (OLD.is_private IS DISTINCT FROM NEW.is_private OR OLD.type IS DISTINCT FROM NEW.type)
      EXECUTE FUNCTION cgraph_channel_access()
  `.execute(db);
}
