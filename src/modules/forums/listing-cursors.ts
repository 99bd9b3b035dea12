// The cursors of a forum listing (ranking.ts). Three kinds:
//   'k' live:     after (sort key, id), read from the index as it is now (`new`, deep pages,
//                 and hot/top past the end of a snapshot or after it expired);
//   'f' first:    what the first page of hot/top showed: its ids and the last (key, id). The
//                 first page writes nothing; the second page records the snapshot of the
//                 listing as it is then, without the posts the first page showed;
//   's' snapshot: position in a forum_listings row, plus the last shown (key, id) to resume
//                 live from when the snapshot has expired.
// Every cursor names its listing; using it with another sort or window is invalid_cursor.
// Cursors are opaque base64url; a first-page cursor adds `.` and the shown ids packed 16
// bytes each (up to 100 ids: ~2 200 characters; JSON text would be 2.5 times that).
import { decodeCursor, encodeCursor, MAX_PAGE_SIZE } from '../../db/pagination.ts';
import { AppError } from '../../lib/errors.ts';
import { isUuid } from '../../lib/ids.ts';

/** A listing: the sort and, for top, its window; also the snapshot's `sort` column. */
export type Listing = 'hot' | 'new' | `top_${'day' | 'week' | 'month' | 'year' | 'all'}`;

export interface After {
  key: string;
  id: string;
}

export type ListingCursor =
  | { kind: 'live'; listing: Listing; after: After }
  | { kind: 'first'; listing: Listing; shown: string[]; last: After }
  | { kind: 'snapshot'; listing: Listing; snapshotId: string; position: number; last: After };

/** The longest cursor a listing hands out (a first page of MAX_PAGE_SIZE posts), with room. */
export const LISTING_CURSOR_MAX = 3000;

export function invalidCursor(): AppError {
  return new AppError('invalid_cursor', 'the cursor is not valid for this list', 400);
}

export function encodeListingCursor(cursor: ListingCursor): string {
  const { listing } = cursor;
  switch (cursor.kind) {
    case 'live':
      return encodeCursor(['k', listing, cursor.after.key, cursor.after.id, '', '']);
    case 'snapshot':
      return encodeCursor(['s', listing, cursor.snapshotId, String(cursor.position), cursor.last.key, cursor.last.id]);
    case 'first':
      return `${encodeCursor(['f', listing, cursor.last.key, cursor.last.id, '', ''])}.${packIds(cursor.shown)}`;
  }
}

/** `isKey` checks a sort key's text (a number, or a uuid for `new`). */
export function decodeListingCursor(text: string, listing: Listing, isKey: (key: string) => boolean): ListingCursor {
  const [head, packed, ...rest] = text.split('.');
  if (rest.length > 0) throw invalidCursor();
  const [kind, cursorListing, a, b, c, d] = decodeCursor(head!, 6) as [string, string, string, string, string, string];
  if (cursorListing !== listing) throw invalidCursor();
  // `new` pages live only (its keys never move): no first-page or snapshot cursors.
  if (listing === 'new' && (kind !== 'k' || packed !== undefined)) throw invalidCursor();
  if (packed !== undefined) {
    if (kind !== 'f' || !isKey(a) || !isUuid(b)) throw invalidCursor();
    return { kind: 'first', listing, shown: unpackIds(packed), last: { key: a, id: b } };
  }
  if (kind === 'k' && isKey(a) && isUuid(b)) return { kind: 'live', listing, after: { key: a, id: b } };
  if (kind === 's' && isUuid(a) && /^\d{1,4}$/.test(b) && isKey(c) && isUuid(d)) {
    return { kind: 'snapshot', listing, snapshotId: a, position: Number(b), last: { key: c, id: d } };
  }
  throw invalidCursor();
}

function packIds(ids: readonly string[]): string {
  return Buffer.concat(ids.map((id) => Buffer.from(id.replaceAll('-', ''), 'hex'))).toString('base64url');
}

function unpackIds(packed: string): string[] {
  if (!/^[A-Za-z0-9_-]{22,2200}$/.test(packed)) throw invalidCursor();
  const bytes = Buffer.from(packed, 'base64url');
  if (bytes.length % 16 !== 0 || bytes.length / 16 > MAX_PAGE_SIZE) throw invalidCursor();
  const ids: string[] = [];
  for (let at = 0; at < bytes.length; at += 16) {
    const hex = bytes.toString('hex', at, at + 16);
    ids.push(`${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`);
  }
  return ids;
}
