// Stable error codes, in one place. Contexts return or throw AppError; the HTTP layer maps
// `status` and `code` to the contract's error body. Codes are snake_case and never change
// meaning once published.
export const ERROR_CODES = {
  bad_request: 400,
  invalid_json: 400,
  invalid_cursor: 400,
  unauthorized: 401,
  invalid_credentials: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  validation_failed: 422,
  rate_limited: 429,
  internal_error: 500,
  database_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Field errors as a changeset gives them: field → list of problems. */
export type FieldErrors = Record<string, string[]>;

export class AppError extends Error {
  override readonly name = 'AppError';
  readonly status: number;

  constructor(
    readonly code: ErrorCode | (string & {}),
    message: string,
    status?: number,
    readonly fields?: FieldErrors,
  ) {
    super(message);
    this.status = status ?? ERROR_CODES[code as ErrorCode] ?? 400;
  }
}

export class NotFoundError extends AppError {
  constructor(what = 'resource') {
    super('not_found', `${what} not found`, 404);
  }
}

export class ValidationError extends AppError {
  constructor(fields: FieldErrors, message = 'validation failed') {
    super('validation_failed', message, 422, fields);
  }
}
