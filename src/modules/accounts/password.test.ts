import { hash } from '@node-rs/argon2';
import { describe, expect, it } from 'vitest';
import { ARGON2_PARAMS, dummyVerify, hashPassword, needsRehash, verifyPassword } from './password.ts';

describe('password hashing', () => {
  it('hashes with Argon2id m=19456 KiB, t=2, p=1, as the encoded hash states', async () => {
    const encoded = await hashPassword('correct horse battery staple');
    expect(encoded).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(ARGON2_PARAMS).toEqual({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
  });

  it('salts every hash', async () => {
    expect(await hashPassword('same password')).not.toBe(await hashPassword('same password'));
  });

  it('verifies the right password and rejects a wrong one', async () => {
    const encoded = await hashPassword('pässwörd with ünicode');
    expect(await verifyPassword(encoded, 'pässwörd with ünicode')).toBe(true);
    expect(await verifyPassword(encoded, 'passwort with unicode')).toBe(false);
  });

  it('treats a malformed or foreign hash as a failed verification', async () => {
    expect(await verifyPassword('not a hash', 'password')).toBe(false);
    expect(
      await verifyPassword('$2b$12$abcdefghijklmnopqrstuu5Tt0DZ3w1qK1oEwA4y5yq1pHfTr6bQe', 'password'),
    ).toBe(false);
  });

  it('needsRehash: false for current parameters, true for weaker ones or other algorithms', async () => {
    expect(needsRehash(await hashPassword('pw'))).toBe(false);
    const weakMemory = await hash('pw', { memoryCost: 4096, timeCost: 2, parallelism: 1 });
    expect(weakMemory).toContain('$m=4096,t=2,p=1$');
    expect(needsRehash(weakMemory)).toBe(true);
    expect(needsRehash(await hash('pw', { memoryCost: 19456, timeCost: 1, parallelism: 1 }))).toBe(true);
    expect(needsRehash(await hash('pw', { memoryCost: 19456, timeCost: 2, algorithm: 1 as never }))).toBe(
      true,
    );
    expect(needsRehash('$2b$12$abcdefghijklmnopqrstuu5Tt0DZ3w1qK1oEwA4y5yq1pHfTr6bQe')).toBe(true);
    expect(needsRehash('')).toBe(true);
  });

  it('dummyVerify costs about as much as a real verification and always fails', async () => {
    const encoded = await hashPassword('real password');
    const time = async (fn: () => Promise<unknown>) => {
      const started = performance.now();
      await fn();
      return performance.now() - started;
    };
    await dummyVerify(); // warm up the thread pool
    const real = await time(() => verifyPassword(encoded, 'wrong password'));
    const dummy = await time(() => dummyVerify('wrong password'));
    expect(await dummyVerify('cgraph dummy password')).toBe(false);
    // Generous bounds: CI machines are noisy, but a missing hash would be ~100x faster.
    expect(dummy).toBeGreaterThan(real / 4);
    expect(dummy).toBeLessThan(real * 4);
  });
});
