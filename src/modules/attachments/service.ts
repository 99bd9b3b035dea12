// Attachments: an upload becomes a row (uploader, name, type, size, SHA-256, storage key)
// plus an object in the store (storage.ts). It starts unattached — only its uploader can see
// it — and a message then claims it (`claimAttachments`, in the message's transaction): from
// then on whoever can read that message can fetch it. DM messages and channel messages
// share this; each location says who may read its messages (`AttachmentAccess`).
import { createHash } from 'node:crypto';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { AppError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import { storageKey, type AttachmentStorage, type StoredObject } from './storage.ts';

export interface AttachmentLimits {
  maxBytes: number;
  /** Accepted content types; `type/*` accepts a whole family. */
  contentTypes: readonly string[];
}

export interface AttachmentView {
  id: string;
  url: string;
  filename: string;
  content_type: string;
  size: number;
}

export interface AttachmentRow {
  id: string;
  uploader_id: string | null;
  message_id: string | null;
  channel_message_id: string | null;
  storage_key: string;
  filename: string;
  content_type: string;
  size: string | number | bigint;
  inserted_at: Date;
}

export const attachmentUrl = (id: string) => `/api/v1/attachments/${id}`;

export function toAttachmentView(row: Pick<AttachmentRow, 'id' | 'filename' | 'content_type' | 'size'>): AttachmentView {
  return {
    id: row.id,
    url: attachmentUrl(row.id),
    filename: row.filename,
    content_type: row.content_type,
    size: Number(row.size),
  };
}

// -- validation ------------------------------------------------------------------------

// The database's CHECK on attachments.content_type (lower-case type, no parameters).
const CONTENT_TYPE = /^[a-z0-9.+-]+\/[a-zA-Z0-9.+-]+$/;

/**
 * The declared content type, normalised (`image/PNG; x=y` → `image/png`): 422 when it is
 * not a content type at all, 415 when it is one this server does not take.
 */
export function checkContentType(declared: string | undefined, limits: AttachmentLimits): string {
  const type = (declared ?? '').split(';')[0]!.trim().toLowerCase();
  if (!CONTENT_TYPE.test(type) || type.length > 255) {
    throw new ValidationError({ file: ['has no valid content type'] });
  }
  const family = `${type.split('/')[0]}/*`;
  if (!limits.contentTypes.includes(type) && !limits.contentTypes.includes(family)) {
    throw new AppError('unsupported_media_type', `${type} files are not accepted (accepted: ${limits.contentTypes.join(', ')})`, 415);
  }
  return type;
}

/** A safe stored name: the last path segment, no control characters, at most 255 characters. */
export function cleanFilename(name: string | undefined): string {
  const base = (name ?? '').split(/[/\\]/).at(-1) ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 255);
  return clean === '' || clean === '.' || clean === '..' ? 'file' : clean;
}

// Signatures of the image types a browser will render: an upload declared as one of them
// must start with it, so a file cannot pose as an image (422).
const SIGNATURES: Record<string, (head: Buffer) => boolean> = {
  'image/png': (h) => h.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/jpeg': (h) => h[0] === 0xff && h[1] === 0xd8 && h[2] === 0xff,
  'image/gif': (h) => h.subarray(0, 6).toString('latin1') === 'GIF87a' || h.subarray(0, 6).toString('latin1') === 'GIF89a',
  'image/webp': (h) => h.subarray(0, 4).toString('latin1') === 'RIFF' && h.subarray(8, 12).toString('latin1') === 'WEBP',
};
const SIGNATURE_BYTES = 12;

function tooLarge(maxBytes: number): AppError {
  return new AppError('payload_too_large', `the file is larger than ${maxBytes} bytes`, 413);
}

/**
 * Counts and hashes the bytes on their way to the store, fails as soon as there are more
 * than `maxBytes` (413) and checks the signature of image types (422) on the first bytes.
 */
class Inspector extends Transform {
  size = 0;
  private readonly hash = createHash('sha256');
  private head: Buffer[] = [];
  private headBytes = 0;
  private checked: boolean;

  constructor(
    private readonly maxBytes: number,
    private readonly contentType: string,
  ) {
    super();
    this.checked = !(contentType in SIGNATURES);
  }

  get sha256(): Buffer {
    return this.hash.digest();
  }

  private checkHead(final: boolean): Error | undefined {
    if (this.checked || (this.headBytes < SIGNATURE_BYTES && !final)) return undefined;
    this.checked = true;
    const head = Buffer.concat(this.head);
    this.head = [];
    return SIGNATURES[this.contentType]!(head)
      ? undefined
      : new ValidationError({ file: [`is not a ${this.contentType} file`] });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) return callback(tooLarge(this.maxBytes));
    if (!this.checked) {
      this.head.push(chunk);
      this.headBytes += chunk.length;
    }
    this.hash.update(chunk);
    callback(this.checkHead(false), chunk);
  }

  override _flush(callback: TransformCallback): void {
    callback(this.checkHead(true));
  }
}

// -- upload ----------------------------------------------------------------------------

export interface UploadInput {
  uploaderId: string;
  filename: string | undefined;
  /** As declared by the client; checked against the limits and, for images, the bytes. */
  contentType: string | undefined;
  body: Readable;
  /** True when the multipart parser cut the file at its own limit (it is then too large). */
  truncated?: () => boolean;
}

/**
 * Streams the file into the store, then records it. Nothing is buffered whole; a file that
 * turns out too large or malformed leaves no object and no row behind.
 */
export async function uploadAttachment(
  db: Db,
  storage: AttachmentStorage,
  limits: AttachmentLimits,
  input: UploadInput,
): Promise<AttachmentView> {
  const contentType = checkContentType(input.contentType, limits);
  const filename = cleanFilename(input.filename);
  const id = newId();
  const key = storageKey(id);
  const inspector = new Inspector(limits.maxBytes, contentType);
  // The inspector may fail (too large, not an image) before the store starts reading; the
  // pipeline owns that error, and the store then sees a destroyed stream.
  const piped = new Promise<unknown>((resolve) => pipeline(input.body, inspector, resolve));
  try {
    await storage.put(key, inspector, contentType);
  } catch (error) {
    inspector.destroy(); // settles the pipeline, with the inspector's own error if it had one
    const failure = await piped;
    input.body.resume(); // drain the rest of the part so the request can finish
    await storage.delete(key).catch(() => undefined);
    if (input.truncated?.()) throw tooLarge(limits.maxBytes);
    throw failure instanceof AppError ? failure : error;
  }
  if (input.truncated?.()) {
    await storage.delete(key).catch(() => undefined);
    throw tooLarge(limits.maxBytes);
  }
  if (inspector.size === 0) {
    await storage.delete(key).catch(() => undefined);
    throw new ValidationError({ file: ['is empty'] });
  }
  try {
    const row = await db
      .insertInto('attachments')
      .values({
        id,
        uploader_id: input.uploaderId,
        storage_key: key,
        filename,
        content_type: contentType,
        size: inspector.size,
        sha256: inspector.sha256,
      })
      .returning(['id', 'filename', 'content_type', 'size'])
      .executeTakeFirstOrThrow();
    return toAttachmentView(row);
  } catch (error) {
    await storage.delete(key).catch(() => undefined);
    throw error;
  }
}

/** Removes an upload that no message has claimed (row, then object). */
export async function discardUpload(db: Db, storage: AttachmentStorage, id: string): Promise<void> {
  const row = await db
    .deleteFrom('attachments')
    .where('id', '=', id)
    .where('message_id', 'is', null)
    .where('channel_message_id', 'is', null)
    .returning('storage_key')
    .executeTakeFirst();
  if (row) await storage.delete(row.storage_key);
}

/** Uploads nobody attached are removed after this long (they are visible to their uploader only). */
export const UNCLAIMED_TTL_MS = 24 * 3_600_000;

/**
 * Deletes uploads that no message claimed within `olderThanMs`, in batches (rows first, in
 * one statement per batch; then their objects). A message claiming one concurrently either
 * locked it first (the DELETE then skips it: `message_id` is no longer null) or finds it gone
 * (its send is a 422). Returns how many were removed.
 */
export async function sweepUnclaimedUploads(db: Db, storage: AttachmentStorage, olderThanMs = UNCLAIMED_TTL_MS): Promise<number> {
  let removed = 0;
  for (;;) {
    const rows = await db
      .deleteFrom('attachments')
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('attachments')
          .select('id')
          .where('message_id', 'is', null)
          .where('channel_message_id', 'is', null)
          .where('inserted_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanMs / 1000})`)
          .orderBy('inserted_at')
          .limit(500)
          .forUpdate()
          .skipLocked(),
      )
      .where('message_id', 'is', null)
      .where('channel_message_id', 'is', null)
      .returning('storage_key')
      .execute();
    for (const row of rows) await storage.delete(row.storage_key);
    removed += rows.length;
    if (rows.length < 500) return removed;
  }
}

// -- claiming by a message -------------------------------------------------------------

/** The message column an attachment hangs on: `message_id` (DMs) or `channel_message_id`. */
export type AttachmentTarget = 'message_id' | 'channel_message_id';

export const MAX_ATTACHMENTS_PER_MESSAGE = 10;

/**
 * Attaches the sender's unattached uploads to a new message, inside the message's
 * transaction. All or nothing: an id that is unknown, someone else's, or already on a
 * message is a 422 (and the caller's transaction rolls back). The UPDATE's row locks make
 * two messages racing for one upload serialise: the second finds it taken.
 */
export async function claimAttachments(
  trx: Db,
  target: AttachmentTarget,
  messageId: string,
  uploaderId: string,
  attachmentIds: readonly string[],
): Promise<AttachmentView[]> {
  const ids = [...new Set(attachmentIds)];
  if (ids.length === 0) return [];
  if (ids.length > MAX_ATTACHMENTS_PER_MESSAGE) {
    throw new ValidationError({ attachment_ids: [`should have at most ${MAX_ATTACHMENTS_PER_MESSAGE} item(s)`] });
  }
  const rows = await trx
    .updateTable('attachments')
    .set({ [target]: messageId, updated_at: sql<Date>`now()` })
    .where('id', 'in', ids)
    .where('uploader_id', '=', uploaderId)
    .where('message_id', 'is', null)
    .where('channel_message_id', 'is', null)
    .returning(['id', 'filename', 'content_type', 'size'])
    .execute();
  if (rows.length !== ids.length) {
    throw new ValidationError({ attachment_ids: ['must be your own uploads, not yet attached to a message'] });
  }
  const order = new Map(ids.map((id, i) => [id, i]));
  return rows.sort((a, b) => order.get(a.id)! - order.get(b.id)!).map(toAttachmentView);
}

/** The content types of uploads (for the message type rules), by id; unknown ids are absent. */
export async function contentTypesOf(db: Db, ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom('attachments').select(['id', 'content_type']).where('id', 'in', [...ids]).execute();
  return new Map(rows.map((r) => [r.id, r.content_type]));
}

// -- fetching --------------------------------------------------------------------------

/**
 * Who may read the message an attachment hangs on. Conversations: participants. Channels
 * plug their permission check in here (`channelMessage`); without one, channel attachments
 * are not served.
 */
export interface AttachmentAccess {
  channelMessage?: (db: Db, userId: string, channelMessageId: string) => Promise<boolean>;
}

async function canRead(db: Db, access: AttachmentAccess, userId: string, row: AttachmentRow): Promise<boolean> {
  if (row.message_id) {
    const seen = await db
      .selectFrom('messages as m')
      .innerJoin('conversation_participants as p', 'p.conversation_id', 'm.conversation_id')
      .select('m.id')
      .where('m.id', '=', row.message_id)
      .where('p.user_id', '=', userId)
      .executeTakeFirst();
    return seen !== undefined;
  }
  if (row.channel_message_id) return (await access.channelMessage?.(db, userId, row.channel_message_id)) ?? false;
  return row.uploader_id === userId;
}

/**
 * The attachment and its bytes, for a reader allowed to see it: the uploader while it is
 * unattached, then whoever can read its message. Anyone else: 404, as if it did not exist.
 */
export async function openAttachment(
  db: Db,
  storage: AttachmentStorage,
  access: AttachmentAccess,
  userId: string,
  id: string,
): Promise<{ attachment: AttachmentView; object: StoredObject }> {
  const row = await db
    .selectFrom('attachments')
    .select(['id', 'uploader_id', 'message_id', 'channel_message_id', 'storage_key', 'filename', 'content_type', 'size', 'inserted_at'])
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row || !(await canRead(db, access, userId, row))) throw new NotFoundError('attachment');
  const object = await storage.get(row.storage_key);
  if (!object) throw new NotFoundError('attachment');
  return { attachment: toAttachmentView(row), object };
}
