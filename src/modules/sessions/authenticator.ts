// Resolves bearer tokens to users for every authenticated request. A verified session is
// cached in memory for SESSION_CACHE_TTL (default 30 s), so a busy client costs no query
// at all; revocations and profile changes evict entries through the domain-event bus (on
// every node when REDIS_URL is set; without Redis, other nodes notice within the TTL).
// Expiry, the idle timeout and the once-a-minute activity write still apply to hits.
import type { Db } from '../../db/database.ts';
import type { EventBus } from '../../events/bus.ts';
import { touchSession } from './queries.ts';
import { lookupSession, TOUCH_INTERVAL_MS, type Authenticated, type SessionPolicy } from './service.ts';
import { hashToken, isWellFormedToken } from './tokens.ts';

interface Entry {
  auth: Authenticated;
  cachedAt: number;
  expiresAt: number;
  lastActiveAt: number;
}

export interface AuthenticatorOptions {
  cacheTtlMs: number;
  maxEntries?: number;
}

export class SessionAuthenticator {
  private readonly entries = new Map<string, Entry>();
  private readonly byUser = new Map<string, Set<string>>();
  private readonly bySession = new Map<string, string>();
  private readonly maxEntries: number;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly db: Db,
    private readonly policy: SessionPolicy,
    private readonly options: AuthenticatorOptions,
    events: EventBus,
  ) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.unsubscribe = events.subscribe((event) => {
      if (event.type === 'sessions.revoked') for (const id of event.sessionIds) this.evictSession(id);
      if (event.type === 'user.updated') this.evictUser(event.userId);
    });
  }

  close(): void {
    this.unsubscribe();
    this.entries.clear();
    this.byUser.clear();
    this.bySession.clear();
  }

  async authenticate(token: string): Promise<Authenticated | undefined> {
    if (!isWellFormedToken(token)) return undefined;
    const hash = hashToken(token);
    const key = hash.toString('base64');
    const now = Date.now();
    const cached = this.entries.get(key);
    if (cached && now - cached.cachedAt < this.options.cacheTtlMs) {
      if (cached.expiresAt <= now || cached.lastActiveAt <= now - this.policy.idleTimeoutMs) {
        this.evict(key);
        return undefined;
      }
      if (now - cached.lastActiveAt > TOUCH_INTERVAL_MS) {
        cached.lastActiveAt = now;
        await touchSession(this.db, { id: cached.auth.sessionId, cutoff: new Date(now - TOUCH_INTERVAL_MS) });
      }
      return cached.auth;
    }
    if (cached) this.evict(key);

    const live = await lookupSession(this.db, this.policy, token);
    if (!live) return undefined;
    if (this.options.cacheTtlMs > 0) {
      this.remember(key, { auth: live.auth, cachedAt: now, expiresAt: live.expiresAt.getTime(), lastActiveAt: live.lastActiveAt.getTime() });
    }
    return live.auth;
  }

  evictUser(userId: string): void {
    for (const key of this.byUser.get(userId) ?? []) this.evict(key);
  }

  evictSession(sessionId: string): void {
    const key = this.bySession.get(sessionId);
    if (key) this.evict(key);
  }

  private remember(key: string, entry: Entry): void {
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.evict(oldest);
    }
    this.entries.set(key, entry);
    const userId = entry.auth.user.id;
    let keys = this.byUser.get(userId);
    if (!keys) this.byUser.set(userId, (keys = new Set()));
    keys.add(key);
    this.bySession.set(entry.auth.sessionId, key);
  }

  private evict(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bySession.delete(entry.auth.sessionId);
    const keys = this.byUser.get(entry.auth.user.id);
    keys?.delete(key);
    if (keys?.size === 0) this.byUser.delete(entry.auth.user.id);
  }
}
