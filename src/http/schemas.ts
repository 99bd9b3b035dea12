// Shared zod pieces for route schemas. Zod checks the shape of input (types, bounds that
// keep hostile payloads cheap); the contexts' changesets own the business rules, with
// Ecto's messages. The error map below gives zod's own failures the same wording.
import { z } from 'zod';

z.config({
  customError: (issue) => {
    if (issue.code === 'invalid_type' && issue.input === undefined) return "can't be blank";
    if (issue.code === 'too_big' && issue.origin === 'string') return `should be at most ${String(issue.maximum)} character(s)`;
    if (issue.code === 'too_small' && issue.origin === 'string') return `should be at least ${String(issue.minimum)} character(s)`;
    if (issue.code === 'unrecognized_keys') return `unknown field(s): ${issue.keys.join(', ')}`;
    return 'is invalid';
  },
});

export const uuid = z.uuid();
export const isoDate = z.iso.datetime();

export const errorBody = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      fields: z.record(z.string(), z.array(z.string())).optional(),
    }),
  })
  .meta({ id: 'Error' });

/** Standard error responses to document on a route. */
export function errors(...statuses: Array<400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 503>) {
  return Object.fromEntries(statuses.map((s) => [s, errorBody])) as Record<number, typeof errorBody>;
}

export const noContent = z.null().describe('No content');

export const cursorQuery = z.object({
  cursor: z.string().max(1024).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});
