// GET /gateway: the WebSocket endpoint. A plain GET (no upgrade) gets 426; a browser
// Origin outside GATEWAY_ALLOWED_ORIGINS gets 403 before the upgrade.
import websocket from '@fastify/websocket';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { GatewayConfig } from '../config.ts';
import { errorBody } from '../http/schemas.ts';
import type { Gateway } from './gateway.ts';

export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  // Non-browser clients send no Origin; browsers always do, and that is what the list guards.
  if (origin === undefined) return true;
  return allowed.includes('*') || allowed.includes(origin);
}

export const gatewayRoutes =
  ({ gateway, config }: { gateway: Gateway; config: GatewayConfig }): FastifyPluginAsync =>
  async (app) => {
    await app.register(websocket, { options: { maxPayload: config.maxFrameBytes } });
    app.withTypeProvider<ZodTypeProvider>().route({
      method: 'GET',
      url: '/gateway',
      schema: {
        tags: ['realtime'],
        summary: 'Realtime gateway (WebSocket upgrade; see docs/gateway.md for the frames)',
        response: { 403: errorBody, 426: errorBody },
      },
      preValidation: async (request, reply) => {
        if (!originAllowed(request.headers.origin, config.allowedOrigins)) {
          return reply
            .code(403)
            .send({ error: { code: 'origin_not_allowed', message: 'this origin may not open the gateway' } });
        }
      },
      handler: async (_request, reply) => {
        reply.code(426).header('upgrade', 'websocket');
        return { error: { code: 'upgrade_required', message: 'GET /gateway is a WebSocket endpoint' } };
      },
      wsHandler: (socket) => {
        gateway.accept(socket);
      },
    });
  };
