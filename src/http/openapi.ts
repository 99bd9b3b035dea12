// The OpenAPI 3 document at /openapi.json and a browsable page at /docs, generated from the
// same zod schemas that validate requests (fastify-type-provider-zod).
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Cgraph API',
        version: '1',
        description:
          'Errors: {"error": {"code", "message", "fields"?}}. Lists: {"data": [...], "next_cursor"}. Auth: Authorization: Bearer <token>.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'token from register, login or wallet verify' } },
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
}
