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
  /** A job queue the request needs was never declared: no job worker has started yet (docs/operations.md). */
  job_queue_unavailable: 503,
  // Wallet sign-in (EIP-4361), see docs/wallet.md. Authentication failures are 401.
  /** The message names another domain (host[:port]) or URI scheme than this server's. */
  siwe_domain_mismatch: 401,
  /** The message's URI is not this server's public URL. */
  siwe_uri_mismatch: 401,
  /** The message's chain ID is not the configured SIWE_CHAIN_ID. */
  siwe_chain_mismatch: 401,
  /** The message's Expiration Time has passed. */
  siwe_expired: 401,
  /** The message's Not Before is still ahead, or its Issued At is in the future. */
  siwe_not_yet_valid: 401,
  /** The signature was not made by the message's address. */
  invalid_signature: 401,
  /** A contract-wallet (ERC-1271/ERC-6492) signature, and no RPC endpoint to check it with. */
  contract_wallet_unsupported: 401,
  /** The nonce is unknown, used, expired, or was issued for another address or purpose. */
  nonce_invalid: 401,
  /** The wallet belongs to another account. */
  wallet_taken: 409,
  /** The RPC endpoint needed to check a contract-wallet signature did not answer. */
  wallet_rpc_unavailable: 503,
  // Friends and blocks, see docs/social.md.
  /** A friend request, or a block, aimed at oneself. */
  friend_request_self: 422,
  block_self: 422,
  /** The two users are already friends. */
  already_friends: 409,
  /** The caller already has a pending request to that user. */
  friend_request_exists: 409,
  /** The caller has blocked that user: unblock first. */
  user_blocked: 409,
  /** Only the addressee may accept a friend request. */
  not_addressee: 403,
  // Conversations and messages, see docs/messaging.md.
  /** A block between the two users (either way): no DM between them, no adding to a group DM. */
  conversation_blocked: 403,
  /** A group DM already has the most participants it may have. */
  conversation_full: 409,
  /** Names, participants and leaving exist for group DMs only, not 1:1 DMs. */
  not_group_conversation: 422,
  /** Only the author may edit (or, with the group-DM owner, delete) a message. */
  not_message_author: 403,
  /** Only the group-DM owner may remove someone else. */
  not_conversation_owner: 403,
  /** The message already carries the most distinct reactions it may. */
  too_many_reactions: 409,
  // Forums, see docs/forums.md.
  /** Only the forum's owner may do this (edit the forum, appoint moderators). */
  not_forum_owner: 403,
  /** Only the forum's moderators (and owner) may do this (flairs, pins, locks, members). */
  not_forum_moderator: 403,
  /** Only the author may edit the post or comment (moderators may also delete). */
  not_author: 403,
  /** The post is locked: no new comments, no comment edits or votes. */
  post_locked: 403,
  /** The poll has closed: its votes are final. */
  poll_closed: 409,
  /** A poll vote on a post that is not a poll. */
  not_a_poll: 422,
  // Groups, channels and roles, see docs/groups.md.
  /** The caller can see the group or channel but lacks the permission bit for this. */
  missing_permission: 403,
  /** The role or member is at or above the caller's highest role (hierarchy). */
  role_hierarchy: 403,
  /** Only the group's owner may do this (delete the group, transfer ownership). */
  not_group_owner: 403,
  /** The owner cannot leave (or be kicked or banned): transfer ownership or delete the group. */
  owner_cannot_leave: 409,
  /** The caller is banned from the group: no joining. */
  banned_from_group: 403,
  /** The invite code is unknown, expired or used up. */
  invite_invalid: 404,
  /** @everyone cannot be deleted, renamed or moved. */
  default_role: 422,
  /** Voice channels carry no messages. */
  channel_not_text: 422,
  // Realtime gateway, see docs/gateway.md.
  /** GET /gateway without a WebSocket upgrade. */
  upgrade_required: 426,
  /** A browser Origin not in GATEWAY_ALLOWED_ORIGINS. */
  origin_not_allowed: 403,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Field errors as a changeset gives them: field → list of problems. */
export type FieldErrors = Record<string, string[]>;

export class AppError extends Error {
  override readonly name = 'AppError';
  readonly status: number;
  /** For 429: seconds until the client may try again (sent as Retry-After). */
  retryAfterSeconds?: number;

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

export class RateLimitedError extends AppError {
  constructor(retryAfterSeconds: number) {
    super('rate_limited', `too many requests; try again in ${retryAfterSeconds} s`, 429);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
