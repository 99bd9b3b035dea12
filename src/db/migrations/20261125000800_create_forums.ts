import { sql, type Kysely } from 'kysely';

// Forums (Reddit-like): forums, members (of private forums), moderators, flairs, posts,
// poll options and poll votes, comments (a tree by parent_id), votes on posts and on
// comments.
//
// Derived values are maintained by triggers in the writing transaction, never computed by
// the application from an earlier read (that drifts under concurrency):
// * forum_posts.score / upvotes / downvotes     <- forum_votes   (row trigger, deltas)
// * forum_comments.score / upvotes / downvotes  <- comment_votes (row trigger, deltas)
// * forum_posts.comment_count                   <- forum_comments (not soft-deleted ones)
// * poll_options.vote_count                     <- poll_votes
// * forum_posts.hot = cgraph_hot(score, inserted_at) (BEFORE trigger)

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE forums (
      id           uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      name         text        NOT NULL,
      slug         text        NOT NULL,
      description  text        NULL,
      icon_url     text        NULL,
      banner_url   text        NULL,
      is_public    boolean     NOT NULL DEFAULT true,
      owner_id     uuid        NOT NULL,
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT forums_pkey PRIMARY KEY (id),
      CONSTRAINT forums_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE RESTRICT,
      CONSTRAINT forums_name_check CHECK (char_length(name) BETWEEN 1 AND 100),
      CONSTRAINT forums_slug_check CHECK (slug ~ '^[a-z0-9-]{2,50}$'),
      CONSTRAINT forums_description_check CHECK (char_length(description) <= 1000),
      CONSTRAINT forums_icon_url_check CHECK (char_length(icon_url) <= 2048 AND icon_url ~ '^https?://'),
      CONSTRAINT forums_banner_url_check CHECK (char_length(banner_url) <= 2048 AND banner_url ~ '^https?://')
    )
  `.execute(db);
  await sql`CREATE UNIQUE INDEX forums_slug_index ON forums (slug)`.execute(db);
  await sql`CREATE INDEX forums_owner_id_index ON forums (owner_id)`.execute(db);

  await sql`
    CREATE TABLE forum_members (
      forum_id     uuid        NOT NULL,
      user_id      uuid        NOT NULL,
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT forum_members_pkey PRIMARY KEY (forum_id, user_id),
      CONSTRAINT forum_members_forum_id_fkey FOREIGN KEY (forum_id) REFERENCES forums (id) ON DELETE CASCADE,
      CONSTRAINT forum_members_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
    )
  `.execute(db);
  await sql`CREATE INDEX forum_members_user_id_index ON forum_members (user_id)`.execute(db);

  await sql`
    CREATE TABLE forum_moderators (
      forum_id     uuid        NOT NULL,
      user_id      uuid        NOT NULL,
      added_by_id  uuid        NULL,
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT forum_moderators_pkey PRIMARY KEY (forum_id, user_id),
      CONSTRAINT forum_moderators_forum_id_fkey FOREIGN KEY (forum_id) REFERENCES forums (id) ON DELETE CASCADE,
      CONSTRAINT forum_moderators_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
      CONSTRAINT forum_moderators_added_by_id_fkey
        FOREIGN KEY (added_by_id) REFERENCES users (id) ON DELETE SET NULL
    )
  `.execute(db);
  await sql`CREATE INDEX forum_moderators_user_id_index ON forum_moderators (user_id)`.execute(db);
  await sql`
    CREATE INDEX forum_moderators_added_by_id_index ON forum_moderators (added_by_id)
      WHERE added_by_id IS NOT NULL
  `.execute(db);

  await sql`
    CREATE TABLE forum_flairs (
      id           uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      forum_id     uuid        NOT NULL,
      name         text        NOT NULL,
      color        text        NULL,
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT forum_flairs_pkey PRIMARY KEY (id),
      CONSTRAINT forum_flairs_forum_id_fkey FOREIGN KEY (forum_id) REFERENCES forums (id) ON DELETE CASCADE,
      CONSTRAINT forum_flairs_name_check CHECK (char_length(name) BETWEEN 1 AND 64),
      CONSTRAINT forum_flairs_color_check CHECK (color ~ '^#[0-9a-fA-F]{6}$')
    )
  `.execute(db);
  await sql`
    CREATE UNIQUE INDEX forum_flairs_forum_id_name_index ON forum_flairs (forum_id, name)
  `.execute(db);
  await sql`CREATE UNIQUE INDEX forum_flairs_forum_id_id_index ON forum_flairs (forum_id, id)`.execute(db);

  await sql`
    CREATE TABLE forum_posts (
      id              uuid             NOT NULL DEFAULT cgraph_uuid_v7(),
      forum_id        uuid             NOT NULL,
      author_id       uuid             NULL,
      flair_id        uuid             NULL,
      title           text             NOT NULL,
      content         text             NULL,
      url             text             NULL,
      type            text             NOT NULL DEFAULT 'text',
      score           integer          NOT NULL DEFAULT 0,
      upvotes         integer          NOT NULL DEFAULT 0,
      downvotes       integer          NOT NULL DEFAULT 0,
      comment_count   integer          NOT NULL DEFAULT 0,
      hot             double precision NOT NULL DEFAULT 0,
      is_pinned       boolean          NOT NULL DEFAULT false,
      is_locked       boolean          NOT NULL DEFAULT false,
      poll_closes_at  timestamptz      NULL,
      edited_at       timestamptz      NULL,
      deleted_at      timestamptz      NULL,
      inserted_at     timestamptz      NOT NULL DEFAULT now(),
      updated_at      timestamptz      NOT NULL DEFAULT now(),
      CONSTRAINT forum_posts_pkey PRIMARY KEY (id),
      CONSTRAINT forum_posts_forum_id_fkey FOREIGN KEY (forum_id) REFERENCES forums (id) ON DELETE CASCADE,
      CONSTRAINT forum_posts_author_id_fkey FOREIGN KEY (author_id) REFERENCES users (id) ON DELETE SET NULL,
      CONSTRAINT forum_posts_flair_id_fkey
        FOREIGN KEY (forum_id, flair_id) REFERENCES forum_flairs (forum_id, id) ON DELETE SET NULL (flair_id),
      CONSTRAINT forum_posts_title_check CHECK (char_length(title) BETWEEN 1 AND 300),
      CONSTRAINT forum_posts_content_check CHECK (char_length(content) <= 40000),
      CONSTRAINT forum_posts_url_check CHECK (char_length(url) <= 2048 AND url ~ '^https?://'),
      CONSTRAINT forum_posts_type_check CHECK (type IN ('text', 'link', 'image', 'poll')),
      CONSTRAINT forum_posts_votes_check CHECK (upvotes >= 0 AND downvotes >= 0 AND score = upvotes - downvotes),
      CONSTRAINT forum_posts_comment_count_check CHECK (comment_count >= 0),
      CONSTRAINT forum_posts_poll_closes_at_check CHECK (poll_closes_at IS NULL OR type = 'poll')
    )
  `.execute(db);
  await sql`
    CREATE INDEX forum_posts_forum_id_inserted_at_index ON forum_posts (forum_id, inserted_at)
  `.execute(db);
  await sql`CREATE INDEX forum_posts_forum_id_score_index ON forum_posts (forum_id, score)`.execute(db);
  await sql`CREATE INDEX forum_posts_author_id_index ON forum_posts (author_id)`.execute(db);
  // sort=hot, sort=top and sort=new, each keyset-paged with id as the tie-breaker.
  await sql`
    CREATE INDEX forum_posts_forum_id_hot_id_index ON forum_posts (forum_id, hot DESC, id DESC)
  `.execute(db);
  await sql`
    CREATE INDEX forum_posts_forum_id_score_id_index ON forum_posts (forum_id, score DESC, id DESC)
  `.execute(db);
  await sql`CREATE INDEX forum_posts_forum_id_id_index ON forum_posts (forum_id, id DESC)`.execute(db);
  // Pinned posts, listed before the sorted page.
  await sql`
    CREATE INDEX forum_posts_forum_id_pinned_index ON forum_posts (forum_id) WHERE is_pinned
  `.execute(db);
  // Serves the flair foreign key's ON DELETE action (and a filter by flair).
  await sql`
    CREATE INDEX forum_posts_forum_id_flair_id_index ON forum_posts (forum_id, flair_id)
      WHERE flair_id IS NOT NULL
  `.execute(db);

  await sql`
    CREATE FUNCTION cgraph_forum_posts_hot() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
      NEW.hot := cgraph_hot(NEW.score, NEW.inserted_at);
      RETURN NEW;
    END
    $$
  `.execute(db);
  // Also fires when hot itself is written, so hot can never disagree with the score.
  await sql`
    CREATE TRIGGER forum_posts_hot_trigger
      BEFORE INSERT OR UPDATE OF score, inserted_at, hot ON forum_posts
      FOR EACH ROW EXECUTE FUNCTION cgraph_forum_posts_hot()
  `.execute(db);

  await sql`
    CREATE TABLE poll_options (
      id           uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      post_id      uuid        NOT NULL,
      position     smallint    NOT NULL,
      label        text        NOT NULL,
      vote_count   integer     NOT NULL DEFAULT 0,
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT poll_options_pkey PRIMARY KEY (id),
      CONSTRAINT poll_options_post_id_fkey FOREIGN KEY (post_id) REFERENCES forum_posts (id) ON DELETE CASCADE,
      CONSTRAINT poll_options_position_check CHECK (position BETWEEN 0 AND 9),
      CONSTRAINT poll_options_label_check CHECK (char_length(label) BETWEEN 1 AND 200),
      CONSTRAINT poll_options_vote_count_check CHECK (vote_count >= 0)
    )
  `.execute(db);
  await sql`
    CREATE UNIQUE INDEX poll_options_post_id_position_index ON poll_options (post_id, position)
  `.execute(db);
  await sql`CREATE UNIQUE INDEX poll_options_post_id_id_index ON poll_options (post_id, id)`.execute(db);

  await sql`
    CREATE TABLE poll_votes (
      post_id      uuid        NOT NULL,
      user_id      uuid        NOT NULL,
      option_id    uuid        NOT NULL,
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT poll_votes_pkey PRIMARY KEY (post_id, user_id),
      CONSTRAINT poll_votes_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
      CONSTRAINT poll_votes_option_id_fkey
        FOREIGN KEY (post_id, option_id) REFERENCES poll_options (post_id, id) ON DELETE CASCADE
    )
  `.execute(db);
  await sql`CREATE INDEX poll_votes_user_id_index ON poll_votes (user_id)`.execute(db);
  await sql`CREATE INDEX poll_votes_option_id_index ON poll_votes (option_id)`.execute(db);

  // Two options change when a vote moves; lock them in id order so that two voters moving
  // in opposite directions cannot deadlock.
  await sql`
    CREATE FUNCTION cgraph_poll_votes_count() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        UPDATE poll_options SET vote_count = vote_count + 1 WHERE id = NEW.option_id;
      ELSIF TG_OP = 'DELETE' THEN
        UPDATE poll_options SET vote_count = vote_count - 1 WHERE id = OLD.option_id;
      ELSIF OLD.option_id < NEW.option_id THEN
        UPDATE poll_options SET vote_count = vote_count - 1 WHERE id = OLD.option_id;
        UPDATE poll_options SET vote_count = vote_count + 1 WHERE id = NEW.option_id;
      ELSIF OLD.option_id > NEW.option_id THEN
        UPDATE poll_options SET vote_count = vote_count + 1 WHERE id = NEW.option_id;
        UPDATE poll_options SET vote_count = vote_count - 1 WHERE id = OLD.option_id;
      END IF;
      RETURN NULL;
    END
    $$
  `.execute(db);
  await sql`
    CREATE TRIGGER poll_votes_count_trigger
      AFTER INSERT OR DELETE OR UPDATE OF option_id ON poll_votes
      FOR EACH ROW EXECUTE FUNCTION cgraph_poll_votes_count()
  `.execute(db);

  await sql`
    CREATE TABLE forum_comments (
      id           uuid        NOT NULL DEFAULT cgraph_uuid_v7(),
      post_id      uuid        NOT NULL,
      author_id    uuid        NULL,
      parent_id    uuid        NULL,
      content      text        NOT NULL,
      score        integer     NOT NULL DEFAULT 0,
      upvotes      integer     NOT NULL DEFAULT 0,
      downvotes    integer     NOT NULL DEFAULT 0,
      depth        integer     NOT NULL DEFAULT 0,
      edited_at    timestamptz NULL,
      deleted_at   timestamptz NULL,
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT forum_comments_pkey PRIMARY KEY (id),
      CONSTRAINT forum_comments_post_id_fkey FOREIGN KEY (post_id) REFERENCES forum_posts (id) ON DELETE CASCADE,
      CONSTRAINT forum_comments_author_id_fkey FOREIGN KEY (author_id) REFERENCES users (id) ON DELETE SET NULL,
      CONSTRAINT forum_comments_content_check CHECK (char_length(content) <= 10000),
      CONSTRAINT forum_comments_votes_check
        CHECK (upvotes >= 0 AND downvotes >= 0 AND score = upvotes - downvotes),
      CONSTRAINT forum_comments_parent_id_check CHECK (parent_id <> id),
      CONSTRAINT forum_comments_depth_check CHECK (depth >= 0 AND (parent_id IS NULL) = (depth = 0))
    )
  `.execute(db);
  // Target of the parent foreign key: a reply is always in its parent's post.
  await sql`CREATE UNIQUE INDEX forum_comments_post_id_id_index ON forum_comments (post_id, id)`.execute(db);
  await sql`
    CREATE INDEX forum_comments_post_id_parent_id_index ON forum_comments (post_id, parent_id)
  `.execute(db);
  await sql`CREATE INDEX forum_comments_author_id_index ON forum_comments (author_id)`.execute(db);
  await sql`
    CREATE INDEX forum_comments_post_id_inserted_at_index ON forum_comments (post_id, inserted_at)
  `.execute(db);
  await sql`
    ALTER TABLE forum_comments ADD CONSTRAINT forum_comments_parent_id_fkey
      FOREIGN KEY (post_id, parent_id) REFERENCES forum_comments (post_id, id) ON DELETE CASCADE
  `.execute(db);

  // comment_count counts the comments that are not soft-deleted.
  await sql`
    CREATE FUNCTION cgraph_forum_comments_count() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    DECLARE
      old_counted integer := 0;
      new_counted integer := 0;
    BEGIN
      IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
        old_counted := 1;
      END IF;
      IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.deleted_at IS NULL THEN
        new_counted := 1;
      END IF;
      IF TG_OP = 'UPDATE' THEN
        IF OLD.post_id = NEW.post_id THEN
          IF new_counted <> old_counted THEN
            UPDATE forum_posts SET comment_count = comment_count + (new_counted - old_counted)
              WHERE id = NEW.post_id;
          END IF;
          RETURN NULL;
        END IF;
      END IF;
      IF old_counted = 1 THEN
        UPDATE forum_posts SET comment_count = comment_count - 1 WHERE id = OLD.post_id;
      END IF;
      IF new_counted = 1 THEN
        UPDATE forum_posts SET comment_count = comment_count + 1 WHERE id = NEW.post_id;
      END IF;
      RETURN NULL;
    END
    $$
  `.execute(db);
  await sql`
    CREATE TRIGGER forum_comments_count_trigger
      AFTER INSERT OR DELETE OR UPDATE OF deleted_at, post_id ON forum_comments
      FOR EACH ROW EXECUTE FUNCTION cgraph_forum_comments_count()
  `.execute(db);

  await sql`
    CREATE TABLE forum_votes (
      post_id      uuid        NOT NULL,
      user_id      uuid        NOT NULL,
      value        smallint    NOT NULL,
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT forum_votes_pkey PRIMARY KEY (post_id, user_id),
      CONSTRAINT forum_votes_post_id_fkey FOREIGN KEY (post_id) REFERENCES forum_posts (id) ON DELETE CASCADE,
      CONSTRAINT forum_votes_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
      CONSTRAINT forum_votes_value_check CHECK (value IN (-1, 1))
    )
  `.execute(db);
  await sql`CREATE INDEX forum_votes_user_id_index ON forum_votes (user_id)`.execute(db);

  // Each vote row contributes `value` to score and 1 to upvotes or downvotes; the trigger
  // removes the old row's contribution and adds the new one's, as in-place deltas.
  await sql`
    CREATE FUNCTION cgraph_forum_votes_score() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
      IF TG_OP = 'UPDATE' THEN
        IF OLD.post_id = NEW.post_id THEN
          IF OLD.value <> NEW.value THEN
            UPDATE forum_posts
              SET score = score + (NEW.value - OLD.value),
                  upvotes = upvotes + (NEW.value = 1)::integer - (OLD.value = 1)::integer,
                  downvotes = downvotes + (NEW.value = -1)::integer - (OLD.value = -1)::integer
              WHERE id = NEW.post_id;
          END IF;
          RETURN NULL;
        END IF;
      END IF;
      IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE forum_posts
          SET score = score - OLD.value,
              upvotes = upvotes - (OLD.value = 1)::integer,
              downvotes = downvotes - (OLD.value = -1)::integer
          WHERE id = OLD.post_id;
      END IF;
      IF TG_OP IN ('UPDATE', 'INSERT') THEN
        UPDATE forum_posts
          SET score = score + NEW.value,
              upvotes = upvotes + (NEW.value = 1)::integer,
              downvotes = downvotes + (NEW.value = -1)::integer
          WHERE id = NEW.post_id;
      END IF;
      RETURN NULL;
    END
    $$
  `.execute(db);
  await sql`
    CREATE TRIGGER forum_votes_score_trigger
      AFTER INSERT OR DELETE OR UPDATE OF value, post_id ON forum_votes
      FOR EACH ROW EXECUTE FUNCTION cgraph_forum_votes_score()
  `.execute(db);

  await sql`
    CREATE TABLE comment_votes (
      comment_id   uuid        NOT NULL,
      user_id      uuid        NOT NULL,
      value        smallint    NOT NULL,
      inserted_at  timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT comment_votes_pkey PRIMARY KEY (comment_id, user_id),
      CONSTRAINT comment_votes_comment_id_fkey
        FOREIGN KEY (comment_id) REFERENCES forum_comments (id) ON DELETE CASCADE,
      CONSTRAINT comment_votes_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
      CONSTRAINT comment_votes_value_check CHECK (value IN (-1, 1))
    )
  `.execute(db);
  await sql`CREATE INDEX comment_votes_user_id_index ON comment_votes (user_id)`.execute(db);

  await sql`
    CREATE FUNCTION cgraph_comment_votes_score() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
      IF TG_OP = 'UPDATE' THEN
        IF OLD.comment_id = NEW.comment_id THEN
          IF OLD.value <> NEW.value THEN
            UPDATE forum_comments
              SET score = score + (NEW.value - OLD.value),
                  upvotes = upvotes + (NEW.value = 1)::integer - (OLD.value = 1)::integer,
                  downvotes = downvotes + (NEW.value = -1)::integer - (OLD.value = -1)::integer
              WHERE id = NEW.comment_id;
          END IF;
          RETURN NULL;
        END IF;
      END IF;
      IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE forum_comments
          SET score = score - OLD.value,
              upvotes = upvotes - (OLD.value = 1)::integer,
              downvotes = downvotes - (OLD.value = -1)::integer
          WHERE id = OLD.comment_id;
      END IF;
      IF TG_OP IN ('UPDATE', 'INSERT') THEN
        UPDATE forum_comments
          SET score = score + NEW.value,
              upvotes = upvotes + (NEW.value = 1)::integer,
              downvotes = downvotes + (NEW.value = -1)::integer
          WHERE id = NEW.comment_id;
      END IF;
      RETURN NULL;
    END
    $$
  `.execute(db);
  await sql`
    CREATE TRIGGER comment_votes_score_trigger
      AFTER INSERT OR DELETE OR UPDATE OF value, comment_id ON comment_votes
      FOR EACH ROW EXECUTE FUNCTION cgraph_comment_votes_score()
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TRIGGER comment_votes_score_trigger ON comment_votes`.execute(db);
  await sql`DROP FUNCTION cgraph_comment_votes_score()`.execute(db);
  await sql`DROP TABLE comment_votes`.execute(db);
  await sql`DROP TRIGGER forum_votes_score_trigger ON forum_votes`.execute(db);
  await sql`DROP FUNCTION cgraph_forum_votes_score()`.execute(db);
  await sql`DROP TABLE forum_votes`.execute(db);
  await sql`DROP TRIGGER forum_comments_count_trigger ON forum_comments`.execute(db);
  await sql`DROP FUNCTION cgraph_forum_comments_count()`.execute(db);
  await sql`DROP TABLE forum_comments`.execute(db);
  await sql`DROP TRIGGER poll_votes_count_trigger ON poll_votes`.execute(db);
  await sql`DROP FUNCTION cgraph_poll_votes_count()`.execute(db);
  await sql`DROP TABLE poll_votes`.execute(db);
  await sql`DROP TABLE poll_options`.execute(db);
  await sql`DROP TRIGGER forum_posts_hot_trigger ON forum_posts`.execute(db);
  await sql`DROP FUNCTION cgraph_forum_posts_hot()`.execute(db);
  await sql`DROP TABLE forum_posts`.execute(db);
  await sql`DROP TABLE forum_flairs`.execute(db);
  await sql`DROP TABLE forum_moderators`.execute(db);
  await sql`DROP TABLE forum_members`.execute(db);
  await sql`DROP TABLE forums`.execute(db);
}
