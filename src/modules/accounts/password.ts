// Password hashing: Argon2id with OWASP's minimum parameters (m = 19456 KiB, t = 2, p = 1).
// @node-rs/argon2 hashes on libuv's thread pool, so a 50 ms hash never blocks the event loop.
import { availableParallelism } from 'node:os';
import { hash, verify, type Algorithm, type Options } from '@node-rs/argon2';

// The package declares Algorithm as a `const enum`, which isolatedModules cannot read; 2 is
// its Argon2id member.
const ARGON2ID = 2 as Algorithm;

export const ARGON2_PARAMS = { memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

const OPTIONS: Options = { algorithm: ARGON2ID, ...ARGON2_PARAMS };

// The PHC string states algorithm, version and cost: $argon2id$v=19$m=19456,t=2,p=1$salt$hash
const PHC = /^\$(argon2(?:id|i|d))\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)\$/;

// Argon2 is deliberately CPU-heavy (about 50 ms a hash). Running up to libuv's four at
// once on a small machine would starve the event loop and PostgreSQL of every core, so
// hashes queue here: at most one per core less one (minimum one) runs at a time.
const MAX_CONCURRENT = Math.max(1, availableParallelism() - 1);
let running = 0;
const waiting: Array<() => void> = [];

async function limited<T>(work: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await work();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

export function hashPassword(password: string): Promise<string> {
  return limited(() => hash(password, OPTIONS));
}

/**
 * True when `password` matches `passwordHash`. A malformed or foreign hash (say a bcrypt
 * string from an import) is a failed login, not a server error.
 */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await limited(() => verify(passwordHash, password));
  } catch {
    return false;
  }
}

/**
 * True when the stored hash was made with another algorithm or weaker parameters than
 * today's, so the login that just proved the password should store a fresh hash.
 */
export function needsRehash(passwordHash: string): boolean {
  const match = PHC.exec(passwordHash);
  if (!match) return true;
  const [, algorithm, version, m, t, p] = match;
  return (
    algorithm !== 'argon2id' ||
    Number(version) !== 19 ||
    Number(m) < ARGON2_PARAMS.memoryCost ||
    Number(t) < ARGON2_PARAMS.timeCost ||
    Number(p) < ARGON2_PARAMS.parallelism
  );
}

// A fixed hash with today's parameters (of a password nobody uses): verifying against it
// costs exactly what verifying a real user's hash costs, from the very first call.
const DUMMY_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$adFtx+nhqjUCFOcU/5pNTQ$+kV8spn6YgiX9GMyicyj91YFmMHomEGfdYh406xO5+s';

/**
 * Spends the time of one real verification and returns false. Login calls it when no
 * account matches, so response time does not tell an attacker whether the account exists.
 */
export async function dummyVerify(password = 'not-the-dummy-password'): Promise<false> {
  await verifyPassword(DUMMY_HASH, password);
  return false;
}
