// Request and response shapes of the conversations API (they also feed the OpenAPI
// document). Bounds here keep hostile input cheap; the services apply the real rules
// (trimmed content, blank text, emoji syntax) with field errors.
import { z } from 'zod';
import { cursorQuery, isoDate, uuid } from '../../http/schemas.ts';
import { attachment } from '../attachments/schemas.ts';
import { MAX_ATTACHMENTS_PER_MESSAGE } from '../attachments/service.ts';
import { MAX_GROUP_PARTICIPANTS } from './conversations.ts';
import { MESSAGE_MAX_LENGTH } from './messages.ts';

export const participant = z
  .object({
    id: uuid,
    username: z.string(),
    display_name: z.string().nullable(),
    avatar_url: z.string().nullable(),
    joined_at: isoDate,
  })
  .meta({ id: 'Participant' });

export const conversation = z
  .object({
    id: uuid,
    is_group: z.boolean(),
    name: z.string().nullable(),
    owner_id: uuid.nullable(),
    last_message_at: isoDate.nullable(),
    last_message_seq: z
      .number()
      .int()
      .describe('number of messages ever sent here (system messages included)'),
    last_read_seq: z.number().int().describe("the caller's read position"),
    unread_count: z.number().int().describe('last_message_seq − last_read_seq; deleted messages still count'),
    muted: z.boolean(),
    participants: z.array(participant),
    inserted_at: isoDate,
  })
  .meta({ id: 'Conversation' });

export const conversationList = z.object({ data: z.array(conversation), next_cursor: z.string().nullable() });

export const sender = z
  .object({
    id: uuid,
    username: z.string(),
    display_name: z.string().nullable(),
    avatar_url: z.string().nullable(),
  })
  .meta({ id: 'MessageSender' });

export const reaction = z
  .object({ emoji: z.string(), count: z.number().int(), me: z.boolean() })
  .meta({ id: 'ReactionCount' });

export const message = z
  .object({
    id: uuid,
    seq: z.number().int().describe('position in the conversation: 1, 2, 3, …'),
    sender: sender.nullable().describe('null for system messages and deleted users'),
    content: z.string().describe("'' once deleted; JSON for system messages"),
    type: z.enum(['text', 'image', 'file', 'system']),
    reply_to_id: uuid.nullable(),
    nonce: z.string().nullable(),
    edited_at: isoDate.nullable(),
    deleted: z.boolean(),
    deleted_at: isoDate.nullable(),
    reactions: z.array(reaction),
    attachments: z.array(attachment).describe("upload order; [] once deleted"),
    inserted_at: isoDate,
    updated_at: isoDate,
  })
  .meta({ id: 'Message' });

export const messageList = z.object({
  data: z.array(message).describe('always newest first'),
  next_cursor: z
    .string()
    .nullable()
    .describe('continues in the direction of the request: older for before, newer for after'),
});

export const createConversationBody = z.object({
  user_ids: z
    .array(uuid)
    .min(1)
    .max(100)
    .describe(
      `one other user → the 1:1 DM (the same one every time); more → a new group DM of at most ${MAX_GROUP_PARTICIPANTS} participants`,
    ),
  name: z.string().max(1000).nullish().describe('group DMs only; at most 100 characters'),
});

export const updateConversationBody = z.object({
  name: z
    .string()
    .max(1000)
    .nullish()
    .describe('group DMs only; at most 100 characters; null or "" clears it'),
  muted: z.boolean().optional().describe('yours only: no `message` notifications while muted'),
});

export const conversationParams = z.object({ id: uuid });
export const participantParams = z.object({ id: uuid, user_id: uuid });
export const messageParams = z.object({ id: uuid, message_id: uuid });
export const reactionParams = z.object({ id: uuid, message_id: uuid, emoji: z.string().max(200) });

export const addParticipantBody = z.object({ user_id: uuid });

export const sendMessageBody = z.object({
  content: z
    .string()
    .max(20_000)
    .describe(
      `at most MESSAGE_MAX_LENGTH (default ${MESSAGE_MAX_LENGTH}) characters once trimmed; a text message may not be blank`,
    ),
  type: z
    .string()
    .max(20)
    .nullish()
    .describe('text (default), image or file; system messages are the server’s'),
  reply_to_id: uuid.nullish().describe('a message of the same conversation'),
  attachment_ids: z
    .array(uuid)
    .max(MAX_ATTACHMENTS_PER_MESSAGE)
    .nullish()
    .describe(
      'your own uploads (POST /attachments) not yet on a message; type image (images only) or file needs at least one, text none',
    ),
  nonce: z
    .string()
    .max(1000)
    .nullish()
    .describe('1–64 characters; the same nonce from the same sender returns the first message'),
});

export const editMessageBody = z.object({ content: z.string().max(20_000) });

export const historyQuery = z.object({
  before: uuid.optional().describe('messages older than this message id'),
  after: uuid.optional().describe('messages newer than this message id (the page right after it)'),
  cursor: z.string().max(1024).optional().describe('next_cursor of the previous page'),
  limit: cursorQuery.shape.limit,
});

export const readBody = z
  .object({ message_id: uuid.nullish().describe('default: the latest message') })
  .nullish();

export const readResult = z
  .object({ last_read_seq: z.number().int(), unread_count: z.number().int() })
  .meta({ id: 'ReadPosition' });
