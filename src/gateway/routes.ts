// GET /gateway: the WebSocket endpoint. A plain GET (no upgrade) gets 426; a browser
// Origin outside GATEWAY_ALLOWED_ORIGINS gets 403 before the upgrade.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import websocket from '@fastify/websocket';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { WebSocket } from 'ws';
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
    await app.register(websocket, {
      // No client tracking (a Set entry and a close listener per socket): the gateway keeps
      // its own index, and closes its sockets with 1001 before the server waits for them.
      // No permessage-deflate (ws's default, stated here): it would hold zlib contexts per
      // socket (a deflate stream at default settings alone takes about 256 KB).
      options: { maxPayload: config.maxFrameBytes, clientTracking: false, perMessageDeflate: false },
      preClose: (done) => {
        gateway.closeSockets();
        done();
      },
    });
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
      wsHandler: (socket, request) => {
        releaseUpgrade(socket, request.raw);
        gateway.accept(socket);
      },
    });
  };

/**
 * Nothing of the HTTP exchange is needed once the socket is upgraded, but two references
 * would keep all of it (Fastify's request and reply, a child logger, Node's request and
 * response: about 2 KB) alive for as long as the socket: @fastify/websocket's 'error'
 * listener closes over the request and the reply, and the TCP socket still points at the
 * response it was assigned to. The connection adds its own 'error' listener (a socket
 * without one would crash the process on an error).
 */
function releaseUpgrade(socket: WebSocket, raw: IncomingMessage): void {
  socket.removeAllListeners('error');
  const tcp = raw.socket as Socket & { _httpMessage?: ServerResponse | null };
  tcp._httpMessage?.detachSocket(tcp);
}
