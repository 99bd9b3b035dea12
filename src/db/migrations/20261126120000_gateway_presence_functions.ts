import { sql, type Kysely } from 'kysely';

// Presence transitions of the realtime gateway (docs/gateway.md "Presence") as one
// statement each. A transition takes the user's advisory lock and then reads and writes
// gateway_presence and users.status; from the application that was a transaction of seven
// round trips (BEGIN, lock, four statements, COMMIT) on every identify and every last
// disconnect. Inside a function each statement takes a fresh snapshot (READ COMMITTED), so
// what follows the lock sees every change committed before it was granted, and the lock is
// held until the calling statement commits.
//
// cgraph_presence_connect: this node holds a connection of the user. Returns the status to
// announce, or NULL: nothing when the user was already live on another node (unless a swept
// idle woke up), nor when the user is invisible (stored offline while live elsewhere).
// cgraph_presence_disconnect: this node's last connection of the user is gone (after the
// grace period). Returns true when offline must be announced (no other node holds the user
// and the stored status was not offline); online and idle become offline, dnd is kept.
// The lock key is the one src/gateway/presence.ts takes for the stale-node sweep.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION cgraph_presence_connect(p_user uuid, p_node uuid, p_stale_seconds integer) RETURNS text
    LANGUAGE plpgsql AS $$
    DECLARE
      elsewhere boolean;
      woke integer;
      current_status text;
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtextextended('presence:' || p_user::text, 0));
      SELECT EXISTS (
        SELECT 1 FROM gateway_presence
         WHERE user_id = p_user AND node_id <> p_node
           AND seen_at > now() - make_interval(secs => p_stale_seconds)
      ) INTO elsewhere;
      INSERT INTO gateway_presence (user_id, node_id) VALUES (p_user, p_node)
        ON CONFLICT (user_id, node_id) DO UPDATE SET seen_at = now();
      UPDATE users SET status = 'online'
       WHERE id = p_user AND (status = 'idle' OR (status = 'offline' AND NOT elsewhere));
      GET DIAGNOSTICS woke = ROW_COUNT;
      SELECT status INTO current_status FROM users WHERE id = p_user;
      IF current_status IS NULL OR current_status = 'offline' THEN
        RETURN NULL;
      END IF;
      IF NOT elsewhere OR woke > 0 THEN
        RETURN current_status;
      END IF;
      RETURN NULL;
    END
    $$
  `.execute(db);
  await sql`
    CREATE FUNCTION cgraph_presence_disconnect(p_user uuid, p_node uuid, p_stale_seconds integer) RETURNS boolean
    LANGUAGE plpgsql AS $$
    DECLARE
      previous_status text;
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtextextended('presence:' || p_user::text, 0));
      DELETE FROM gateway_presence WHERE user_id = p_user AND node_id = p_node;
      IF EXISTS (
        SELECT 1 FROM gateway_presence
         WHERE user_id = p_user AND node_id <> p_node
           AND seen_at > now() - make_interval(secs => p_stale_seconds)
      ) THEN
        RETURN false;
      END IF;
      SELECT status INTO previous_status FROM users WHERE id = p_user;
      UPDATE users SET status = 'offline' WHERE id = p_user AND status IN ('online', 'idle');
      RETURN previous_status IS NOT NULL AND previous_status <> 'offline';
    END
    $$
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION cgraph_presence_disconnect(uuid, uuid, integer)`.execute(db);
  await sql`DROP FUNCTION cgraph_presence_connect(uuid, uuid, integer)`.execute(db);
}
