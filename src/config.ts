// The one config loader: the environment is parsed once with zod, field errors are printed with
// the variable's name, and the rest of the code receives a typed, validated `Config`.
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';

const booleanFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const SYSTEM_NAMES = ['rocketchat', 'mendix', 'userapi'] as const;

/** A comma-separated list of downstream system names. */
const systemList = z
  .string()
  .transform((value) => value.split(',').map((item) => item.trim()).filter(Boolean))
  .pipe(z.array(z.enum(SYSTEM_NAMES, { error: `expected a comma-separated list of ${SYSTEM_NAMES.join(', ')}` })));

const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * Which proxies in front of jml to believe about the client's address and protocol: a number of
 * hops, or a comma-separated list of addresses, CIDRs and express's names (loopback, linklocal,
 * uniquelocal). Handed to express's `trust proxy` as the number or the list.
 */
const trustProxy = z
  .string()
  .trim()
  .transform((value, context): number | string[] | false => {
    if (value === '' || value === 'false' || value === '0') return false;
    if (/^\d+$/.test(value)) return Number(value);
    const entries = value.split(',').map((entry) => entry.trim()).filter(Boolean);
    for (const entry of entries) {
      const [address = '', prefix] = entry.split('/');
      const version = isIP(address);
      const prefixOk = prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= (version === 6 ? 128 : 32));
      if (!PROXY_NAMES.includes(entry) && (version === 0 || !prefixOk)) {
        context.addIssue({ code: 'custom', message: `"${entry}" is neither a hop count, an address, a CIDR nor one of ${PROXY_NAMES.join(', ')}` });
      }
    }
    return entries;
  });

const secret = (name: string) =>
  z.string().min(32, `${name} must be at least 32 characters: generate one with \`npx jml tokens create\` or \`openssl rand -hex 32\``);

export const environmentSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  /** The URL identity providers use to reach jml; used for SCIM meta.location and the pages' Origin check. */
  PUBLIC_URL: z.url().optional(),
  /** The reverse proxies to believe for X-Forwarded-For/-Proto (client addresses, Secure cookies). */
  JML_TRUST_PROXY: trustProxy.default(false),
  DATABASE_URL: z.url().optional(),
  /**
   * The schema owner's URL, for `jml migrate` only (or JML_MIGRATE_DATABASE_URL_FILE); DATABASE_URL
   * then names the application role (docs/decisions/037-least-privilege-in-the-database.md).
   */
  JML_MIGRATE_DATABASE_URL: z.url().optional(),
  /** `production` refuses the embedded PostgreSQL and the Temporal dev server (they are for trials). */
  NODE_ENV: z.string().optional(),
  /** Where `npm start` keeps its embedded PostgreSQL and Temporal data. */
  JML_DATA_DIR: z.string().default('.jml-data'),
  JML_EMBEDDED_POSTGRES_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
  TEMPORAL_ADDRESS: z.string().optional(),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default('jml-lifecycle'),
  /**
   * TLS towards TEMPORAL_ADDRESS (Temporal Cloud, or a self-hosted cluster with TLS): on when set
   * to true, or when a client certificate or an API key is given.
   */
  TEMPORAL_TLS: booleanFlag.default(false),
  /** mTLS: the client certificate and its key (PEM files). */
  TEMPORAL_TLS_CERT: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY: z.string().min(1).optional(),
  /** A CA to trust instead of the system's (PEM file), and the name to expect on the server's certificate. */
  TEMPORAL_TLS_CA: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  /** A Temporal Cloud API key, sent as a bearer token (or TEMPORAL_API_KEY_FILE). */
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  JML_TEMPORAL_DEV_PORT: z.coerce.number().int().min(1).max(65535).default(7233),
  /** An extra SCIM bearer token accepted besides those in the database (compose files, scripts). */
  JML_SCIM_TOKEN: secret('JML_SCIM_TOKEN').optional(),
  /**
   * How long a live token's lookup is trusted before it is looked up again: a revocation or profile
   * change takes effect within this bound (decision 006). 0 looks every request's token up.
   */
  JML_TOKEN_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(5000),
  /** Largest SCIM request body accepted; larger requests get 413 before being parsed. */
  JML_SCIM_MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(256 * 1024),
  /** Requests per second each SCIM client may make (0: no limit), and the burst allowed above it. */
  JML_SCIM_RATE_LIMIT: z.coerce.number().min(0).default(100),
  JML_SCIM_RATE_BURST: z.coerce.number().int().min(1).default(200),
  /** How often the outbox relay looks for workflow starts a crash left behind. */
  JML_OUTBOX_POLL_MS: z.coerce.number().int().min(50).default(2000),
  /**
   * Approved held leavers are released while fewer than this many events are in flight, the rest
   * as those finish (0: all at once). Keeps a mass approval from flooding Temporal and the vendors.
   */
  JML_RELEASE_MAX_IN_FLIGHT: z.coerce.number().int().min(0).default(200),
  /**
   * An approval that releases more held events than this runs them in one mass-release workflow
   * that pages through them, instead of one workflow each (0: never;
   * docs/decisions/048-mass-release-lane.md).
   */
  JML_MASS_RELEASE_THRESHOLD: z.coerce.number().int().min(0).default(500),
  JML_DRY_RUN: booleanFlag.default(false),
  /** Dry run for these systems only (comma-separated), the others act for real. */
  JML_DRY_RUN_SYSTEMS: systemList.default([]),
  /** For a future-dated leaver, these systems are disabled at once; the rest on the date. */
  JML_DISABLE_NOW_SYSTEMS: systemList.default([]),
  /**
   * The mass-deprovision guard: new leavers hold for an operator when more than
   * JML_GUARD_MAX_LEAVERS left within JML_GUARD_WINDOW_MS, or when at least
   * JML_GUARD_MIN_LEAVERS did and they are more than JML_GUARD_MAX_SHARE of the active identities.
   */
  JML_GUARD_ENABLED: booleanFlag.default(true),
  /**
   * Approvals a held leaver needs before it is released: 2 is the two-person rule, two different
   * operators (docs/decisions/038-two-person-release.md).
   */
  JML_APPROVALS_REQUIRED: z.coerce.number().int().min(1).max(2).default(1),
  JML_GUARD_WINDOW_MS: z.coerce.number().int().min(1000).default(60 * 60 * 1000),
  JML_GUARD_MAX_LEAVERS: z.coerce.number().int().min(0).default(20),
  JML_GUARD_MAX_SHARE: z.coerce.number().min(0).max(1).default(0.1),
  JML_GUARD_MIN_LEAVERS: z.coerce.number().int().min(1).default(5),
  /**
   * This many "account not found" answers from one system within JML_GUARD_WINDOW_MS need an
   * operator's attention: a burst of them is the sign of a wrong lookup setting, not of leavers
   * who had no account.
   */
  JML_NOT_FOUND_BURST: z.coerce.number().int().min(1).default(3),
  /** Rocket.Chat's idle-user sweep: off unless JML_IDLE_SWEEP_DAYS is set. Cron in UTC. */
  JML_IDLE_SWEEP_DAYS: z.coerce.number().int().min(1).optional(),
  JML_IDLE_SWEEP_ROLE: z.string().min(1).default('user'),
  JML_IDLE_SWEEP_CRON: z.string().min(9).default('0 3 * * *'),
  /**
   * Reconciliation (docs/decisions/022-reconciliation.md): how often a Temporal Schedule lists
   * every system and compares it with the identities (`90m`, `6h`, `1d`; `off`: no schedule), and
   * whether drifted leavers are deactivated, through a leaver event each and the guard.
   */
  JML_RECONCILE_INTERVAL: z
    .string()
    .regex(/^(off|0|\d+[smhd])$/, 'must be a number with s, m, h or d (e.g. 6h), or off')
    .default('6h')
    .transform((value) => (value === 'off' || value === '0' ? undefined : value)),
  JML_RECONCILE_REMEDIATE: booleanFlag.default(false),
  /** The entitlement policy (docs/policy.md); without it everyone is entitled to every system. */
  JML_POLICY_FILE: z.string().optional(),
  /** First retry delay and cap of the backoff for downstream calls. */
  JML_RETRY_INITIAL_MS: z.coerce.number().int().min(10).default(2000),
  JML_RETRY_MAX_INTERVAL_MS: z.coerce.number().int().min(10).default(10 * 60 * 1000),
  /**
   * Activities per second on each system's task queue, across all workers (0: no limit), and in
   * each worker the pace of a mass release's calls per vendor rate-limit count (decision 064). The
   * defaults follow the vendors' documented limits: Rocket.Chat 10 calls a minute per endpoint,
   * the user API 100 a minute; Mendix publishes none.
   */
  JML_RATE_LIMIT_ROCKETCHAT: z.coerce.number().min(0).default(10 / 60),
  JML_RATE_LIMIT_MENDIX: z.coerce.number().min(0).default(5),
  JML_RATE_LIMIT_USERAPI: z.coerce.number().min(0).default(100 / 60),
  /** How long retryable failures of one target are retried before it needs attention. */
  JML_RETRY_DEADLINE_MS: z.coerce.number().int().min(1000).default(24 * 60 * 60 * 1000),
  /** A leaver is over the time-to-deprovision SLA when any system took, or is still open, longer than this. */
  JML_DEPROVISION_SLA_MS: z.coerce.number().int().min(1000).default(4 * 60 * 60 * 1000),
  /** Database connections each jml process keeps (API and worker each have their own pool). */
  JML_DB_POOL_SIZE: z.coerce.number().int().min(2).max(500).default(10),
  /**
   * How long a transaction waits for a free connection before it fails. Under a burst every
   * activity wants one at once; waiting is cheaper than failing and retrying the activity, and 10 s
   * still answers an identity provider (with 503) well before its own request timeout.
   */
  JML_DB_CONNECTION_WAIT_MS: z.coerce.number().int().min(100).default(10_000),
  /**
   * The nice value (0-19) `npm start` gives the worker process and the Temporal dev server it
   * started once the worker serves, so that a SCIM answer need not wait behind fan-out for the
   * CPU. 10 by default: on a machine that runs jml it doubled the leaver PATCH rate while
   * workflows ran and settled them as fast; 0 on a host shared with other busy work, where a
   * lowered worker starved (docs/decisions/028).
   */
  JML_WORKER_NICE: z.coerce.number().int().min(0).max(19).default(10),
  /** Activities each worker runs at once on each task queue; default 10 per CPU (src/temporal/worker-sizing.ts). */
  JML_WORKER_ACTIVITY_SLOTS: z.coerce.number().int().min(1).max(1000).optional(),
  /**
   * Workflows a worker keeps in memory between tasks; default 5 % of memory at half a MiB each, at
   * most 512 (src/temporal/worker-sizing.ts). A workflow not in the cache replays its history on
   * its next task.
   */
  JML_WORKER_CACHED_WORKFLOWS: z.coerce.number().int().min(0).optional(),
  /** A bearer token for Prometheus: accepted on /metrics only, besides operator tokens. */
  JML_METRICS_TOKEN: secret('JML_METRICS_TOKEN').optional(),
  /** The HR webhook's shared HMAC secret (or JML_HR_WEBHOOK_SECRET_FILE); POST /api/hr/events is served only with it (decision 026). */
  JML_HR_WEBHOOK_SECRET: secret('JML_HR_WEBHOOK_SECRET').optional(),
  /**
   * Signed checkpoints of the audit chain (docs/decisions/035-signed-checkpoints.md). The Ed25519
   * signing key in signed-note form (PRIVATE+KEY+<name>+<id>+<key>), or JML_CHECKPOINT_KEY_FILE;
   * without it `npm start` generates one in JML_DATA_DIR. Never stored in the database.
   */
  JML_CHECKPOINT_KEY: z.string().min(1).optional(),
  /** The verifier key (<name>+<id>+<key>) `jml audit verify` checks checkpoints with, when the signing key is elsewhere. */
  JML_CHECKPOINT_PUBLIC_KEY: z.string().min(1).optional(),
  /** The append-only directory checkpoints are published to (default JML_DATA_DIR/checkpoints). */
  JML_CHECKPOINT_DIR: z.string().min(1).optional(),
  /** Also publish each checkpoint to this HTTP endpoint (POST the note, or PUT it to <url>/<file name>). */
  JML_CHECKPOINT_URL: z.url().optional(),
  JML_CHECKPOINT_HTTP_METHOD: z.enum(['POST', 'PUT']).default('POST'),
  /** A bearer token for JML_CHECKPOINT_URL (or JML_CHECKPOINT_HTTP_TOKEN_FILE). */
  JML_CHECKPOINT_HTTP_TOKEN: z.string().min(1).optional(),
  /**
   * Also publish each checkpoint to an S3 bucket (AWS or S3-compatible; decision 045): the service
   * endpoint (https://s3.eu-west-1.amazonaws.com, http://minio:9000), or the bucket's own
   * virtual-hosted URL with JML_CHECKPOINT_S3_BUCKET unset. Objects are created with
   * `If-None-Match: *`, never replaced; Object Lock on the bucket makes them undeletable.
   */
  JML_CHECKPOINT_S3_URL: z.url().optional(),
  /** The bucket, addressed path-style as <url>/<bucket>/<key>. */
  JML_CHECKPOINT_S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'is not an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)').optional(),
  /** The key prefix the checkpoint objects go under. */
  JML_CHECKPOINT_S3_PREFIX: z.string().regex(/^([^/].*\/)?$/, 'must be empty or end with "/" and not start with one').default('jml-checkpoints/'),
  JML_CHECKPOINT_S3_REGION: z.string().min(1).default('us-east-1'),
  /** The credentials requests are signed with (SigV4); the secret preferably as JML_CHECKPOINT_S3_SECRET_ACCESS_KEY_FILE. */
  JML_CHECKPOINT_S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  JML_CHECKPOINT_S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  /** How often the head is looked at; a checkpoint is signed only when it moved. At most a minute. */
  JML_CHECKPOINT_INTERVAL_MS: z.coerce.number().int().min(1000).max(60_000).default(30_000),
  /**
   * On SIGTERM or SIGINT, how long jml lets requests and activities in flight finish before it
   * exits anyway (exit code 1, with a log line). Under Kubernetes' default 30 s grace period.
   */
  JML_SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(25_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
}).superRefine((env, context) => {
  // A bucket half configured would publish nowhere without a word: refuse to start instead.
  if (!env.JML_CHECKPOINT_S3_URL) return;
  for (const name of ['JML_CHECKPOINT_S3_ACCESS_KEY_ID', 'JML_CHECKPOINT_S3_SECRET_ACCESS_KEY'] as const) {
    if (!env[name]) context.addIssue({ code: 'custom', path: [name], message: `is needed with JML_CHECKPOINT_S3_URL (or ${name}_FILE)` });
  }
});

export type Environment = z.infer<typeof environmentSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * The exit code of a process stopped by its configuration: sysexits.h's EX_CONFIG. Starting it
 * again cannot help, so the supervisor of `npm start` stops instead of restarting a child that
 * exits with it (src/cli/supervisor.ts).
 */
export const EXIT_CONFIG = 78;

/**
 * Reads files named by `<NAME>_FILE` into `<NAME>` (Docker and Kubernetes secrets), for the
 * variables above only: other software's `_FILE` variables are none of jml's business. The
 * connectors resolve their own (src/connectors/config.ts).
 */
export function resolveFileVariables(env: NodeJS.ProcessEnv, read: (file: string) => string): NodeJS.ProcessEnv {
  const resolved: NodeJS.ProcessEnv = { ...env };
  for (const name of Object.keys(environmentSchema.shape)) {
    const key = `${name}_FILE`;
    const file = env[key];
    if (!file) continue;
    if (env[name]) throw new ConfigError(`Both ${name} and ${key} are set: keep one.`);
    try {
      resolved[name] = read(file).trim();
      delete resolved[key];
    } catch (error) {
      throw new ConfigError(`${key}=${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}).`);
    }
  }
  return resolved;
}

export function parseEnvironment(env: NodeJS.ProcessEnv): Environment {
  const result = environmentSchema.safeParse(env);
  if (result.success) return result.data;
  // Name the variable and say what is wrong, never echo the value: it may be a secret.
  const lines = result.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
  throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
}

/**
 * The variables that hold a credential: `publicSettings` says only whether each is set. A test
 * (test/config/settings.test.ts) fails when a variable whose name says TOKEN, SECRET or KEY is
 * missing here, so a new secret cannot reach the admin's settings view by default.
 */
export const SECRET_VARIABLES: ReadonlySet<keyof Environment> = new Set([
  'JML_SCIM_TOKEN',
  'JML_METRICS_TOKEN',
  'JML_HR_WEBHOOK_SECRET',
  'JML_CHECKPOINT_KEY',
  'JML_CHECKPOINT_HTTP_TOKEN',
  'JML_CHECKPOINT_S3_ACCESS_KEY_ID',
  'JML_CHECKPOINT_S3_SECRET_ACCESS_KEY',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS_KEY',
] as const);

/** A URL as it may be shown: any user name and password in it replaced (database URLs carry them). */
function withoutCredentials(value: string): string {
  try {
    const url = new URL(value);
    if (!url.username && !url.password) return value;
    url.username = url.username ? 'redacted' : '';
    url.password = url.password ? 'redacted' : '';
    return url.toString();
  } catch {
    return value;
  }
}

export type PublicSetting = string | number | boolean | string[] | null | { secret: true; set: boolean };

/**
 * The effective settings an admin may read (GET /api/settings): every variable's parsed value,
 * defaults included, with secrets reduced to whether they are set and credentials cut out of URLs.
 */
export function publicSettings(env: Environment): Record<string, PublicSetting> {
  const settings: Record<string, PublicSetting> = {};
  for (const name of Object.keys(environmentSchema.shape).sort() as (keyof Environment)[]) {
    const value = env[name];
    if (SECRET_VARIABLES.has(name)) settings[name] = { secret: true, set: value !== undefined && value !== '' };
    else if (value === undefined) settings[name] = null;
    else if (typeof value === 'string') settings[name] = withoutCredentials(value);
    else settings[name] = value;
  }
  return settings;
}

export function dataDir(env: Environment): string {
  return path.resolve(env.JML_DATA_DIR);
}
