// Every failure leaves the API as the contract's error body:
//   {"error": {"code": "<stable code>", "message": "...", "fields": {...}}}
// Known failures map to 4xx/503 here, in one place; anything unexpected is logged and
// becomes a 500 `internal_error` (a bug to fix: the fuzz test hunts for them).
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { DatabaseUnavailableError } from '../db/database.ts';
import { AppError, type FieldErrors } from '../lib/errors.ts';

export interface ErrorBody {
  error: { code: string; message: string; fields?: FieldErrors };
}

const FASTIFY_CODES: Record<string, { status: number; code: string; message: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json', message: 'the body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_json', message: 'the body is empty but declared as JSON' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'payload_too_large', message: 'the body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type', message: 'unsupported content type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'bad_request', message: 'content-length does not match the body' },
  FST_ERR_CTP_INVALID_TYPE: { status: 400, code: 'bad_request', message: 'invalid content type' },
};

// PostgreSQL errors that only bad input can cause when the code validated first; the
// database's constraints are the last line, and the client still gets a 4xx.
const PG_CLIENT_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  '23505': { status: 409, code: 'conflict', message: 'that already exists' },
  '23503': { status: 409, code: 'conflict', message: 'a referenced record does not exist' },
  '23514': { status: 422, code: 'validation_failed', message: 'a value is out of range' },
  '23502': { status: 422, code: 'validation_failed', message: 'a required value is missing' },
  '22001': { status: 422, code: 'validation_failed', message: 'a value is too long' },
  '22P02': { status: 400, code: 'bad_request', message: 'a value has the wrong format' },
  '22003': { status: 400, code: 'bad_request', message: 'a number is out of range' },
  '22007': { status: 400, code: 'bad_request', message: 'a date has the wrong format' },
  '22008': { status: 400, code: 'bad_request', message: 'a date is out of range' },
  '22021': { status: 400, code: 'bad_request', message: 'text contains invalid bytes' },
  '54000': { status: 400, code: 'bad_request', message: 'a value is too large' },
};

const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

function isDatabaseUnavailable(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') {
    return error instanceof Error && /Connection terminated|timeout exceeded when trying to connect/i.test(error.message);
  }
  // 08: connection exceptions; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now; 53300: too many connections.
  return UNAVAILABLE_NODE_CODES.has(code) || code.startsWith('08') || /^57P0[1-3]$/.test(code) || code === '53300';
}

/** Field errors from zod issues (`body/user/email` → `user.email`; the root → `body`). */
function fieldsOf(issues: Array<{ instancePath: string; message?: string }>, root: string): FieldErrors {
  const fields: FieldErrors = {};
  for (const issue of issues) {
    const field = issue.instancePath.replace(/^\//, '').replaceAll('/', '.') || root;
    (fields[field] ??= []).push(issue.message ?? 'is invalid');
  }
  return fields;
}

export function toErrorResponse(error: unknown): { status: number; body: ErrorBody } {
  const make = (status: number, code: string, message: string, fields?: FieldErrors) => ({
    status,
    body: { error: fields ? { code, message, fields } : { code, message } },
  });
  if (error instanceof AppError) return make(error.status, error.code, error.message, error.fields);
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = (error as { validationContext?: string }).validationContext ?? 'body';
    const fields = fieldsOf(error.validation, where);
    // A path parameter that cannot be valid names nothing the caller can see.
    if (where === 'params') return make(404, 'not_found', 'not found');
    if (where === 'body') return make(422, 'validation_failed', 'validation failed', fields);
    return make(400, 'bad_request', `invalid ${where}`, fields);
  }
  const fastifyCode = (error as FastifyError).code;
  const known = typeof fastifyCode === 'string' ? FASTIFY_CODES[fastifyCode] : undefined;
  if (known) return make(known.status, known.code, known.message);
  if (isDatabaseUnavailable(error)) return make(503, 'database_unavailable', 'the database is unavailable; try again shortly');
  const pg = typeof fastifyCode === 'string' ? PG_CLIENT_ERRORS[fastifyCode] : undefined;
  if (pg) return make(pg.status, pg.code, pg.message);
  const status = (error as FastifyError).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return make(status, status === 429 ? 'rate_limited' : status === 404 ? 'not_found' : 'bad_request', (error as Error).message);
  }
  return make(500, 'internal_error', 'internal error');
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { status, body } = toErrorResponse(error);
    if (status >= 500) request.log.error({ err: error, route: request.routeOptions.url }, 'request failed');
    if (status === 429 && error instanceof AppError && error.retryAfterSeconds !== undefined) {
      void reply.header('retry-after', String(error.retryAfterSeconds));
    }
    return reply.code(status).type('application/json').send(body);
  });
  app.setNotFoundHandler((_request, reply) =>
    reply.code(404).send({ error: { code: 'not_found', message: 'not found' } } satisfies ErrorBody),
  );
}
