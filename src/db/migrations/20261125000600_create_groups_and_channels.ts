import { sql, type Kysely } from 'kysely';

// Groups (Discord-like servers): groups, invites, members, roles, bans, channel
// categories, channels, per-role channel permission overwrites, channel messages and
// per-user channel read state.
//
// Tables that belong to a group carry group_id and expose UNIQUE (group_id, id); rows that
// point at another group-scoped row do so through a composite foreign key
// (group_id, x_id) -> x (group_id, id), so the database itself refuses, say, a role of
// group A given to a member of group B, or a channel filed under another group's category.
//
// groups.member_count is kept exact by a trigger on group_members (the application never
// writes it).

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE groups (
      id            uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      name          text        NOT NULL,
      icon_url      text        NULL,
      description   text        NULL,
      is_public     boolean     NOT NULL DEFAULT false,
      invite_code   text        NULL,
      owner_id      uuid        NOT NULL,
      member_count  integer     NOT NULL DEFAULT 0,
      inserted_at   timestamptz NOT NULL DEFAULT now(),
      updated_at    timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT groups_pkey PRIMARY KEY (id),
      CONSTRAINT groups_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE RESTRICT,
      CONSTRAINT groups_name_check CHECK (char_length(name) BETWEEN 1 AND 100),
      CONSTRAINT groups_icon_url_check CHECK (char_length(icon_url) <= 2048 AND icon_url ~ '^https?://'),
      CONSTRAINT groups_description_check CHECK (char_length(description) <= 1000),
      CONSTRAINT groups_invite_code_check CHECK (invite_code ~ '^[A-Za-z0-9]{6,32}$'),
      CONSTRAINT groups_member_count_check CHECK (member_count >= 0)
    )
  `.execute(db);
  await sql`CREATE UNIQUE INDEX groups_invite_code_index ON groups (invite_code)`.execute(db);
  // Serves the ON DELETE RESTRICT check when a user is deleted ("owns groups?").
  await sql`CREATE INDEX groups_owner_id_index ON groups (owner_id)`.execute(db);
  // Discovery: public groups, biggest first, keyset-paged on (member_count, id).
  await sql`
    CREATE INDEX groups_member_count_id_public_index ON groups (member_count DESC, id DESC) WHERE is_public
  `.execute(db);

  await sql`
    CREATE TABLE group_invites (
      code         text        NOT NULL,
      group_id     uuid        NOT NULL,
      inviter_id   uuid        NULL,
      expires_at   timestamptz NULL,
      max_uses     integer     NULL,
      uses         integer     NOT NULL DEFAULT 0,
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT group_invites_pkey PRIMARY KEY (code),
      CONSTRAINT group_invites_group_id_fkey FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE CASCADE,
      CONSTRAINT group_invites_inviter_id_fkey FOREIGN KEY (inviter_id) REFERENCES users (id) ON DELETE SET NULL,
      CONSTRAINT group_invites_code_check CHECK (code ~ '^[A-Za-z0-9]{6,32}$'),
      CONSTRAINT group_invites_max_uses_check CHECK (max_uses > 0),
      CONSTRAINT group_invites_uses_check CHECK (uses >= 0 AND (max_uses IS NULL OR uses <= max_uses))
    )
  `.execute(db);
  // A group's invites; UNIQUE so groups.invite_code can reference (group_id, code).
  await sql`
    CREATE UNIQUE INDEX group_invites_group_id_code_index ON group_invites (group_id, code)
  `.execute(db);
  await sql`
    CREATE INDEX group_invites_inviter_id_index ON group_invites (inviter_id) WHERE inviter_id IS NOT NULL
  `.execute(db);
  // The group's current default invite is one of its own invites; deleting that invite
  // clears it.
  await sql`
    ALTER TABLE groups ADD CONSTRAINT groups_invite_code_fkey
      FOREIGN KEY (id, invite_code) REFERENCES group_invites (group_id, code)
      ON DELETE SET NULL (invite_code)
  `.execute(db);

  await sql`
    CREATE TABLE group_members (
      id           uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      group_id     uuid        NOT NULL,
      user_id      uuid        NOT NULL,
      nickname     text        NULL,
      joined_at    timestamptz NOT NULL DEFAULT now(),
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT group_members_pkey PRIMARY KEY (id),
      CONSTRAINT group_members_group_id_fkey FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE CASCADE,
      CONSTRAINT group_members_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
      CONSTRAINT group_members_nickname_check CHECK (char_length(nickname) <= 32)
    )
  `.execute(db);
  await sql`
    CREATE UNIQUE INDEX group_members_group_id_user_id_index ON group_members (group_id, user_id)
  `.execute(db);
  // Target of group_member_roles' composite key; also the member list keyset (group_id, id).
  await sql`CREATE UNIQUE INDEX group_members_group_id_id_index ON group_members (group_id, id)`.execute(db);
  // "My groups", keyset-paged on group_id.
  await sql`
    CREATE INDEX group_members_user_id_group_id_index ON group_members (user_id, group_id)
  `.execute(db);

  await sql`
    CREATE FUNCTION cgraph_group_members_count() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND OLD.group_id = NEW.group_id THEN
        RETURN NULL;
      END IF;
      IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE groups SET member_count = member_count - 1 WHERE id = OLD.group_id;
      END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE groups SET member_count = member_count + 1 WHERE id = NEW.group_id;
      END IF;
      RETURN NULL;
    END
    $$
  `.execute(db);
  await sql`
    CREATE TRIGGER group_members_count_trigger
      AFTER INSERT OR DELETE OR UPDATE OF group_id ON group_members
      FOR EACH ROW EXECUTE FUNCTION cgraph_group_members_count()
  `.execute(db);

  await sql`
    CREATE TABLE roles (
      id           uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      group_id     uuid        NOT NULL,
      name         text        NOT NULL,
      color        text        NULL,
      position     integer     NOT NULL DEFAULT 0,
      permissions  bigint      NOT NULL DEFAULT 0,
      is_default   boolean     NOT NULL DEFAULT false,
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT roles_pkey PRIMARY KEY (id),
      CONSTRAINT roles_group_id_fkey FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE CASCADE,
      CONSTRAINT roles_name_check CHECK (char_length(name) BETWEEN 1 AND 100),
      CONSTRAINT roles_color_check CHECK (color ~ '^#[0-9a-fA-F]{6}$'),
      CONSTRAINT roles_position_check CHECK (position >= 0),
      CONSTRAINT roles_permissions_check CHECK (permissions >= 0 AND permissions < 4294967296)
    )
  `.execute(db);
  // One @everyone role per group.
  await sql`
    CREATE UNIQUE INDEX roles_group_id_default_index ON roles (group_id) WHERE is_default
  `.execute(db);
  await sql`CREATE UNIQUE INDEX roles_group_id_id_index ON roles (group_id, id)`.execute(db);
  await sql`CREATE INDEX roles_group_id_position_index ON roles (group_id, position)`.execute(db);

  await sql`
    CREATE TABLE group_member_roles (
      group_id         uuid        NOT NULL,
      group_member_id  uuid        NOT NULL,
      role_id          uuid        NOT NULL,
      inserted_at      timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT group_member_roles_pkey PRIMARY KEY (group_member_id, role_id),
      CONSTRAINT group_member_roles_group_member_id_fkey
        FOREIGN KEY (group_id, group_member_id) REFERENCES group_members (group_id, id) ON DELETE CASCADE,
      CONSTRAINT group_member_roles_role_id_fkey
        FOREIGN KEY (group_id, role_id) REFERENCES roles (group_id, id) ON DELETE CASCADE
    )
  `.execute(db);
  await sql`CREATE INDEX group_member_roles_role_id_index ON group_member_roles (role_id)`.execute(db);

  await sql`
    CREATE TABLE group_bans (
      group_id      uuid        NOT NULL,
      user_id       uuid        NOT NULL,
      banned_by_id  uuid        NULL,
      reason        text        NULL,
      inserted_at   timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT group_bans_pkey PRIMARY KEY (group_id, user_id),
      CONSTRAINT group_bans_group_id_fkey FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE CASCADE,
      CONSTRAINT group_bans_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
      CONSTRAINT group_bans_banned_by_id_fkey FOREIGN KEY (banned_by_id) REFERENCES users (id) ON DELETE SET NULL,
      CONSTRAINT group_bans_reason_check CHECK (char_length(reason) <= 512)
    )
  `.execute(db);
  await sql`CREATE INDEX group_bans_user_id_index ON group_bans (user_id)`.execute(db);
  await sql`
    CREATE INDEX group_bans_banned_by_id_index ON group_bans (banned_by_id) WHERE banned_by_id IS NOT NULL
  `.execute(db);

  await sql`
    CREATE TABLE channel_categories (
      id           uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      group_id     uuid        NOT NULL,
      name         text        NOT NULL,
      position     integer     NOT NULL DEFAULT 0,
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT channel_categories_pkey PRIMARY KEY (id),
      CONSTRAINT channel_categories_group_id_fkey FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE CASCADE,
      CONSTRAINT channel_categories_name_check CHECK (char_length(name) BETWEEN 1 AND 100),
      CONSTRAINT channel_categories_position_check CHECK (position >= 0)
    )
  `.execute(db);
  await sql`
    CREATE UNIQUE INDEX channel_categories_group_id_id_index ON channel_categories (group_id, id)
  `.execute(db);
  await sql`
    CREATE INDEX channel_categories_group_id_position_index ON channel_categories (group_id, position)
  `.execute(db);

  await sql`
    CREATE TABLE channels (
      id                uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      group_id          uuid        NOT NULL,
      category_id       uuid        NULL,
      name              text        NOT NULL,
      type              text        NOT NULL DEFAULT 'text',
      topic             text        NULL,
      position          integer     NOT NULL DEFAULT 0,
      is_private        boolean     NOT NULL DEFAULT false,
      last_message_seq  bigint      NOT NULL DEFAULT 0,
      last_message_at   timestamptz NULL,
      inserted_at       timestamptz NOT NULL DEFAULT now(),
      updated_at        timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT channels_pkey PRIMARY KEY (id),
      CONSTRAINT channels_group_id_fkey FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE CASCADE,
      CONSTRAINT channels_category_id_fkey
        FOREIGN KEY (group_id, category_id) REFERENCES channel_categories (group_id, id)
        ON DELETE SET NULL (category_id),
      CONSTRAINT channels_name_check CHECK (char_length(name) BETWEEN 1 AND 100),
      CONSTRAINT channels_type_check CHECK (type IN ('text', 'voice', 'announcement')),
      CONSTRAINT channels_topic_check CHECK (char_length(topic) <= 1024),
      CONSTRAINT channels_position_check CHECK (position >= 0),
      CONSTRAINT channels_last_message_seq_check CHECK (last_message_seq >= 0)
    )
  `.execute(db);
  await sql`CREATE UNIQUE INDEX channels_group_id_id_index ON channels (group_id, id)`.execute(db);
  // The channel list of a group, in display order.
  await sql`
    CREATE INDEX channels_group_id_position_id_index ON channels (group_id, position, id)
  `.execute(db);
  // Serves the category foreign key's ON DELETE action.
  await sql`
    CREATE INDEX channels_group_id_category_id_index ON channels (group_id, category_id)
      WHERE category_id IS NOT NULL
  `.execute(db);

  await sql`
    CREATE TABLE channel_permission_overwrites (
      group_id     uuid        NOT NULL,
      channel_id   uuid        NOT NULL,
      role_id      uuid        NOT NULL,
      allow        bigint      NOT NULL DEFAULT 0,
      deny         bigint      NOT NULL DEFAULT 0,
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT channel_permission_overwrites_pkey PRIMARY KEY (channel_id, role_id),
      CONSTRAINT channel_permission_overwrites_channel_id_fkey
        FOREIGN KEY (group_id, channel_id) REFERENCES channels (group_id, id) ON DELETE CASCADE,
      CONSTRAINT channel_permission_overwrites_role_id_fkey
        FOREIGN KEY (group_id, role_id) REFERENCES roles (group_id, id) ON DELETE CASCADE,
      CONSTRAINT channel_permission_overwrites_allow_check CHECK (allow >= 0 AND allow < 4294967296),
      CONSTRAINT channel_permission_overwrites_deny_check CHECK (deny >= 0 AND deny < 4294967296),
      CONSTRAINT channel_permission_overwrites_allow_deny_check CHECK ((allow & deny) = 0)
    )
  `.execute(db);
  await sql`
    CREATE INDEX channel_permission_overwrites_role_id_index ON channel_permission_overwrites (role_id)
  `.execute(db);

  // The same shape as messages (20261125000500) with channel_id in place of
  // conversation_id: one implementation serves both tables.
  await sql`
    CREATE TABLE channel_messages (
      id           uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      channel_id   uuid        NOT NULL,
      sender_id    uuid        NULL,
      content      text        NOT NULL DEFAULT '',
      type         text        NOT NULL DEFAULT 'text',
      edited_at    timestamptz NULL,
      deleted_at   timestamptz NULL,
      reply_to_id  uuid        NULL,
      seq          bigint      NOT NULL,
      nonce        text        NULL,
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT channel_messages_pkey PRIMARY KEY (id),
      CONSTRAINT channel_messages_channel_id_fkey
        FOREIGN KEY (channel_id) REFERENCES channels (id) ON DELETE CASCADE,
      CONSTRAINT channel_messages_sender_id_fkey
        FOREIGN KEY (sender_id) REFERENCES users (id) ON DELETE SET NULL,
      CONSTRAINT channel_messages_content_check CHECK (char_length(content) <= 16000),
      CONSTRAINT channel_messages_type_check CHECK (type IN ('text', 'image', 'file', 'system')),
      CONSTRAINT channel_messages_deleted_content_check CHECK (deleted_at IS NULL OR content = ''),
      CONSTRAINT channel_messages_reply_to_id_check CHECK (reply_to_id <> id),
      CONSTRAINT channel_messages_seq_check CHECK (seq >= 1),
      CONSTRAINT channel_messages_nonce_check CHECK (char_length(nonce) BETWEEN 1 AND 64)
    )
  `.execute(db);
  await sql`
    CREATE UNIQUE INDEX channel_messages_channel_id_id_index ON channel_messages (channel_id, id)
  `.execute(db);
  await sql`
    CREATE UNIQUE INDEX channel_messages_channel_id_seq_index ON channel_messages (channel_id, seq)
  `.execute(db);
  await sql`
    CREATE UNIQUE INDEX channel_messages_channel_id_sender_id_nonce_index
      ON channel_messages (channel_id, sender_id, nonce) WHERE nonce IS NOT NULL
  `.execute(db);
  await sql`
    CREATE INDEX channel_messages_channel_id_inserted_at_index ON channel_messages (channel_id, inserted_at)
  `.execute(db);
  await sql`CREATE INDEX channel_messages_sender_id_index ON channel_messages (sender_id)`.execute(db);
  await sql`
    CREATE INDEX channel_messages_channel_id_reply_to_id_index ON channel_messages (channel_id, reply_to_id)
      WHERE reply_to_id IS NOT NULL
  `.execute(db);
  await sql`
    ALTER TABLE channel_messages ADD CONSTRAINT channel_messages_reply_to_id_fkey
      FOREIGN KEY (channel_id, reply_to_id) REFERENCES channel_messages (channel_id, id)
      ON DELETE SET NULL (reply_to_id)
  `.execute(db);

  await sql`
    CREATE TABLE channel_read_states (
      channel_id     uuid        NOT NULL,
      user_id        uuid        NOT NULL,
      last_read_seq  bigint      NOT NULL DEFAULT 0,
      last_read_at   timestamptz NULL,
      CONSTRAINT channel_read_states_pkey PRIMARY KEY (channel_id, user_id),
      CONSTRAINT channel_read_states_channel_id_fkey
        FOREIGN KEY (channel_id) REFERENCES channels (id) ON DELETE CASCADE,
      CONSTRAINT channel_read_states_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
      CONSTRAINT channel_read_states_last_read_seq_check CHECK (last_read_seq >= 0)
    )
  `.execute(db);
  await sql`CREATE INDEX channel_read_states_user_id_index ON channel_read_states (user_id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE channel_read_states`.execute(db);
  await sql`DROP TABLE channel_messages`.execute(db);
  await sql`DROP TABLE channel_permission_overwrites`.execute(db);
  await sql`DROP TABLE channels`.execute(db);
  await sql`DROP TABLE channel_categories`.execute(db);
  await sql`DROP TABLE group_bans`.execute(db);
  await sql`DROP TABLE group_member_roles`.execute(db);
  await sql`DROP TABLE roles`.execute(db);
  await sql`DROP TRIGGER group_members_count_trigger ON group_members`.execute(db);
  await sql`DROP FUNCTION cgraph_group_members_count()`.execute(db);
  await sql`DROP TABLE group_members`.execute(db);
  await sql`ALTER TABLE groups DROP CONSTRAINT groups_invite_code_fkey`.execute(db);
  await sql`DROP TABLE group_invites`.execute(db);
  await sql`DROP TABLE groups`.execute(db);
}
