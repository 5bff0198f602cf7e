// The composition root: wires the database, Temporal, the HTTP server, the workers and the
// outbox relay. `npm start` and the integration tests both start jml through here.
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Router } from 'express';
import { createActivities } from './activities/index.js';
import { createApp, createHealthApp, frontDoor } from './app.js';
import { createAccessTokenService } from './auth/access-tokens.js';
import { AuthFailureGuard } from './auth/failures.js';
import { createTokenVerifier } from './auth/tokens.js';
import { ConfigError, publicSettings, type Environment } from './config.js';
import { checkLookupsAtStart, type LookupCheck } from './connectors/check.js';
import type { Connector, SystemName } from './connectors/types.js';
import { Checkpointer, type CheckpointerSetup } from './audit/checkpoint.js';
import { ChainVerifier } from './audit/chain-verifier.js';
import { AuditIntegrator } from './audit/integrator.js';
import { createDatabase, type Database } from './db/client.js';
import { warnWhenPrivileged } from './db/role-check.js';
import { OutboxRelay } from './lifecycle/outbox-relay.js';
import { loadPolicy } from './lifecycle/policy.js';
import { lifecycleSettingsOf, rateLimitsOf } from './lifecycle/settings.js';
import { logger } from './logger.js';
import { createLifecycleMetrics } from './metrics/lifecycle-metrics.js';
import { temporalConnectionOptions } from './temporal/connection.js';
import { startWorkers, type RunningWorkers } from './temporal/workers.js';
import { syncIdleSweepSchedule, syncReconcileSchedule } from './temporal/schedules.js';
import { closeAbandonedRuns } from './reconcile/run.js';
import type { Identity } from './generated/prisma/client.js';

export interface SystemOptions {
  env: Environment;
  databaseUrl: string;
  temporalAddress: string;
  connectors: Partial<Record<SystemName, Connector>>;
  roles?: { api: boolean; worker: boolean };
  onIdentityWritten?: (identity: Identity) => void;
  mounts?: { path: string; router: Router }[];
  workflowBundle?: WorkflowBundleWithSourceMap;
  /** Signs and publishes the audit chain's head (api role); none: no checkpoints (tests that do not need them). */
  checkpoints?: CheckpointerSetup;
  /** Warn at start-up when the database role is a superuser or owns the tables (default true). */
  checkDatabaseRole?: boolean;
  /**
   * Try each connector's lookup once at start-up (worker role), warning per system that finds
   * nobody (default true; off in demo mode, whose simulators hold only what jml seeded).
   */
  checkLookups?: boolean;
}

export interface RunningSystem {
  db: Database;
  client: Client;
  /** Where the HTTP server listens (when the api role runs). */
  url?: string;
  relay?: OutboxRelay;
  /** Failed authentications of the api role, tallied per window (flush() writes them now). */
  authFailures?: AuthFailureGuard;
  /** The worker's start-up check of the connector lookups, running beside the start (checkLookupsAtStart). */
  lookupsChecked?: Promise<LookupCheck[]>;
  close(): Promise<void>;
}

/** Listens on HOST:PORT; an address that is taken or not ours to bind is the operator's to change. */
function listen(listener: RequestListener, env: Environment): Promise<Server> {
  return new Promise<Server>((resolve, reject) => {
    const listening = createServer(listener).listen(env.PORT, env.HOST, () => resolve(listening));
    listening.once('error', (error: NodeJS.ErrnoException) => {
      const address = `${env.HOST}:${env.PORT}`;
      const ports = 'set PORT to a free port (the API listens on PORT, the worker its health check on PORT + 1)';
      if (error.code === 'EADDRINUSE') reject(new ConfigError(`jml cannot listen on ${address}: another program is using it (EADDRINUSE). Stop that program, or ${ports}.`));
      else if (error.code === 'EACCES') reject(new ConfigError(`jml may not listen on ${address}: ports below 1024 need privileges (EACCES). Run it with them, or ${ports}.`));
      else if (error.code === 'EADDRNOTAVAIL') reject(new ConfigError(`jml cannot listen on ${address}: no interface of this machine has that address (EADDRNOTAVAIL). Set HOST to one of its addresses, or 0.0.0.0.`));
      else reject(error);
    });
  });
}

function urlOf(server: Server, env: Environment): string {
  const address = server.address() as AddressInfo;
  return `http://${env.HOST === '0.0.0.0' ? '127.0.0.1' : env.HOST}:${address.port}`;
}

export async function startSystem(options: SystemOptions): Promise<RunningSystem> {
  const { env } = options;
  // Read and validated at start-up: a broken policy file stops jml before it acts on anyone.
  const policy = loadPolicy(env.JML_POLICY_FILE);
  const roles = options.roles ?? { api: true, worker: true };
  const systems = Object.keys(options.connectors) as SystemName[];
  /** The systems reconciliation can list (decision 022). */
  const listing = systems.filter((system) => options.connectors[system]?.listAccounts !== undefined);
  const db = createDatabase(options.databaseUrl, { poolSize: env.JML_DB_POOL_SIZE, connectionWaitMs: env.JML_DB_CONNECTION_WAIT_MS });
  if (options.checkDatabaseRole !== false) {
    const processRole = roles.api && roles.worker ? 'API and worker' : roles.api ? 'API' : 'worker';
    // A check, not a gate: a database that does not answer yet fails the start further on anyway.
    await warnWhenPrivileged(db, processRole).catch((error: unknown) => logger.debug({ err: error }, 'could not check the database role'));
  }
  const temporal = temporalConnectionOptions(options.temporalAddress, env);
  // grpc-js waits up to 120 s between reconnection attempts; after a Temporal restart the outbox
  // relay would start nothing for that long (docs/decisions/012-recovery-after-outages.md).
  const connection = await Connection.connect({ ...temporal, channelArgs: { 'grpc.max_reconnect_backoff_ms': 5_000 } });
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });

  // Asked by the relay before a guarded workflow starts, and by workflows started before that (decision 023).
  const guard = {
    enabled: env.JML_GUARD_ENABLED,
    windowMs: env.JML_GUARD_WINDOW_MS,
    maxLeavers: env.JML_GUARD_MAX_LEAVERS,
    maxShare: env.JML_GUARD_MAX_SHARE,
    minLeaversForShare: env.JML_GUARD_MIN_LEAVERS,
  };
  let workers: RunningWorkers | undefined;
  let lookupsChecked: Promise<LookupCheck[]> | undefined;
  if (roles.worker) {
    const activities = createActivities({
      db,
      connectors: options.connectors,
      dryRun: (system) => env.JML_DRY_RUN || env.JML_DRY_RUN_SYSTEMS.includes(system),
      logger,
      guard,
      notFoundBurst: { count: env.JML_NOT_FOUND_BURST, windowMs: env.JML_GUARD_WINDOW_MS },
      rateLimits: rateLimitsOf(env),
      reconcile: { lifecycle: lifecycleSettingsOf(env, systems, policy), remediate: env.JML_RECONCILE_REMEDIATE },
    });
    workers = await startWorkers({
      connection: temporal,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      activities,
      systems,
      rateLimits: rateLimitsOf(env),
      activitySlots: env.JML_WORKER_ACTIVITY_SLOTS,
      cachedWorkflows: env.JML_WORKER_CACHED_WORKFLOWS,
      workflowBundle: options.workflowBundle,
      // Activities get most of the shutdown deadline to finish; the rest is for closing connections.
      shutdownGraceMs: Math.max(0, env.JML_SHUTDOWN_TIMEOUT_MS - 5_000),
    });
    if (options.connectors.rocketchat) {
      const sweep = await syncIdleSweepSchedule(client, {
        daysIdle: env.JML_IDLE_SWEEP_DAYS,
        role: env.JML_IDLE_SWEEP_ROLE,
        cron: env.JML_IDLE_SWEEP_CRON,
        taskQueue: env.TEMPORAL_TASK_QUEUE,
      });
      logger.info({ schedule: sweep, cron: env.JML_IDLE_SWEEP_CRON, daysIdle: env.JML_IDLE_SWEEP_DAYS }, 'Rocket.Chat idle sweep schedule');
    }
    const reconcile = await syncReconcileSchedule(client, { interval: env.JML_RECONCILE_INTERVAL, systems: listing, taskQueue: env.TEMPORAL_TASK_QUEUE });
    logger.info({ schedule: reconcile, every: env.JML_RECONCILE_INTERVAL ?? 'off', systems: listing, remediate: env.JML_RECONCILE_REMEDIATE }, 'reconciliation schedule');
    // Runs a stopped worker left `running` (decision 022); one stopped moments ago is closed by the next run.
    await closeAbandonedRuns(db, { now: new Date(), logger });
    // The worker is the process that talks to the downstream systems, so it tries their lookups
    // (issue 14): read-only, in the background (a slow vendor must not delay the start), warnings only.
    if (options.checkLookups !== false) {
      lookupsChecked = checkLookupsAtStart(db, options.connectors, logger).catch((error: unknown) => {
        logger.warn({ err: error }, 'connector lookups could not be checked at start; `npx jml connectors check` tries them');
        return [];
      });
    }
  }

  let server: Server | undefined;
  let relay: OutboxRelay | undefined;
  let integrator: AuditIntegrator | undefined;
  let verifier: ChainVerifier | undefined;
  let checkpointer: Checkpointer | undefined;
  let url: string | undefined;
  let authFailures: AuthFailureGuard | undefined;
  if (roles.api) {
    // The audit chain's one sequencer (docs/decisions/016-audit-integration.md): replicas may all
    // run it, an advisory lock lets one integrate at a time.
    const metrics = createLifecycleMetrics({ db, systems, slaMs: env.JML_DEPROVISION_SLA_MS });
    integrator = new AuditIntegrator({ db, logger, onBatch: (batch) => metrics.observeIntegration(batch) });
    // Evidence cites its latest result instead of verifying the whole chain per request.
    verifier = new ChainVerifier({ db, logger });
    // Beside the integrator that moves the head, and the evidence downloads that need the
    // checkpoints (docs/decisions/035-signed-checkpoints.md).
    if (options.checkpoints) checkpointer = new Checkpointer({ ...options.checkpoints, db, logger });
    const bundles = options.checkpoints ? { key: options.checkpoints.key, directory: options.checkpoints.directory } : undefined;
    relay = new OutboxRelay({ db, client, taskQueue: env.TEMPORAL_TASK_QUEUE, pollMs: env.JML_OUTBOX_POLL_MS, maxReleasing: env.JML_RELEASE_MAX_IN_FLIGHT, guard, logger });
    const outbox = relay;
    const verifyToken = createTokenVerifier({ db, environmentTokens: { scim: env.JML_SCIM_TOKEN }, trustForMs: env.JML_TOKEN_CACHE_MS });
    const accessTokens = createAccessTokenService({ db });
    authFailures = new AuthFailureGuard({ db, logger });
    // SCIM writes and the operator's changes of people (terminate now) share one intake.
    const intake = { db, lifecycle: lifecycleSettingsOf(env, systems, policy), onOutboxWritten: () => outbox.kick(), onIdentityWritten: options.onIdentityWritten };
    const app = createApp({
      db,
      trustProxy: env.JML_TRUST_PROXY,
      oauth: { db, logger, accessTokens, authFailures },
      mounts: options.mounts,
      metrics: {
        metrics,
        verifyToken,
        authFailures,
        metricsToken: env.JML_METRICS_TOKEN,
        logger,
      },
      operator: { db, verifyToken, authFailures, logger, rateLimit: { perSecond: 20, burst: 100 }, onOutboxWritten: () => outbox.kick(), deprovisionSlaMs: env.JML_DEPROVISION_SLA_MS, intake, bundles, approvalsRequired: env.JML_APPROVALS_REQUIRED, massReleaseThreshold: env.JML_MASS_RELEASE_THRESHOLD, reconcile: { systems: listing, queuePrefix: env.TEMPORAL_TASK_QUEUE }, settings: publicSettings(env) },
      hrWebhook: env.JML_HR_WEBHOOK_SECRET ? { secret: env.JML_HR_WEBHOOK_SECRET, verifyToken, intake, authFailures, logger } : undefined,
      ui: { db, verifyToken, authFailures, publicUrl: env.PUBLIC_URL, logger, onOutboxWritten: () => outbox.kick(), deprovisionSlaMs: env.JML_DEPROVISION_SLA_MS, intake, bundles, approvalsRequired: env.JML_APPROVALS_REQUIRED, massReleaseThreshold: env.JML_MASS_RELEASE_THRESHOLD, reconcile: { systems: listing, queuePrefix: env.TEMPORAL_TASK_QUEUE }, settings: publicSettings(env) },
      scim: {
        verifyToken,
        accessTokens,
        authFailures,
        maxBodyBytes: env.JML_SCIM_MAX_BODY_BYTES,
        rateLimit: { perSecond: env.JML_SCIM_RATE_LIMIT, burst: env.JML_SCIM_RATE_BURST },
        publicUrl: env.PUBLIC_URL,
        logger,
        ...intake,
      },
    });
    // Addresses past their failure budget are refused before express (src/app.ts).
    server = await listen(frontDoor(app, { authFailures, hrWebhook: Boolean(env.JML_HR_WEBHOOK_SECRET) }), env);
    url = urlOf(server, env);
    relay.start();
    integrator.start();
    verifier.start();
    checkpointer?.start();
  } else {
    // A worker-only process still answers its health check (docker-compose, Kubernetes probes).
    server = await listen(createHealthApp(db), env);
    url = urlOf(server, env);
  }

  return {
    db,
    client,
    url,
    relay,
    authFailures,
    lookupsChecked,
    async close() {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      server?.closeAllConnections();
      await authFailures?.close();
      await relay?.stop();
      await integrator?.stop();
      await verifier?.stop();
      await checkpointer?.stop();
      await workers?.shutdown();
      // Its queries must not meet a closed pool; a lookup waits at most the connector's timeout.
      await lookupsChecked;
      await connection.close();
      await db.$disconnect();
    },
  };
}
