// Wallet sign-in (EIP-4361) over HTTP. Signing in: nonce, then verify. Linking a wallet to
// the signed-in account: /me/wallet/nonce, then /me/wallet.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../../config.ts';
import type { Db } from '../../db/database.ts';
import type { EventBus } from '../../events/bus.ts';
import { caller, type RequireAuth } from '../../http/auth.ts';
import type { RateLimits } from '../../http/rate-limit.ts';
import { errors } from '../../http/schemas.ts';
import { requestMeta } from '../accounts/routes.ts';
import { authResult, me } from '../accounts/schemas.ts';
import { toMe } from '../accounts/service.ts';

// The service needs viem (tens of MB of modules); it loads on the first wallet request, so a
// node whose users never sign in with a wallet does not carry it.
const service = () => import('./service.ts');

export interface WalletDeps {
  db: Db;
  events: EventBus;
  config: Config;
  requireAuth: RequireAuth;
  limits: RateLimits;
}

const nonceBody = z.object({ address: z.string().max(200).describe('0x-prefixed 20-byte address (any case)') });
const nonceResult = z
  .object({ nonce: z.string(), message: z.string().describe('the EIP-4361 message to sign with personal_sign') })
  .meta({ id: 'WalletNonce' });
const signedBody = z.object({
  message: z.string().max(4000).describe('the message returned by the nonce endpoint'),
  signature: z.string().max(2000).describe('0x-prefixed hex signature'),
});

const addressOf = (body: unknown) => {
  const address = (body as { address?: unknown } | undefined)?.address;
  return typeof address === 'string' ? address.trim().toLowerCase().slice(0, 64) : undefined;
};
// The account a signed message speaks for: its address line, without parsing the rest.
const signerOf = (body: unknown) => {
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? /\n(0x[0-9a-fA-F]{40})\n/.exec(message)?.[1]?.toLowerCase() : undefined;
};

export const walletRoutes =
  ({ db, events, config, requireAuth, limits }: WalletDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const siwe = { publicUrl: config.publicUrl, chainId: config.siwe.chainId, rpcUrl: config.siwe.rpcUrl };

    app.post(
      '/auth/wallet/nonce',
      {
        ...limits.auth((request) => addressOf(request.body)),
        schema: { tags: ['wallet'], summary: 'A single-use nonce and the message to sign', body: nonceBody, response: { 200: nonceResult, ...errors(400, 422, 429) } },
      },
      async (request) => (await service()).issueNonce(db, { publicUrl: siwe.publicUrl, chainId: siwe.chainId, address: request.body.address, ttlMs: config.siwe.nonceTtlMs }),
    );

    app.post(
      '/auth/wallet/verify',
      {
        ...limits.auth((request) => signerOf(request.body)),
        schema: { tags: ['wallet'], summary: 'Sign in with a signed message (creates the user on first sign-in)', body: signedBody, response: { 200: authResult, ...errors(400, 401, 422, 429) } },
      },
      async (request) => {
        const { user, token } = await (await service()).verifyWalletSignIn(db, {
          ...siwe,
          ...request.body,
          sessions: config.sessions,
          meta: requestMeta(request),
        });
        return { user: toMe(user), token };
      },
    );

    app.post(
      '/me/wallet/nonce',
      {
        // Per IP only: a per-account limiter would replace requireAuth as the preHandler.
        ...limits.auth(),
        preHandler: requireAuth,
        schema: { tags: ['wallet'], summary: 'A nonce for linking a wallet to your account', security: [{ bearer: [] }], body: nonceBody, response: { 200: nonceResult, ...errors(400, 401, 422, 429) } },
      },
      async (request) =>
        (await service()).issueNonce(db, { publicUrl: siwe.publicUrl, chainId: siwe.chainId, address: request.body.address, userId: caller(request).user.id, ttlMs: config.siwe.nonceTtlMs }),
    );

    app.post(
      '/me/wallet',
      {
        preHandler: requireAuth,
        schema: { tags: ['wallet'], summary: 'Link a wallet to your account', security: [{ bearer: [] }], body: signedBody, response: { 200: me, ...errors(400, 401, 409, 422) } },
      },
      async (request) => {
        const userId = caller(request).user.id;
        const user = await (await service()).linkWallet(db, { ...siwe, ...request.body, userId });
        events.publish({ type: 'user.updated', userId });
        return toMe(user);
      },
    );
  };
