import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { generatePrivateKey, privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { createSiweMessage, parseSiweMessage, type SiweMessage } from 'viem/siwe';
import { useTestDatabase } from '../../../test/db.ts';
import { AppError } from '../../lib/errors.ts';
import { authenticate } from '../sessions/service.ts';
import { issueNonce, linkWallet, verifyWalletSignIn } from './service.ts';

const t = useTestDatabase();

const PUBLIC_URL = 'http://localhost:4000';
const CHAIN_ID = 1;
const TTL_MS = 10 * 60_000;
const siwe = { publicUrl: PUBLIC_URL, chainId: CHAIN_ID };
const meta = { userAgent: 'vitest', ip: '127.0.0.1' };

// No test may reach the network: fetch (what viem's http transport uses) is allowed to
// loopback only, and the offline tests assert it was not called at all.
const realFetch = globalThis.fetch;
const fetched: string[] = [];
beforeAll(() => {
  vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    fetched.push(url.href);
    if (url.hostname !== '127.0.0.1')
      return Promise.reject(new Error(`test reached for the network: ${url.href}`));
    return realFetch(input, init);
  });
});
afterAll(() => {
  vi.restoreAllMocks();
});

const newAccount = () => privateKeyToAccount(generatePrivateKey());
const lower = (account: PrivateKeyAccount) => account.address.toLowerCase();

function verify(message: string, signature: string, extra: { rpcUrl?: string } = {}) {
  return verifyWalletSignIn(t.db, {
    ...siwe,
    message,
    signature,
    sessions: t.config.sessions,
    meta,
    ...extra,
  });
}

async function signIn(account: PrivateKeyAccount) {
  const { message } = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
  return verify(message, await account.signMessage({ message }));
}

/** A message built by hand (what a client could send), with the server's defaults. */
function craft(account: PrivateKeyAccount, nonce: string, overrides: Partial<SiweMessage> = {}): string {
  const now = new Date();
  return createSiweMessage({
    domain: 'localhost:4000',
    uri: PUBLIC_URL,
    version: '1',
    chainId: CHAIN_ID,
    nonce,
    issuedAt: now,
    expirationTime: new Date(now.getTime() + TTL_MS),
    statement: 'Sign in to Cgraph',
    address: account.address,
    ...overrides,
  });
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

async function expectCode(promise: Promise<unknown>, code: string, status: number): Promise<AppError> {
  const error = await rejection(promise);
  expect({ code: error.code, status: error.status }).toEqual({ code, status });
  return error;
}

async function insertPasswordUser(): Promise<string> {
  const tag = randomBytes(5).toString('hex');
  const row = await t.db
    .insertInto('users')
    .values({ email: `${tag}@example.com`, username: `u_${tag}`, password_hash: 'argon2-placeholder' })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

describe('wallet sign-in (offline)', () => {
  afterEach(() => {
    expect(fetched).toEqual([]);
  });

  describe('issueNonce', () => {
    it('stores a single-use nonce and returns the complete EIP-4361 message', async () => {
      const account = newAccount();
      const now = new Date('2030-01-02T03:04:05.000Z');
      const { nonce, message } = await issueNonce(t.db, {
        ...siwe,
        address: lower(account),
        ttlMs: TTL_MS,
        now,
      });

      expect(nonce).toMatch(/^[A-Za-z0-9]{17,64}$/);
      expect(message).toBe(
        [
          'localhost:4000 wants you to sign in with your Ethereum account:',
          account.address, // EIP-55 checksum form, though it was asked for in lower case
          '',
          'Sign in to Cgraph',
          '',
          `URI: ${PUBLIC_URL}`,
          'Version: 1',
          'Chain ID: 1',
          `Nonce: ${nonce}`,
          'Issued At: 2030-01-02T03:04:05.000Z',
          'Expiration Time: 2030-01-02T03:14:05.000Z',
        ].join('\n'),
      );
      const row = await t.db
        .selectFrom('wallet_nonces')
        .selectAll()
        .where('nonce', '=', nonce)
        .executeTakeFirstOrThrow();
      expect(row).toMatchObject({ address: lower(account), user_id: null, consumed_at: null });
      expect(row.expires_at.toISOString()).toBe('2030-01-02T03:14:05.000Z');
    });

    it('accepts any case, gives a fresh nonce each time', async () => {
      const account = newAccount();
      const upper = `0x${account.address.slice(2).toUpperCase()}`;
      const a = await issueNonce(t.db, { ...siwe, address: upper, ttlMs: TTL_MS });
      const b = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
      expect(a.nonce).not.toBe(b.nonce);
      expect(parseSiweMessage(a.message).address).toBe(account.address);
    });

    it.each([
      ['not an address', 'must be a 0x-prefixed 40-hex-digit Ethereum address'],
      ['0x1234', 'must be a 0x-prefixed 40-hex-digit Ethereum address'],
      [`0x${'g'.repeat(40)}`, 'must be a 0x-prefixed 40-hex-digit Ethereum address'],
      [`${'a'.repeat(40)}`, 'must be a 0x-prefixed 40-hex-digit Ethereum address'],
      ['0xAbCdEf0000000000000000000000000000000000', 'has an invalid EIP-55 checksum'],
    ])('rejects the address %j with 422', async (address, problem) => {
      const error = await expectCode(
        issueNonce(t.db, { ...siwe, address, ttlMs: TTL_MS }),
        'validation_failed',
        422,
      );
      expect(error.fields).toEqual({ address: [problem] });
    });

    it('rejects a non-string address with 422, not a crash', async () => {
      await expectCode(
        issueNonce(t.db, { ...siwe, address: 42 as unknown as string, ttlMs: TTL_MS }),
        'validation_failed',
        422,
      );
    });
  });

  describe('verifyWalletSignIn', () => {
    it('creates the user on first sign-in and returns a token that authenticates', async () => {
      const account = newAccount();
      const { user, token } = await signIn(account);

      expect(user.wallet_address).toBe(lower(account));
      expect(user.username).toBe(`w_${lower(account).slice(2, 12)}`);
      expect(user.email).toBeNull();
      expect(user).not.toHaveProperty('password_hash');
      const auth = await authenticate(t.db, t.config.sessions, token);
      expect(auth?.user.id).toBe(user.id);
      expect(auth?.user.wallet_address).toBe(lower(account));
    });

    it('signs the same wallet in as the same user the second time', async () => {
      const account = newAccount();
      const first = await signIn(account);
      const second = await signIn(account);
      expect(second.user.id).toBe(first.user.id);
      expect(second.token).not.toBe(first.token);
      const count = await t.db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('wallet_address', '=', lower(account))
        .executeTakeFirstOrThrow();
      expect(Number(count.n)).toBe(1);
    });

    it('refuses a replay of a used message', async () => {
      const account = newAccount();
      const { message } = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
      const signature = await account.signMessage({ message });
      await verify(message, signature);
      await expectCode(verify(message, signature), 'nonce_invalid', 401);
    });

    it('lets exactly one of two concurrent verifications of one message succeed', async () => {
      const account = newAccount();
      const { message } = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
      const signature = await account.signMessage({ message });
      const results = await Promise.allSettled([verify(message, signature), verify(message, signature)]);
      const fulfilled = results.filter((r) => r.status === 'fulfilled');
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(fulfilled).toHaveLength(1);
      expect(rejected).toHaveLength(1);
      expect(rejected[0]!.reason).toMatchObject({ code: 'nonce_invalid', status: 401 });
    });

    it('creates one user when two first sign-ins of a wallet race', async () => {
      const account = newAccount();
      const a = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
      const b = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
      const [sa, sb] = await Promise.all([
        account.signMessage({ message: a.message }),
        account.signMessage({ message: b.message }),
      ]);
      const [ra, rb] = await Promise.all([verify(a.message, sa), verify(b.message, sb)]);
      expect(ra.user.id).toBe(rb.user.id);
      const rows = await t.db
        .selectFrom('users')
        .select('id')
        .where('wallet_address', '=', lower(account))
        .execute();
      expect(rows).toHaveLength(1);
    });

    it('picks a longer username when the short one is taken', async () => {
      const account = newAccount();
      await t.db
        .insertInto('users')
        .values({
          email: `${randomBytes(4).toString('hex')}@example.com`,
          username: `w_${lower(account).slice(2, 12)}`,
          password_hash: 'x',
        })
        .execute();
      const { user } = await signIn(account);
      expect(user.username).toBe(`w_${lower(account).slice(2, 20)}`);
    });

    it('refuses a message for another domain or scheme', async () => {
      const account = newAccount();
      for (const overrides of [
        { domain: 'evil.example' },
        { domain: 'localhost:4001' },
        { scheme: 'https' },
      ]) {
        const { nonce } = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
        const message = craft(account, nonce, overrides);
        await expectCode(
          verify(message, await account.signMessage({ message })),
          'siwe_domain_mismatch',
          401,
        );
      }
    });

    it('accepts a message whose scheme is this server’s', async () => {
      const account = newAccount();
      const { nonce } = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
      const message = craft(account, nonce, { scheme: 'http' });
      const { user } = await verify(message, await account.signMessage({ message }));
      expect(user.wallet_address).toBe(lower(account));
    });

    it('refuses a message for another URI', async () => {
      const account = newAccount();
      const { nonce } = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
      const message = craft(account, nonce, { uri: 'https://evil.example/login' });
      await expectCode(verify(message, await account.signMessage({ message })), 'siwe_uri_mismatch', 401);
    });

    it('refuses a message for another chain', async () => {
      const account = newAccount();
      const { nonce } = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
      const message = craft(account, nonce, { chainId: 5 });
      await expectCode(verify(message, await account.signMessage({ message })), 'siwe_chain_mismatch', 401);
    });

    it('refuses an expired message', async () => {
      const account = newAccount();
      const { message } = await issueNonce(t.db, {
        ...siwe,
        address: account.address,
        ttlMs: TTL_MS,
        now: new Date(Date.now() - 60 * 60_000),
      });
      await expectCode(verify(message, await account.signMessage({ message })), 'siwe_expired', 401);
    });

    it('holds the nonce’s own expiry even when the client drops Expiration Time', async () => {
      const account = newAccount();
      const { nonce } = await issueNonce(t.db, {
        ...siwe,
        address: account.address,
        ttlMs: TTL_MS,
        now: new Date(Date.now() - 60 * 60_000),
      });
      const message = craft(account, nonce, { expirationTime: undefined });
      await expectCode(verify(message, await account.signMessage({ message })), 'nonce_invalid', 401);
    });

    it('refuses a message whose Not Before is ahead, or whose Issued At is in the future', async () => {
      const account = newAccount();
      const later = new Date(Date.now() + 5 * 60_000);
      for (const overrides of [{ notBefore: later }, { issuedAt: later }]) {
        const { nonce } = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
        const message = craft(account, nonce, overrides);
        await expectCode(verify(message, await account.signMessage({ message })), 'siwe_not_yet_valid', 401);
      }
    });

    it('refuses a message changed after signing, and keeps the nonce usable', async () => {
      const account = newAccount();
      const { message } = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
      const signature = await account.signMessage({ message });
      const tampered = message.replace('Sign in to Cgraph', 'Sign in to Cgraqh');
      expect(tampered).not.toBe(message);
      await expectCode(verify(tampered, signature), 'invalid_signature', 401);
      // A forged attempt does not burn the owner's nonce.
      const { user } = await verify(message, signature);
      expect(user.wallet_address).toBe(lower(account));
    });

    it('refuses a message signed by another account', async () => {
      const account = newAccount();
      const { message } = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
      await expectCode(
        verify(message, await newAccount().signMessage({ message })),
        'invalid_signature',
        401,
      );
    });

    it.each([
      ['empty', ''],
      ['not SIWE', 'hello world'],
      ['trailing line', (m: string) => `${m}\nURI: https://evil.example`],
      ['duplicated field', (m: string) => m.replace('Version: 1\n', 'Version: 1\nVersion: 1\n')],
      ['bad date', (m: string) => m.replace(/Issued At: .*/, 'Issued At: yesterday')],
      ['no nonce', (m: string) => m.replace(/\nNonce: .*/, '')],
    ])('rejects a malformed message (%s) with 422 fields.message', async (_name, make) => {
      const account = newAccount();
      const { message } = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
      const bad = typeof make === 'string' ? make : make(message);
      const error = await expectCode(
        verify(bad, await account.signMessage({ message: bad })),
        'validation_failed',
        422,
      );
      expect(error.fields).toEqual({ message: ['is not a valid EIP-4361 message'] });
    });

    it('rejects a non-string message and signature with 422 naming both', async () => {
      const error = await expectCode(
        verify(null as unknown as string, 7 as unknown as string),
        'validation_failed',
        422,
      );
      expect(Object.keys(error.fields ?? {}).sort()).toEqual(['message', 'signature']);
    });

    it.each([['nothex'], ['0x'], ['0x123'], ['0xzz'], [`0x${'ab'.repeat(9000)}`]])(
      'rejects the malformed signature %j with 422 fields.signature',
      async (signature) => {
        const account = newAccount();
        const { message } = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
        const error = await expectCode(verify(message, signature), 'validation_failed', 422);
        expect(error.fields).toEqual({ signature: ['must be a 0x-prefixed hex signature'] });
      },
    );

    it.each([
      ['65 zero bytes', `0x${'00'.repeat(65)}`],
      ['65 bytes, bad v', `0x${'11'.repeat(64)}ff`],
      ['64 bytes', `0x${'22'.repeat(64)}`],
    ])('answers a well-formed but wrong signature (%s) with 401, not 500', async (_name, signature) => {
      const account = newAccount();
      const { message } = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
      await expectCode(verify(message, signature), 'invalid_signature', 401);
    });

    it('refuses a nonce the server never issued', async () => {
      const account = newAccount();
      const message = craft(account, randomBytes(16).toString('hex'));
      await expectCode(verify(message, await account.signMessage({ message })), 'nonce_invalid', 401);
    });

    it('refuses a nonce issued for another address', async () => {
      const victim = newAccount();
      const attacker = newAccount();
      const { nonce } = await issueNonce(t.db, { ...siwe, address: victim.address, ttlMs: TTL_MS });
      const message = craft(attacker, nonce);
      await expectCode(verify(message, await attacker.signMessage({ message })), 'nonce_invalid', 401);
    });

    it('refuses a contract-wallet signature clearly when no RPC endpoint is configured', async () => {
      const wallet = newAccount(); // stands in for a contract account: its "signature" is not ECDSA
      const { message } = await issueNonce(t.db, { ...siwe, address: wallet.address, ttlMs: TTL_MS });
      const error = await expectCode(
        verify(message, `0x${'ab'.repeat(200)}`),
        'contract_wallet_unsupported',
        401,
      );
      expect(error.message).toMatch(/RPC/);
    });
  });

  describe('linkWallet', () => {
    async function linkNonce(userId: string, account: PrivateKeyAccount) {
      const { message } = await issueNonce(t.db, {
        ...siwe,
        address: account.address,
        userId,
        ttlMs: TTL_MS,
      });
      return { message, signature: await account.signMessage({ message }) };
    }

    it('links a wallet to the signed-in user, who can then sign in with it', async () => {
      const userId = await insertPasswordUser();
      const account = newAccount();
      const signed = await linkNonce(userId, account);
      expect(parseSiweMessage(signed.message).statement).toBe('Link this wallet to your Cgraph account');

      const user = await linkWallet(t.db, { ...siwe, ...signed, userId });
      expect(user).toMatchObject({ id: userId, wallet_address: lower(account) });
      expect(user).not.toHaveProperty('password_hash');

      const { user: signedIn } = await signIn(account);
      expect(signedIn.id).toBe(userId);
    });

    it('refuses a wallet that belongs to another account with 409', async () => {
      const owner = newAccount();
      await signIn(owner);
      const userId = await insertPasswordUser();
      const signed = await linkNonce(userId, owner);
      const error = await expectCode(linkWallet(t.db, { ...siwe, ...signed, userId }), 'wallet_taken', 409);
      expect(error.fields).toEqual({ address: ['has already been taken'] });
      const row = await t.db
        .selectFrom('users')
        .select('wallet_address')
        .where('id', '=', userId)
        .executeTakeFirstOrThrow();
      expect(row.wallet_address).toBeNull();
    });

    it('gives one 409 when two users race to link the same wallet', async () => {
      const account = newAccount();
      const [u1, u2] = await Promise.all([insertPasswordUser(), insertPasswordUser()]);
      const [s1, s2] = await Promise.all([linkNonce(u1, account), linkNonce(u2, account)]);
      const results = await Promise.allSettled([
        linkWallet(t.db, { ...siwe, ...s1, userId: u1 }),
        linkWallet(t.db, { ...siwe, ...s2, userId: u2 }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(rejected[0]?.reason).toMatchObject({ code: 'wallet_taken', status: 409 });
    });

    it('does not let a linking nonce sign in', async () => {
      const userId = await insertPasswordUser();
      const account = newAccount();
      const signed = await linkNonce(userId, account);
      await expectCode(verify(signed.message, signed.signature), 'nonce_invalid', 401);
      const rows = await t.db
        .selectFrom('users')
        .select('id')
        .where('wallet_address', '=', lower(account))
        .execute();
      expect(rows).toEqual([]);
    });

    it('does not let a sign-in nonce, or another user’s linking nonce, link', async () => {
      const [userId, otherId] = await Promise.all([insertPasswordUser(), insertPasswordUser()]);
      const account = newAccount();
      const { message } = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
      const signature = await account.signMessage({ message });
      await expectCode(linkWallet(t.db, { ...siwe, message, signature, userId }), 'nonce_invalid', 401);

      const theirs = await linkNonce(otherId, account);
      await expectCode(linkWallet(t.db, { ...siwe, ...theirs, userId }), 'nonce_invalid', 401);
    });

    it('checks the message like sign-in does', async () => {
      const userId = await insertPasswordUser();
      const account = newAccount();
      const { message } = await issueNonce(t.db, {
        ...siwe,
        address: account.address,
        userId,
        ttlMs: TTL_MS,
      });
      await expectCode(
        linkWallet(t.db, {
          ...siwe,
          message,
          signature: await newAccount().signMessage({ message }),
          userId,
        }),
        'invalid_signature',
        401,
      );
      await expectCode(
        linkWallet(t.db, {
          ...siwe,
          chainId: 10,
          message,
          signature: await account.signMessage({ message }),
          userId,
        }),
        'siwe_chain_mismatch',
        401,
      );
    });
  });
});

describe('wallet sign-in with an RPC endpoint (a fake one on loopback)', () => {
  let server: http.Server;
  let rpcUrl: string;
  const calls: string[] = [];

  beforeAll(async () => {
    // Answers every eth_call with ABI `true`: what a contract wallet's validator returns
    // for a signature it accepts.
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const { id, method } = JSON.parse(body) as { id: number; method: string };
        calls.push(method);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ jsonrpc: '2.0', id, result: `0x${'0'.repeat(63)}1` }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    rpcUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('verifies an ordinary account locally, without calling the endpoint', async () => {
    calls.length = 0;
    const account = newAccount();
    const { message } = await issueNonce(t.db, { ...siwe, address: account.address, ttlMs: TTL_MS });
    const { user } = await verify(message, await account.signMessage({ message }), { rpcUrl });
    expect(user.wallet_address).toBe(lower(account));
    expect(calls).toEqual([]);
  });

  it('asks the endpoint about a contract-wallet signature', async () => {
    calls.length = 0;
    const wallet = `0x${randomBytes(20).toString('hex')}`;
    const { message } = await issueNonce(t.db, { ...siwe, address: wallet, ttlMs: TTL_MS });
    const { user } = await verify(message, `0x${'ab'.repeat(200)}`, { rpcUrl });
    expect(user.wallet_address).toBe(wallet);
    expect(calls).toEqual(['eth_call']);
  });

  it('answers 503 when the endpoint cannot be reached', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const wallet = `0x${randomBytes(20).toString('hex')}`;
    const { message } = await issueNonce(t.db, { ...siwe, address: wallet, ttlMs: TTL_MS });
    await expectCode(
      verify(message, `0x${'ab'.repeat(200)}`, { rpcUrl: `http://127.0.0.1:${port}` }),
      'wallet_rpc_unavailable',
      503,
    );
  });

  it('never reached beyond loopback', () => {
    expect(fetched.filter((href) => new URL(href).hostname !== '127.0.0.1')).toEqual([]);
  });
});
