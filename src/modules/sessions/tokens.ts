// Bearer tokens: 256 random bits, handed to the client once; the database keeps only their
// SHA-256, so a leaked sessions table cannot be replayed.
import { createHash, randomBytes } from 'node:crypto';

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** Cheap shape check before any lookup: anything else cannot be one of our tokens. */
export function isWellFormedToken(token: string): boolean {
  return TOKEN.test(token);
}
