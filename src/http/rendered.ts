// Sends a body PostgreSQL already rendered as JSON (lib/rendered-json.ts) without parsing
// or re-serialising it: Fastify passes a string through untouched when the content type is
// JSON. The route's response schema still documents the shape in OpenAPI.
import type { FastifyReply } from 'fastify';
import type { RenderedJson } from '../lib/rendered-json.ts';

export function sendRendered<R extends { type(contentType: string): unknown }>(reply: R, body: RenderedJson<unknown>): R {
  // The casts are the point: the text is the schema's shape, already serialised.
  (reply as unknown as FastifyReply).type('application/json; charset=utf-8').send(body.text);
  return reply;
}
