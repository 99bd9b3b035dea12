// Where a message lives. Direct messages (`messages`, per conversation) and channel
// messages (`channel_messages`, per channel) have exactly the same shape (docs/database.md),
// so ONE implementation (messages.ts) serves both, parameterised by this descriptor. The
// contexts that own the containers (conversations here, groups later) keep their own
// access rules and call the shared store for everything about the messages themselves.
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';

export interface MessageLocation {
  readonly kind: 'conversation' | 'channel';
  /** The message table. */
  readonly table: 'messages' | 'channel_messages';
  /** The container column of the message table (and the read-state table). */
  readonly container: 'conversation_id' | 'channel_id';
  /** The container table: holds `last_message_seq` and `last_message_at`. */
  readonly containerTable: 'conversations' | 'channels';
  /** The reactions column that points at this kind of message. */
  readonly reactionTarget: 'message_id' | 'channel_message_id';
  /**
   * Moves `userId`'s read position forward to `seq` (never backwards). Conversations keep
   * it on the participant row (which must exist), channels in channel_read_states (a
   * missing row means nothing read, so it is upserted).
   */
  markRead(db: Db, containerId: string, userId: string, seq: number): Promise<void>;
}

export const CONVERSATION: MessageLocation = {
  kind: 'conversation',
  table: 'messages',
  container: 'conversation_id',
  containerTable: 'conversations',
  reactionTarget: 'message_id',
  async markRead(db, conversationId, userId, seq) {
    await db
      .updateTable('conversation_participants')
      .set({
        last_read_seq: sql<number>`greatest(last_read_seq, ${seq}::bigint)`,
        last_read_at: sql<Date>`now()`,
        updated_at: sql<Date>`now()`,
      })
      .where('conversation_id', '=', conversationId)
      .where('user_id', '=', userId)
      .execute();
  },
};

export const CHANNEL: MessageLocation = {
  kind: 'channel',
  table: 'channel_messages',
  container: 'channel_id',
  containerTable: 'channels',
  reactionTarget: 'channel_message_id',
  async markRead(db, channelId, userId, seq) {
    await db
      .insertInto('channel_read_states')
      .values({ channel_id: channelId, user_id: userId, last_read_seq: seq, last_read_at: sql<Date>`now()` })
      .onConflict((oc) =>
        oc.columns(['channel_id', 'user_id']).doUpdateSet({
          last_read_seq: sql<number>`greatest(channel_read_states.last_read_seq, excluded.last_read_seq)`,
          last_read_at: sql<Date>`now()`,
        }),
      )
      .execute();
  },
};
