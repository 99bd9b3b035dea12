// The wallet context: Sign-In with Ethereum (EIP-4361). The server issues a single-use
// nonce and the message to sign; verification checks the message against this server
// (domain, URI, chain, lifetime), the signature (viem's verifySiweMessage), and then uses
// the nonce up in the same transaction that finds or creates the user and starts the
// session. See docs/wallet.md.
//
// Signatures of ordinary accounts (EOAs) are checked locally by ECDSA recovery; only a
// contract wallet (ERC-1271 / ERC-6492) needs an RPC endpoint, and without one it is
// refused with `contract_wallet_unsupported`, never by reaching out to the network.
import { randomBytes } from 'node:crypto';
import {
  createClient,
  custom,
  getAddress,
  http,
  HttpRequestError,
  TimeoutError,
  type Client,
  type Hex,
  type Transport,
} from 'viem';
import {
  createSiweMessage,
  parseSiweMessage,
  verifySiweMessage,
  type VerifySiweMessageParameters,
} from 'viem/siwe';
import type { Db } from '../../db/database.ts';
import { fail, transaction } from '../../db/unit-of-work.ts';
import { AppError, ValidationError } from '../../lib/errors.ts';
import { createSession, type AuthUser, type RequestMeta, type SessionPolicy } from '../sessions/service.ts';
import {
  consumeNonce,
  findUserByWallet,
  insertNonce,
  insertWalletUser,
  setUserWallet,
} from './queries.ts';

export const SIGN_IN_STATEMENT = 'Sign in to Cgraph';
export const LINK_STATEMENT = 'Link this wallet to your Cgraph account';
/** How far in the future a client-built message's Issued At may be (clock skew). */
export const ISSUED_AT_SKEW_MS = 60_000;
const MAX_MESSAGE_LENGTH = 8192;
const MAX_SIGNATURE_BYTES = 8192;
const RPC_TIMEOUT_MS = 10_000;

export interface IssueNonceOptions {
  address: string;
  /** Set when a signed-in user asks to link a wallet: the nonce then cannot sign in. */
  userId?: string | undefined;
  publicUrl: string;
  chainId: number;
  ttlMs: number;
  now?: Date | undefined;
}

interface VerifyOptions {
  message: string;
  signature: string;
  publicUrl: string;
  chainId: number;
  /** JSON-RPC endpoint for contract-wallet signatures (SIWE_RPC_URL); EOAs never use it. */
  rpcUrl?: string | undefined;
  now?: Date | undefined;
}

export interface VerifyWalletSignInOptions extends VerifyOptions {
  sessions: SessionPolicy;
  meta: RequestMeta;
}

export interface LinkWalletOptions extends VerifyOptions {
  userId: string;
}

/** A fresh nonce for `address` and the complete EIP-4361 message the wallet should sign. */
export async function issueNonce(
  db: Db,
  opts: IssueNonceOptions,
): Promise<{ nonce: string; message: string }> {
  const address = parseAddress(opts.address);
  const now = opts.now ?? new Date();
  const expiresAt = new Date(now.getTime() + opts.ttlMs);
  // 128 random bits from the CSPRNG. (viem's generateSiweNonce uses Math.random and gives
  // 96 characters, more than wallet_nonces_nonce_check allows.)
  const nonce = randomBytes(16).toString('hex');
  const message = createSiweMessage({
    domain: siweDomain(opts.publicUrl),
    uri: opts.publicUrl,
    version: '1',
    chainId: opts.chainId,
    nonce,
    issuedAt: now,
    expirationTime: expiresAt,
    statement: opts.userId === undefined ? SIGN_IN_STATEMENT : LINK_STATEMENT,
    address: getAddress(address),
  });
  await insertNonce(db, { nonce, address, userId: opts.userId ?? null, expiresAt });
  return { nonce, message };
}

/** Signs a wallet in, creating its user on first sign-in; returns the user and a session token. */
export async function verifyWalletSignIn(
  db: Db,
  opts: VerifyWalletSignInOptions,
): Promise<{ user: AuthUser; token: string }> {
  const signed = await verifySignedMessage(opts);
  const outcome = await transaction<{ user: AuthUser; token: string }, AppError>(db, async (trx) => {
    const used = await consumeNonce(trx, { nonce: signed.nonce, address: signed.address, userId: null });
    if (!used) return fail(nonceInvalid());
    const user = await findOrCreateWalletUser(trx, signed.address);
    const { token } = await createSession(trx, opts.sessions, user.id, opts.meta);
    return { user, token };
  });
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

/** Links a wallet to the signed-in user `userId`, with a nonce issued for that user. */
export async function linkWallet(db: Db, opts: LinkWalletOptions): Promise<AuthUser> {
  const signed = await verifySignedMessage(opts);
  const taken = () =>
    new AppError('wallet_taken', 'this wallet belongs to another account', 409, {
      address: ['has already been taken'],
    });
  try {
    const outcome = await transaction<AuthUser, AppError>(db, async (trx) => {
      const used = await consumeNonce(trx, {
        nonce: signed.nonce,
        address: signed.address,
        userId: opts.userId,
      });
      if (!used) return fail(nonceInvalid());
      const holder = await findUserByWallet(trx, signed.address);
      if (holder && holder.id !== opts.userId) return fail(taken());
      if (holder) return holder;
      const user = await setUserWallet(trx, opts.userId, signed.address);
      // The nonce's foreign key cascades from users, so a consumed nonce means the user exists.
      if (!user) throw new Error(`linkWallet: user ${opts.userId} vanished`);
      return user;
    });
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  } catch (error) {
    // Another account took the wallet between our check and our update.
    if (isUniqueViolation(error, 'users_wallet_address_index')) throw taken();
    throw error;
  }
}

export { sweepExpiredNonces } from './queries.ts';

// ---------------------------------------------------------------------------------------

interface SignedMessage {
  /** Lower-case, as stored. */
  address: string;
  nonce: string;
}

/** Every check that needs no database: message shape and fields, then the signature. */
async function verifySignedMessage(opts: VerifyOptions): Promise<SignedMessage> {
  const now = opts.now ?? new Date();
  const message = typeof opts.message === 'string' ? opts.message : '';
  const parsed = parseMessage(message);
  const signature = parseSignature(opts.signature);
  if (!parsed || !signature)
    throw new ValidationError({
      ...(parsed ? {} : { message: ['is not a valid EIP-4361 message'] }),
      ...(signature ? {} : { signature: ['must be a 0x-prefixed hex signature'] }),
    });

  const expected = new URL(opts.publicUrl);
  if (parsed.domain !== siweDomain(opts.publicUrl))
    throw new AppError('siwe_domain_mismatch', `the message is for ${parsed.domain}, not this server`);
  if (parsed.scheme !== undefined && `${parsed.scheme.toLowerCase()}:` !== expected.protocol)
    throw new AppError(
      'siwe_domain_mismatch',
      `the message's scheme is not ${expected.protocol.slice(0, -1)}`,
    );
  if (withoutTrailingSlash(parsed.uri) !== withoutTrailingSlash(opts.publicUrl))
    throw new AppError('siwe_uri_mismatch', `the message's URI must be ${opts.publicUrl}`);
  if (parsed.chainId !== opts.chainId)
    throw new AppError(
      'siwe_chain_mismatch',
      `the message is for chain ${parsed.chainId}, not ${opts.chainId}`,
    );
  if (parsed.expirationTime && now >= parsed.expirationTime)
    throw new AppError('siwe_expired', 'the message has expired; ask for a new nonce');
  if (parsed.notBefore && now < parsed.notBefore)
    throw new AppError('siwe_not_yet_valid', 'the message is not valid yet (Not Before)');
  if (parsed.issuedAt.getTime() > now.getTime() + ISSUED_AT_SKEW_MS)
    throw new AppError('siwe_not_yet_valid', 'the message was issued in the future');

  await verifySignature(
    { message, signature, domain: parsed.domain, nonce: parsed.nonce, scheme: parsed.scheme, now },
    opts.rpcUrl,
  );
  return { address: parsed.address.toLowerCase(), nonce: parsed.nonce };
}

/**
 * viem's verifySiweMessage re-checks domain, nonce, scheme and lifetime, then verifies the
 * signature with `mode: 'eoa'` (viem passes it on to verifyHash, though its type does not
 * list it): ECDSA recovery first, locally, and only when that fails the ERC-6492/1271
 * contract check, which is an eth_call. Without an RPC URL the transport refuses every
 * request without touching the network.
 */
async function verifySignature(
  p: {
    message: string;
    signature: Hex;
    domain: string;
    nonce: string;
    scheme: string | undefined;
    now: Date;
  },
  rpcUrl: string | undefined,
): Promise<void> {
  const rpc = verificationClient(rpcUrl);
  const params: VerifySiweMessageParameters & { mode: 'eoa' } = {
    message: p.message,
    signature: p.signature,
    domain: p.domain,
    nonce: p.nonce,
    scheme: p.scheme,
    time: p.now,
    mode: 'eoa',
  };
  let valid = false;
  try {
    valid = await verifySiweMessage(rpc.client, params);
  } catch {
    valid = false; // an undecodable contract answer, a malformed signature: not a valid one
  }
  if (valid) return;
  if (rpc.state.unreachable)
    throw new AppError(
      'wallet_rpc_unavailable',
      'the RPC endpoint for contract-wallet signatures did not answer',
      503,
    );
  if (rpc.state.refused && !isEcdsaSignature(p.signature))
    throw new AppError(
      'contract_wallet_unsupported',
      'contract-wallet (ERC-1271/ERC-6492) signatures need an RPC endpoint, and none is configured',
    );
  throw new AppError('invalid_signature', 'the signature was not made by the message’s address');
}

interface RpcState {
  /** Offline: a request was needed (and refused). */
  refused: boolean;
  /** Online: the endpoint could not be reached or timed out. */
  unreachable: boolean;
}

export class OfflineTransportError extends Error {
  override readonly name = 'OfflineTransportError';
  constructor(method: string) {
    super(
      `no SIWE RPC endpoint configured: refusing ${method} (contract-wallet signatures need SIWE_RPC_URL)`,
    );
  }
}

function verificationClient(rpcUrl: string | undefined): { client: Client<Transport>; state: RpcState } {
  const state: RpcState = { refused: false, unreachable: false };
  if (!rpcUrl) {
    const transport = custom(
      {
        request: ({ method }: { method: string }): Promise<never> => {
          state.refused = true;
          return Promise.reject(new OfflineTransportError(method));
        },
      },
      { retryCount: 0 },
    );
    return { client: createClient({ transport }), state };
  }
  const upstream = createClient({ transport: http(rpcUrl, { timeout: RPC_TIMEOUT_MS, retryCount: 1 }) });
  const transport = custom(
    {
      request: async (args: { method: string; params?: unknown }): Promise<unknown> => {
        try {
          return await upstream.request(args as never);
        } catch (error) {
          if (error instanceof HttpRequestError || error instanceof TimeoutError) state.unreachable = true;
          throw error;
        }
      },
    },
    { retryCount: 0 },
  );
  return { client: createClient({ transport }), state };
}

/** 64-byte (EIP-2098) or 65-byte ECDSA: what an ordinary account signs with. */
function isEcdsaSignature(signature: Hex): boolean {
  return signature.length === 2 + 128 || signature.length === 2 + 130;
}

async function findOrCreateWalletUser(db: Db, address: string): Promise<AuthUser> {
  const existing = await findUserByWallet(db, address);
  if (existing) return existing;
  for (const username of usernameCandidates(address)) {
    const created = await insertWalletUser(db, { address, username });
    if (created) return created;
    // Nothing inserted: a racing first sign-in of this wallet won (read its user), or the
    // username is taken (try the next one).
    const winner = await findUserByWallet(db, address);
    if (winner) return winner;
  }
  throw new Error('findOrCreateWalletUser: no free username');
}

/** `w_` + the address's first 10 hex digits, then 18, then random ones (usernames are ≤ 20). */
function* usernameCandidates(address: string): Generator<string> {
  const hex = address.slice(2);
  yield `w_${hex.slice(0, 10)}`;
  yield `w_${hex.slice(0, 18)}`;
  for (let i = 0; i < 5; i++) yield `w_${randomBytes(9).toString('hex')}`;
}

// ---------------------------------------------------------------------------------------
// Input parsing: malformed input is a 422 with `fields`, never a 500.

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/** A 0x address in any case, returned lower-case; mixed case must be a valid EIP-55 checksum. */
function parseAddress(input: unknown): string {
  if (typeof input !== 'string' || !ADDRESS.test(input))
    throw new ValidationError({ address: ['must be a 0x-prefixed 40-hex-digit Ethereum address'] });
  const hex = input.slice(2);
  const mixedCase = hex !== hex.toLowerCase() && hex !== hex.toUpperCase();
  if (mixedCase && getAddress(input) !== input)
    throw new ValidationError({ address: ['has an invalid EIP-55 checksum'] });
  return input.toLowerCase();
}

/** The signature as hex, or undefined when it is not even-length 0x hex of a sane size. */
function parseSignature(input: unknown): Hex | undefined {
  if (
    typeof input !== 'string' ||
    input.length > 2 + 2 * MAX_SIGNATURE_BYTES ||
    !/^0x(?:[0-9a-fA-F]{2})+$/.test(input)
  )
    return undefined;
  return input as Hex;
}

// The whole message, anchored, in EIP-4361's line order: viem's parser looks for its
// fields anywhere, so without this a message with duplicated or trailing lines could mean
// one thing to the wallet that showed it and another to us.
const MESSAGE_SHAPE = new RegExp(
  [
    '^(?:[a-zA-Z][a-zA-Z0-9+\\-.]*://)?[^\\s/]+ wants you to sign in with your Ethereum account:\\n',
    '0x[0-9a-fA-F]{40}\\n\\n',
    '(?:[^\\n]+\\n\\n|\\n)?', // the statement, or the EIP's empty statement line
    'URI: [^\\n]+\\n',
    'Version: 1\\n',
    'Chain ID: [0-9]{1,16}\\n',
    'Nonce: [a-zA-Z0-9]{8,}\\n',
    'Issued At: [^\\n]+',
    '(?:\\nExpiration Time: [^\\n]+)?',
    '(?:\\nNot Before: [^\\n]+)?',
    '(?:\\nRequest ID: [^\\n]*)?',
    '(?:\\nResources:(?:\\n- [^\\n]+)*)?$',
  ].join(''),
);

interface ParsedMessage {
  address: string;
  domain: string;
  scheme: string | undefined;
  uri: string;
  chainId: number;
  nonce: string;
  issuedAt: Date;
  expirationTime: Date | undefined;
  notBefore: Date | undefined;
}

/** The message's fields, or undefined when it is not a well-formed EIP-4361 message. */
function parseMessage(message: string): ParsedMessage | undefined {
  if (message.length === 0 || message.length > MAX_MESSAGE_LENGTH || !MESSAGE_SHAPE.test(message))
    return undefined;
  const m = parseSiweMessage(message);
  const validDate = (d: Date | undefined) => d === undefined || !Number.isNaN(d.getTime());
  if (
    !m.address ||
    !m.domain ||
    !m.uri ||
    m.version !== '1' ||
    m.chainId === undefined ||
    !Number.isSafeInteger(m.chainId) ||
    !m.nonce ||
    !m.issuedAt ||
    !validDate(m.issuedAt) ||
    !validDate(m.expirationTime) ||
    !validDate(m.notBefore)
  )
    return undefined;
  return {
    address: m.address,
    domain: m.domain,
    scheme: m.scheme,
    uri: m.uri,
    chainId: m.chainId,
    nonce: m.nonce,
    issuedAt: m.issuedAt,
    expirationTime: m.expirationTime,
    notBefore: m.notBefore,
  };
}

/** The EIP-4361 domain of this server: the host[:port] of its public URL. */
function siweDomain(publicUrl: string): string {
  return new URL(publicUrl).host;
}

function withoutTrailingSlash(uri: string): string {
  return uri.endsWith('/') ? uri.slice(0, -1) : uri;
}

function nonceInvalid(): AppError {
  return new AppError('nonce_invalid', 'the nonce is unknown, already used or expired; ask for a new one');
}

function isUniqueViolation(error: unknown, constraint: string): boolean {
  if (!(error instanceof Error)) return false;
  const e = error as { code?: unknown; constraint?: unknown };
  return e.code === '23505' && e.constraint === constraint;
}
