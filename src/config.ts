// The environment, read once and validated. Bad configuration stops start-up with one
// clear line (ConfigError), never a stack trace.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export type Env = 'development' | 'test' | 'production';
export type SslMode = 'disable' | 'no-verify' | 'verify-full';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const postgresUrl = z
  .string()
  .trim()
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be a postgres:// or postgresql:// URL with a host, e.g. postgres://user:pass@host:5432/cgraph');

const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

const positiveInt = (fallback: number, max = 1_000_000) =>
  z.coerce.number().int().min(1).max(max).default(fallback);
const nonNegativeInt = (fallback: number) => z.coerce.number().int().min(0).max(3_600_000).default(fallback);

const DURATION = /^(\d+)(ms|s|m|h|d)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration like `30d`, `15m`, `90s` or plain seconds (`3600`), in milliseconds. */
export function parseDuration(value: string): number | undefined {
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  return Number(match[1]) * UNIT_MS[match[2] ?? 's']!;
}

const duration = (fallback: string, { allowZero = false } = {}) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined || ms < 0 || (ms === 0 && !allowZero)) {
        ctx.addIssue({ code: 'custom', message: 'must be a duration such as 30d, 12h, 15m, 90s or seconds' });
        return z.NEVER;
      }
      return ms;
    });

/** Five cron fields: minute hour day-of-month month day-of-week (names and steps allowed). */
const CRON = /^(\S+\s+){4}\S+$/;

function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

const schema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  DATABASE_URL: optionalString.pipe(postgresUrl.optional()),
  TEST_DATABASE_URL: optionalString.pipe(postgresUrl.optional()),
  CGRAPH_TEST_PARTITION: z
    .string()
    .regex(/^[a-z0-9_]{0,20}$/i, 'must be up to 20 letters, digits or underscores')
    .default(''),
  POOL_SIZE: positiveInt(10, 1000).optional(),
  DATABASE_SSL: z.enum(['disable', 'no-verify', 'verify-full']).optional(),
  DATABASE_SSL_CA: optionalString,
  CGRAPH_DATA_DIR: optionalString,
  CGRAPH_EMBEDDED_PORT: z.coerce.number().int().min(1024).max(65535).default(54329),
  DB_CHECKOUT_WARN_MS: nonNegativeInt(100),
  DB_SLOW_QUERY_MS: nonNegativeInt(500),
  DB_STATEMENT_TIMEOUT_MS: nonNegativeInt(0),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  CGRAPH_MIGRATE_ON_START: z.enum(['true', 'false', '1', '0']).default('true'),
  SESSION_TTL: duration('30d'),
  SESSION_IDLE_TIMEOUT: duration('14d'),
  SESSION_CACHE_TTL: duration('30s', { allowZero: true }),
  PUBLIC_URL: optionalString.pipe(
    z
      .string()
      .regex(/^https?:\/\/[^[\]/\s]+(\/\S*)?$/, 'must be an http(s) URL whose host is a name or IPv4 address (EIP-4361 messages cannot carry IPv6 literals)')
      .optional(),
  ),
  SIWE_CHAIN_ID: z.coerce.number().int().min(1).default(1),
  SIWE_NONCE_TTL: duration('10m'),
  SIWE_RPC_URL: optionalString.pipe(z.string().url('must be an http(s) URL').optional()),
  TRUST_PROXY: z.enum(['true', 'false']).default('false'),
  BODY_LIMIT_BYTES: positiveInt(1024 * 1024, 100 * 1024 * 1024),
  RATE_LIMIT_ENABLED: z.enum(['true', 'false']).default('true'),
  RATE_LIMIT_AUTH_PER_IP: positiveInt(20, 1_000_000),
  RATE_LIMIT_AUTH_PER_ACCOUNT: positiveInt(10, 1_000_000),
  RATE_LIMIT_FORUM_POSTS: positiveInt(10, 1_000_000),
  RATE_LIMIT_FORUM_VOTES: positiveInt(120, 1_000_000),
  RATE_LIMIT_WINDOW: duration('1m'),
  REDIS_URL: optionalString,
  CGRAPH_ADMIN_EMAIL: z.string().trim().email().default('admin@example.com'),
  CGRAPH_ADMIN_PASSWORD: optionalString,
  CGRAPH_WORKER: z.enum(['true', 'false', '1', '0']).default('true'),
  PRESENCE_IDLE_AFTER: duration('1h'),
  // Realtime gateway (docs/gateway.md).
  GATEWAY_FANOUT: z.enum(['in-process', 'postgres', 'redis']).optional(),
  GATEWAY_ALLOWED_ORIGINS: optionalString,
  GATEWAY_IDENTIFY_TIMEOUT: duration('10s'),
  GATEWAY_HEARTBEAT_INTERVAL: duration('30s'),
  GATEWAY_MAX_FRAME_BYTES: positiveInt(16 * 1024, 1024 * 1024),
  GATEWAY_INBOUND_FRAMES: positiveInt(120, 100_000),
  GATEWAY_INBOUND_WINDOW: duration('60s'),
  GATEWAY_SEND_BUFFER_BYTES: positiveInt(1024 * 1024, 256 * 1024 * 1024),
  GATEWAY_RESUME_WINDOW: duration('15m'),
  GATEWAY_RESUME_MAX_EVENTS: positiveInt(1000, 100_000),
  GATEWAY_TYPING_INTERVAL: duration('2s', { allowZero: true }),
  PRESENCE_OFFLINE_GRACE: duration('15s', { allowZero: true }),
  // The database's CHECK on messages.content is 16 000 characters: the limit can only be tighter.
  MESSAGE_MAX_LENGTH: positiveInt(4000, 16_000),
  ATTACHMENT_DIR: optionalString,
  ATTACHMENT_MAX_BYTES: positiveInt(25 * 1024 * 1024, 1024 * 1024 * 1024),
  ATTACHMENT_CONTENT_TYPES: z
    .string()
    .trim()
    .default('image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,application/zip')
    .transform((v) => v.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== ''))
    .refine(
      (types) => types.length > 0 && types.every((t) => /^[a-z0-9.+-]+\/([a-z0-9.+-]+|\*)$/.test(t)),
      'must be a comma-separated list of content types such as image/png,image/*,application/pdf',
    ),
  ATTACHMENT_S3_BUCKET: optionalString,
  ATTACHMENT_S3_PREFIX: z.string().trim().default(''),
  ATTACHMENT_S3_ENDPOINT: optionalString.pipe(z.string().url('must be an http(s) URL').optional()),
  ATTACHMENT_S3_REGION: z.string().trim().min(1).default('auto'),
  ATTACHMENT_S3_ACCESS_KEY_ID: optionalString,
  ATTACHMENT_S3_SECRET_ACCESS_KEY: optionalString,
  ATTACHMENT_S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).default('false'),
  CGRAPH_PG_BIN_DIR: optionalString,
  BACKUP_DIR: optionalString,
  BACKUP_KEEP: positiveInt(7, 10_000),
  BACKUP_SCHEDULE: z
    .string()
    .trim()
    .default('0 3 * * *')
    .refine((v) => v === 'off' || CRON.test(v), 'must be a 5-field cron expression such as "0 3 * * *", or off'),
  BACKUP_TIME_ZONE: z.string().trim().default('UTC').refine(isTimeZone, 'must be an IANA time zone such as UTC or Europe/Berlin'),
  BACKUP_S3_BUCKET: optionalString,
  BACKUP_S3_PREFIX: z.string().trim().default(''),
  BACKUP_S3_ENDPOINT: optionalString.pipe(z.string().url('must be an http(s) URL').optional()),
  BACKUP_S3_REGION: z.string().trim().min(1).default('auto'),
  BACKUP_S3_ACCESS_KEY_ID: optionalString,
  BACKUP_S3_SECRET_ACCESS_KEY: optionalString,
  BACKUP_S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).default('false'),
  BACKUP_S3_PART_SIZE_MB: z.coerce.number().int().min(5).max(5120).default(16),
});


export interface DatabaseConfig {
  /** Connection string; undefined means "use the embedded server". */
  url: string | undefined;
  /** Database name used with the embedded server. */
  embeddedDatabase: string;
  poolSize: number;
  ssl: SslMode;
  sslCaFile: string | undefined;
  checkoutWarnMs: number;
  slowQueryMs: number;
  statementTimeoutMs: number;
}

export interface Config {
  env: Env;
  dataDir: string;
  embeddedPort: number;
  database: DatabaseConfig;
  http: { host: string; port: number };
  /** `cgraph serve` applies pending migrations before listening (under the migration lock). */
  migrateOnStart: boolean;
  /** The public base URL of the API (wallet sign-in messages name its host). */
  publicUrl: string;
  trustProxy: boolean;
  bodyLimitBytes: number;
  sessions: { ttlMs: number; idleTimeoutMs: number; cacheTtlMs: number };
  siwe: { chainId: number; nonceTtlMs: number; rpcUrl: string | undefined };
  rateLimit: { enabled: boolean; authPerIp: number; authPerAccount: number; forumPosts: number; forumVotes: number; windowMs: number };
  redisUrl: string | undefined;
  logLevel: string;
  admin: { email: string; password: string | undefined };
  /** `cgraph serve` also runs the job worker (pg-boss); `cgraph worker` runs it alone. */
  worker: { enabled: boolean };
  presence: { idleAfterMs: number; offlineGraceMs: number };
  gateway: GatewayConfig;
  /** Longest message text in characters, once trimmed (DMs and channels). */
  messages: { maxLength: number };
  attachments: AttachmentsConfig;
  backup: BackupConfig;
}

export interface GatewayConfig {
  /** Cross-node transport; undefined: redis when REDIS_URL is set, else in-process. */
  fanout: 'in-process' | 'postgres' | 'redis' | undefined;
  /** Browser origins allowed to open the gateway; `*` allows any. */
  allowedOrigins: string[];
  identifyTimeoutMs: number;
  heartbeatIntervalMs: number;
  maxFrameBytes: number;
  /** At most `inboundFrames` client frames per `inboundWindowMs` per connection. */
  inboundFrames: number;
  inboundWindowMs: number;
  /** A connection whose unsent data exceeds this is a slow consumer and is dropped. */
  sendBufferBytes: number;
  resumeWindowMs: number;
  resumeMaxEvents: number;
  typingIntervalMs: number;
}

export interface S3Config {
  bucket: string;
  /** Key prefix, e.g. `cgraph/prod/` (empty: the bucket's root). */
  prefix: string;
  /** R2 / MinIO / other S3-compatible endpoint; undefined: AWS. */
  endpoint: string | undefined;
  region: string;
  /** Both or neither; neither: the AWS SDK's default credential chain. */
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  forcePathStyle: boolean;
  partSizeBytes: number;
}

export interface AttachmentsConfig {
  /** Local folder for uploads (when S3 is not configured). */
  dir: string;
  maxBytes: number;
  /** Accepted content types; `type/*` accepts a whole family. */
  contentTypes: string[];
  s3: S3Config | undefined;
}

export interface BackupConfig {
  /** Local folder for dumps (when S3 is not configured). */
  dir: string;
  /** How many dumps retention keeps (local folder or bucket prefix). */
  keep: number;
  /** Cron for the daily backup job; undefined: not scheduled. */
  schedule: string | undefined;
  timeZone: string;
  /** Folder holding pg_dump / pg_restore; undefined: found on PATH. */
  pgBinDir: string | undefined;
  s3: S3Config | undefined;
}

function formatIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || 'environment'} ${issue.message}`).join('; ');
}

/** Parses the environment once. Throws ConfigError with a one-line message. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new ConfigError(`invalid configuration: ${formatIssues(parsed.error)}`);
  const e = parsed.data;

  if (e.NODE_ENV === 'production' && !e.DATABASE_URL) {
    throw new ConfigError('DATABASE_URL is not set: production needs a PostgreSQL connection string');
  }
  const partition = e.CGRAPH_TEST_PARTITION;
  // The seed's MIX_TEST_PARTITION: each test partition gets a database of its own.
  const url =
    e.NODE_ENV === 'test' ? withPartition(e.TEST_DATABASE_URL ?? e.DATABASE_URL, partition) : e.DATABASE_URL;
  if (Boolean(e.ATTACHMENT_S3_ACCESS_KEY_ID) !== Boolean(e.ATTACHMENT_S3_SECRET_ACCESS_KEY)) {
    throw new ConfigError('ATTACHMENT_S3_ACCESS_KEY_ID and ATTACHMENT_S3_SECRET_ACCESS_KEY must be set together (or neither, for the default AWS credential chain)');
  }
  if (Boolean(e.BACKUP_S3_ACCESS_KEY_ID) !== Boolean(e.BACKUP_S3_SECRET_ACCESS_KEY)) {
    throw new ConfigError('BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY must be set together (or neither, for the default AWS credential chain)');
  }
  const dataDir = path.resolve(PROJECT_ROOT, e.CGRAPH_DATA_DIR ?? '.cgraph');
  const defaultPool = e.NODE_ENV === 'test' ? os.availableParallelism() * 2 : 10;

  return {
    env: e.NODE_ENV,
    dataDir,
    embeddedPort: e.CGRAPH_EMBEDDED_PORT,
    database: {
      url,
      embeddedDatabase: e.NODE_ENV === 'test' ? `cgraph_test${partition}` : 'cgraph_dev',
      poolSize: e.POOL_SIZE ?? defaultPool,
      ssl: e.DATABASE_SSL ?? (e.NODE_ENV === 'production' ? 'verify-full' : 'disable'),
      sslCaFile: e.DATABASE_SSL_CA,
      checkoutWarnMs: e.DB_CHECKOUT_WARN_MS,
      slowQueryMs: e.DB_SLOW_QUERY_MS,
      statementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
    },
    http: { host: e.HOST, port: e.PORT },
    migrateOnStart: e.CGRAPH_MIGRATE_ON_START === 'true' || e.CGRAPH_MIGRATE_ON_START === '1',
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    trustProxy: e.TRUST_PROXY === 'true',
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    sessions: { ttlMs: e.SESSION_TTL, idleTimeoutMs: e.SESSION_IDLE_TIMEOUT, cacheTtlMs: e.SESSION_CACHE_TTL },
    siwe: { chainId: e.SIWE_CHAIN_ID, nonceTtlMs: e.SIWE_NONCE_TTL, rpcUrl: e.SIWE_RPC_URL },
    rateLimit: {
      enabled: e.RATE_LIMIT_ENABLED === 'true',
      authPerIp: e.RATE_LIMIT_AUTH_PER_IP,
      authPerAccount: e.RATE_LIMIT_AUTH_PER_ACCOUNT,
      forumPosts: e.RATE_LIMIT_FORUM_POSTS,
      forumVotes: e.RATE_LIMIT_FORUM_VOTES,
      windowMs: e.RATE_LIMIT_WINDOW,
    },
    redisUrl: e.REDIS_URL,
    logLevel: e.LOG_LEVEL ?? (e.NODE_ENV === 'test' ? 'silent' : 'info'),
    admin: { email: e.CGRAPH_ADMIN_EMAIL, password: e.CGRAPH_ADMIN_PASSWORD },
    worker: { enabled: e.CGRAPH_WORKER === 'true' || e.CGRAPH_WORKER === '1' },
    presence: { idleAfterMs: e.PRESENCE_IDLE_AFTER, offlineGraceMs: e.PRESENCE_OFFLINE_GRACE },
    gateway: {
      fanout: e.GATEWAY_FANOUT,
      // Unset: any origin outside production; in production only PUBLIC_URL's origin.
      allowedOrigins:
        e.GATEWAY_ALLOWED_ORIGINS === undefined
          ? e.NODE_ENV === 'production' && e.PUBLIC_URL
            ? [new URL(e.PUBLIC_URL).origin]
            : ['*']
          : e.GATEWAY_ALLOWED_ORIGINS.split(',').map((origin) => origin.trim()).filter((origin) => origin !== ''),
      identifyTimeoutMs: e.GATEWAY_IDENTIFY_TIMEOUT,
      heartbeatIntervalMs: e.GATEWAY_HEARTBEAT_INTERVAL,
      maxFrameBytes: e.GATEWAY_MAX_FRAME_BYTES,
      inboundFrames: e.GATEWAY_INBOUND_FRAMES,
      inboundWindowMs: e.GATEWAY_INBOUND_WINDOW,
      sendBufferBytes: e.GATEWAY_SEND_BUFFER_BYTES,
      resumeWindowMs: e.GATEWAY_RESUME_WINDOW,
      resumeMaxEvents: e.GATEWAY_RESUME_MAX_EVENTS,
      typingIntervalMs: e.GATEWAY_TYPING_INTERVAL,
    },
    messages: { maxLength: e.MESSAGE_MAX_LENGTH },
    attachments: {
      dir: path.resolve(PROJECT_ROOT, e.ATTACHMENT_DIR ?? path.join(dataDir, 'attachments')),
      maxBytes: e.ATTACHMENT_MAX_BYTES,
      contentTypes: e.ATTACHMENT_CONTENT_TYPES,
      s3: e.ATTACHMENT_S3_BUCKET
        ? {
            bucket: e.ATTACHMENT_S3_BUCKET,
            prefix: e.ATTACHMENT_S3_PREFIX,
            endpoint: e.ATTACHMENT_S3_ENDPOINT,
            region: e.ATTACHMENT_S3_REGION,
            credentials:
              e.ATTACHMENT_S3_ACCESS_KEY_ID && e.ATTACHMENT_S3_SECRET_ACCESS_KEY
                ? { accessKeyId: e.ATTACHMENT_S3_ACCESS_KEY_ID, secretAccessKey: e.ATTACHMENT_S3_SECRET_ACCESS_KEY }
                : undefined,
            forcePathStyle: e.ATTACHMENT_S3_FORCE_PATH_STYLE === 'true',
            partSizeBytes: 8 * 1024 * 1024,
          }
        : undefined,
    },
    backup: {
      dir: path.resolve(PROJECT_ROOT, e.BACKUP_DIR ?? path.join(dataDir, 'backups')),
      keep: e.BACKUP_KEEP,
      schedule: e.BACKUP_SCHEDULE === 'off' ? undefined : e.BACKUP_SCHEDULE,
      timeZone: e.BACKUP_TIME_ZONE,
      pgBinDir: e.CGRAPH_PG_BIN_DIR ? path.resolve(PROJECT_ROOT, e.CGRAPH_PG_BIN_DIR) : undefined,
      s3: e.BACKUP_S3_BUCKET
        ? {
            bucket: e.BACKUP_S3_BUCKET,
            prefix: e.BACKUP_S3_PREFIX,
            endpoint: e.BACKUP_S3_ENDPOINT,
            region: e.BACKUP_S3_REGION,
            credentials:
              e.BACKUP_S3_ACCESS_KEY_ID && e.BACKUP_S3_SECRET_ACCESS_KEY
                ? { accessKeyId: e.BACKUP_S3_ACCESS_KEY_ID, secretAccessKey: e.BACKUP_S3_SECRET_ACCESS_KEY }
                : undefined,
            forcePathStyle: e.BACKUP_S3_FORCE_PATH_STYLE === 'true',
            partSizeBytes: e.BACKUP_S3_PART_SIZE_MB * 1024 * 1024,
          }
        : undefined,
    },
  };
}

function withPartition(url: string | undefined, partition: string): string | undefined {
  if (!url || partition === '') return url;
  const parsed = new URL(url);
  parsed.pathname = `${parsed.pathname.replace(/^\//, '') || 'cgraph_test'}${partition}`;
  return parsed.toString();
}
