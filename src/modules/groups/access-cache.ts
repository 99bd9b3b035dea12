// A member's access to a channel, kept between requests for the two hot paths (a channel
// send, a history page) so that each is one statement instead of an access load plus the
// statement. Nothing here is ever a decision on its own: the statement that acts carries
// the access's version (groups.access_version, moved by triggers on anything that decides
// permissions: migration 20261126130000) and checks it against the group's current one in
// the same snapshot as its write or read; a different version refuses, and the caller loads
// the access afresh, decides again with the one permission function and retries. So a
// removed member, role or overwrite counts on the very next request, as with no cache, on
// every node (each keeps its own entries; the version lives in the database).
//
// Only grants are kept: an access that lacks the bit asked for is loaded afresh before the
// caller is refused, so a permission given a moment ago is never denied from memory.
import { LRUCache } from 'lru-cache';
import type { Db } from '../../db/database.ts';
import { AppError } from '../../lib/errors.ts';
import { requirePermission, textChannel } from './guards.ts';
import { has, type ChannelAccess } from './permissions.ts';

/** Entries per database handle (each is one ChannelAccess, about 1 KB). */
export const ACCESS_CACHE_ENTRIES = 5_000;

/**
 * A bounded cache (least recently used out) per database handle: each app instance (and
 * each test's database) keeps its own.
 */
export function keptPerDatabase<V extends object>(max: number): (db: Db) => LRUCache<string, V> {
  const caches = new WeakMap<Db, LRUCache<string, V>>();
  return (db) => {
    let cache = caches.get(db);
    if (!cache) caches.set(db, (cache = new LRUCache<string, V>({ max })));
    return cache;
  };
}

const cacheOf = keptPerDatabase<ChannelAccess>(ACCESS_CACHE_ENTRIES);

const keyOf = (channelId: string, userId: string) => `${channelId}/${userId}`;

/**
 * The caller's access to a text channel where they hold `bit`: the kept one when it grants
 * `bit`, else loaded afresh (textChannel's 404 / 422, then 403 without `bit`) and kept. The
 * statement that uses it must compare `access.accessVersion` (withChannelGrant retries
 * when that refuses).
 */
export async function channelGrant(db: Db, channelId: string, userId: string, bit: number): Promise<ChannelAccess> {
  const kept = cacheOf(db).get(keyOf(channelId, userId));
  if (kept && has(kept.permissions, bit)) return kept;
  return freshChannelGrant(db, channelId, userId, bit);
}

/** channelGrant without the kept entry: after a statement refused its version. */
export async function freshChannelGrant(db: Db, channelId: string, userId: string, bit: number): Promise<ChannelAccess> {
  const cache = cacheOf(db);
  const key = keyOf(channelId, userId);
  cache.delete(key);
  const found = await textChannel(db, channelId, userId);
  requirePermission(found.permissions, bit);
  cache.set(key, found);
  return found;
}

/** How many times a hot path retries after its statement refused a version (concurrent permission changes). */
const STALE_RETRIES = 3;

/**
 * Thrown by a hot path's `run` when its statement refused the access's version (nothing was
 * written). `fresh`: the access it already loaded afresh to find that out, if it did.
 */
export class OutdatedAccess extends Error {
  constructor(readonly fresh?: ChannelAccess) {
    super('outdated channel access');
  }
}

/**
 * Runs a hot path on the caller's channel access holding `bits` (channelGrant): kept when
 * possible; when `run` throws OutdatedAccess, decided again on a fresh load and run again,
 * up to STALE_RETRIES times (then 409: the permissions kept changing under the request).
 */
export async function withChannelGrant<T>(
  db: Db,
  channelId: string,
  userId: string,
  bits: number,
  run: (found: ChannelAccess) => Promise<T>,
): Promise<T> {
  let found = await channelGrant(db, channelId, userId, bits);
  for (let attempt = 0; ; attempt++) {
    try {
      return await run(found);
    } catch (error) {
      if (!(error instanceof OutdatedAccess)) throw error;
      if (attempt === STALE_RETRIES) throw new AppError('conflict', "the channel's permissions kept changing; retry", 409);
      found = error.fresh ?? (await freshChannelGrant(db, channelId, userId, bits));
    }
  }
}
