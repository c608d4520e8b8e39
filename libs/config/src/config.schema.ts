import { z } from 'zod';

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const MIN_JWT_SECRET_BYTES = 32;

/**
 * Secrets that have been published (earlier defaults and deploy samples of this repository) or that
 * read like a placeholder: a token signed with one of them can be forged by anyone, so none is accepted.
 */
const PUBLISHED_SAMPLE_SECRETS = new Set([
  'gpupool-development-secret-change-me-in-production',
  'change-me-local-compose-secret-at-least-32-chars',
  'CHANGE-ME-at-least-32-characters-long-random',
]);

export function isPublishedSampleSecret(value: string): boolean {
  return PUBLISHED_SAMPLE_SECRETS.has(value) || /change[-_ ]?me/i.test(value);
}

/**
 * Every environment variable gpupool reads. Parsed once at start; a bad value stops the process
 * with a message that names the variable.
 */
export const configSchema = z
  .strictObject({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    HOST: z.string().min(1).default('127.0.0.1'),
    DATABASE_URL: z.url().default('postgres://postgres@127.0.0.1:5432/gpupool'),
    DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(50).default(10),
    REDIS_URL: z.url().default('redis://127.0.0.1:6379'),
    /** `redis` (production) or `postgres` (BullMQ's PostgreSQL backend, the zero-install default). */
    QUEUE_BACKEND: z.enum(['redis', 'postgres']).default('redis'),
    /** Prefix of every queue key, so test runs and tenants never share queues. */
    QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default('gpupool'),
    /**
     * Signs access tokens (HS256). No default: required when NODE_ENV=production (see the refinement
     * below); elsewhere the API signs with a random per-process secret when it is unset, and `npm start`
     * generates one into .data/jwt-secret.
     */
    JWT_SECRET: z
      .string()
      .refine((value) => Buffer.byteLength(value, 'utf8') >= MIN_JWT_SECRET_BYTES, {
        message: `JWT_SECRET must be at least ${MIN_JWT_SECRET_BYTES} bytes (generate one: openssl rand -base64 48)`,
      })
      .refine((value) => !isPublishedSampleSecret(value), {
        message:
          'JWT_SECRET is a published sample value (anyone can forge tokens with it); generate one: openssl rand -base64 48',
      })
      .optional(),
    JWT_TTL_SECONDS: z.coerce.number().int().min(60).max(86400).default(3600),
    GPUPOOL_ADMIN_EMAIL: z.email().default('admin@gpupool.local'),
    GPUPOOL_ADMIN_PASSWORD: z.string().min(8).default('gpupool-admin'),
    LOG_LEVEL: z.enum(logLevels).default('info'),
    /** How often the reconciler sweeps PostgreSQL for work Redis may have lost. */
    RECONCILE_INTERVAL_MS: z.coerce.number().int().min(100).default(10000),
    /** A grant intent older than this with no grant yet is re-enqueued by the reconciler. */
    RECONCILE_GRACE_MS: z.coerce.number().int().min(0).default(5000),
    /**
     * How far in the future a usage record may end (clock skew). A deployment driven by the simulated
     * cluster, whose clock runs SIMULATOR_TIME_SCALE times faster, needs more (npm start sets it).
     */
    USAGE_FUTURE_TOLERANCE_MS: z.coerce
      .number()
      .int()
      .min(0)
      .default(5 * 60_000),
    /** How often the usage sweep recomputes balances and rollups from the ledger and records. */
    USAGE_DRIFT_CHECK_INTERVAL_MS: z.coerce
      .number()
      .int()
      .min(1000)
      .default(10 * 60_000),
    /**
     * Starvation guard: a workload queued this long goes first, and is never preempted once started
     * (0 = off, the default: on the Philly trace a guard of days made the policy FIFO; see the quality report).
     */
    SCHEDULER_STARVATION_SECONDS: z.coerce.number().int().min(0).default(0),
    /** BullMQ lock of an active job; a worker killed with SIGKILL has its jobs re-run after this. */
    WORKER_LOCK_DURATION_MS: z.coerce.number().int().min(1000).default(30000),
    WORKER_STALLED_INTERVAL_MS: z.coerce.number().int().min(500).default(30000),
    /** Fault injection for tests only: hold each grant transaction open this long before committing. */
    FAULT_GRANT_DELAY_MS: z.coerce.number().int().min(0).max(60000).default(0),
    /** Tests of faults only: hold the billing close's transaction open this long before it commits. */
    FAULT_CLOSE_DELAY_MS: z.coerce.number().int().min(0).max(60000).default(0),
    /** Fair share: recent usage counts half as much after this long. */
    FAIR_SHARE_HALF_LIFE_SECONDS: z.coerce
      .number()
      .int()
      .min(60)
      .default(7 * 24 * 3600),
    /** EASY backfill behind the reserved head of the queue. */
    SCHEDULER_BACKFILL: z.stringbool().default(true),
    /** Reclaim borrowed capacity when an entitled program needs it. */
    SCHEDULER_PREEMPTION: z.stringbool().default(true),
    /**
     * Development only: webhooks may go to http:// and https:// loopback receivers (127.0.0.0/8, ::1).
     * Off by default: receivers must be https on public addresses (private, link-local and metadata
     * ranges are refused always).
     */
    WEBHOOK_ALLOW_LOOPBACK_HTTP: z.stringbool().default(false),
    /**
     * Rate limits (429 with Retry-After), counted in Redis so every API replica shares them (in
     * memory, per process, when QUEUE_BACKEND=postgres). Off only for load benchmarks.
     */
    RATE_LIMITS: z.stringbool().default(true),
    /** Sign-in attempts per account (any address) and per client address, in one window. */
    RATE_LIMIT_LOGIN_PER_ACCOUNT: z.coerce.number().int().min(1).default(10),
    RATE_LIMIT_LOGIN_PER_ADDRESS: z.coerce.number().int().min(1).default(60),
    RATE_LIMIT_LOGIN_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86400).default(900),
    /** API tokens one principal may create per hour. */
    RATE_LIMIT_TOKEN_CREATIONS_PER_HOUR: z.coerce.number().int().min(1).default(20),
    /** Writes (POST, PUT, PATCH, DELETE) per principal per minute; agent and usage ingest are exempt. */
    RATE_LIMIT_WRITES_PER_MINUTE: z.coerce.number().int().min(1).default(600),
    /**
     * Proxies in front of the API whose X-Forwarded-For is trusted (0 = none): the client address of
     * the per-address sign-in limit. Behind one ingress, 1.
     */
    TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
    /**
     * On a cluster whose agent sends heartbeats, a dispatched run no heartbeat has confirmed for this
     * long is declared lost (failed, refunded, its GPUs and hold released). Clusters whose agent never
     * sent one are not watched.
     */
    AGENT_HEARTBEAT_TIMEOUT_MS: z.coerce.number().int().min(5000).max(3_600_000).default(60_000),
    /** How often the simulated cluster agent sends its heartbeat (well below the timeout). */
    AGENT_HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(100).max(600_000).default(15_000),
    /** The simulated cluster runs workloads this many times faster than real time. */
    SIMULATOR_TIME_SCALE: z.coerce.number().int().min(1).max(1_000_000).default(60),
    SIMULATOR_API_URL: z.url().default('http://127.0.0.1:3000'),
    SIMULATOR_API_TOKEN: z.string().optional(),
    /** Live demo: the simulator submits this many Philly-like workloads a minute through the API (0 = off). */
    SIMULATOR_DEMO_RATE_PER_MINUTE: z.coerce.number().int().min(0).max(6000).default(0),
    /** The account the demo load submits as (a member of a project with an active allocation). */
    SIMULATOR_DEMO_EMAIL: z.email().default('pi@hangang.demo'),
    SIMULATOR_DEMO_PASSWORD: z.string().min(1).default('demo-password'),
  })
  .superRefine((config, context) => {
    if (config.NODE_ENV === 'production' && config.JWT_SECRET === undefined)
      context.addIssue({
        code: 'custom',
        path: ['JWT_SECRET'],
        message:
          'JWT_SECRET is required when NODE_ENV=production: set a random secret of at least ' +
          `${MIN_JWT_SECRET_BYTES} bytes (openssl rand -base64 48), the same for every API replica`,
      });
    if (config.AGENT_HEARTBEAT_INTERVAL_MS * 2 > config.AGENT_HEARTBEAT_TIMEOUT_MS)
      context.addIssue({
        code: 'custom',
        path: ['AGENT_HEARTBEAT_INTERVAL_MS'],
        message:
          `AGENT_HEARTBEAT_INTERVAL_MS (${config.AGENT_HEARTBEAT_INTERVAL_MS}) must be at most half of ` +
          `AGENT_HEARTBEAT_TIMEOUT_MS (${config.AGENT_HEARTBEAT_TIMEOUT_MS}): one late heartbeat would end healthy runs`,
      });
  });

export type GpupoolConfig = Readonly<z.infer<typeof configSchema>>;
