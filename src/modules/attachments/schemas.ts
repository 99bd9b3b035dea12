// Shapes of the attachments API (and of the `attachments` of a message).
import { z } from 'zod';
import { uuid } from '../../http/schemas.ts';

export const attachment = z
  .object({
    id: uuid,
    url: z.string().describe('GET it with your bearer token: the uploader, then whoever can read its message'),
    filename: z.string(),
    content_type: z.string(),
    size: z.number().int().describe('bytes'),
  })
  .meta({ id: 'Attachment' });

export const attachmentParams = z.object({ id: uuid });

/** The file bytes, for the OpenAPI document (the body is streamed, not validated). */
export const fileBody = z.string().describe('the file, with its content type').meta({ format: 'binary' });
