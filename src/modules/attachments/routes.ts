// Uploads over HTTP: POST /attachments (multipart, one file part) and GET /attachments/:id
// (the bytes, to whoever may see them; 404 to anyone else). The multipart parser is
// registered in this plugin only, so no other route accepts multipart bodies.
import multipart, { type MultipartFile } from '@fastify/multipart';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AttachmentsConfig } from '../../config.ts';
import type { Db } from '../../db/database.ts';
import { caller, type RequireAuth } from '../../http/auth.ts';
import { errors } from '../../http/schemas.ts';
import { AppError } from '../../lib/errors.ts';
import { attachment, attachmentParams, fileBody } from './schemas.ts';
import { discardUpload, openAttachment, uploadAttachment, type AttachmentAccess, type AttachmentView } from './service.ts';
import type { AttachmentStorage } from './storage.ts';

export interface AttachmentsDeps {
  db: Db;
  requireAuth: RequireAuth;
  config: { attachments: AttachmentsConfig };
  storage: AttachmentStorage;
  /** How channels say who may read a channel message (groups); default: nobody. */
  access?: AttachmentAccess;
}

/** The multipart parser's own failures, as the contract's codes. */
function multipartError(error: unknown): unknown {
  switch ((error as { code?: string }).code) {
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new AppError('unsupported_media_type', 'upload the file as multipart/form-data', 415);
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new AppError('payload_too_large', 'the upload is too large (one file part, within the size limit)', 413);
    case 'FST_PROTO_VIOLATION':
      return new AppError('bad_request', 'malformed multipart body', 400);
    default:
      // busboy's parse errors ("Unexpected end of form", "Malformed part header", …).
      if (error instanceof Error && !(error instanceof AppError) && /form|part|boundary|multipart/i.test(error.message)) {
        return new AppError('bad_request', `malformed multipart body: ${error.message}`, 400);
      }
      return error;
  }
}

export const attachmentsRoutes =
  ({ db, requireAuth, config, storage, access = {} }: AttachmentsDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const limits = { maxBytes: config.attachments.maxBytes, contentTypes: config.attachments.contentTypes };
    // busboy cuts a file one byte past the limit, so "exactly the limit" still passes and the
    // service's own counter reports anything larger as 413 before it reaches the store.
    await app.register(multipart, {
      limits: { fileSize: limits.maxBytes + 1, files: 1, fields: 5, fieldSize: 1024, parts: 6, headerPairs: 100 },
      throwFileSizeLimit: false,
    });
    const base = { tags: ['attachments'], security: [{ bearer: [] }] };

    app.post(
      '/attachments',
      {
        preHandler: requireAuth,
        schema: {
          ...base,
          summary: 'Upload a file (multipart/form-data, one file part); attach it to a message with attachment_ids',
          description: `Limits: ATTACHMENT_MAX_BYTES per file (413), ATTACHMENT_CONTENT_TYPES (415); an empty file, a missing file part or an image whose bytes are not that image type is 422.`,
          consumes: ['multipart/form-data'],
          response: { 201: attachment, ...errors(400, 401, 413, 415, 422) },
        },
      },
      async (request, reply) => {
        // Iterate every part: a second file part must fail the request (413), not vanish.
        let uploaded: AttachmentView | undefined;
        let current: MultipartFile | undefined;
        try {
          for await (const part of request.parts()) {
            if (part.type !== 'file') continue;
            current = part;
            uploaded = await uploadAttachment(db, storage, limits, {
              uploaderId: caller(request).user.id,
              filename: part.filename,
              contentType: part.mimetype,
              body: part.file,
              truncated: () => part.file.truncated,
            });
          }
        } catch (error) {
          current?.file.resume(); // let the rest of the body drain so the response can go out
          if (uploaded) await discardUpload(db, storage, uploaded.id);
          throw multipartError(error);
        }
        if (!uploaded) throw new AppError('validation_failed', 'validation failed', 422, { file: ["can't be blank"] });
        return reply.code(201).send(uploaded);
      },
    );

    app.get(
      '/attachments/:id',
      {
        preHandler: requireAuth,
        schema: {
          ...base,
          summary: 'The file: for its uploader, then for whoever can read its message (else 404)',
          params: attachmentParams,
          response: { 200: fileBody, ...errors(401, 404) },
        },
      },
      async (request, reply) => {
        const { attachment: meta, object } = await openAttachment(db, storage, access, caller(request).user.id, request.params.id);
        // The bytes are someone's upload: never sniffed into HTML, never scripted, and only
        // images render inline (downloads otherwise).
        const disposition = meta.content_type.startsWith('image/') ? 'inline' : 'attachment';
        void reply
          .header('content-type', meta.content_type)
          .header('content-disposition', `${disposition}; filename*=UTF-8''${encodeURIComponent(meta.filename)}`)
          .header('x-content-type-options', 'nosniff')
          .header('content-security-policy', "default-src 'none'; sandbox")
          .header('cache-control', 'private, max-age=3600')
          .header('content-length', String(meta.size));
        if (request.method === 'HEAD') {
          object.body.destroy(); // headers only: do not hold the file (or the S3 response) open
          return reply.send('');
        }
        // A stream is sent as is (never serialised); the schema only documents the body.
        return reply.send(object.body as unknown as string);
      },
    );
  };
