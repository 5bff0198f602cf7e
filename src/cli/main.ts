// The `jml` command: operator tasks (tokens, migrations, simulators) and the server itself.
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import type { Database } from '../db/client.js';
import { exitWhenWritten } from './exit.js';
// Each command's module is imported in its own case, not here, and the database's modules (the
// Prisma client, the migration runner) only by the commands that use one; so are the environment
// (zod) and the logger (pino): an operator command loads only what it runs, and `verify-bundle`,
// `audit keygen` and the usage none of them (issue 17: the CLI answers in about a second;
// test/cli/import-graph.test.ts).

/** The process environment, parsed by the one config loader (src/environment.ts). */
async function loadEnvironment() {
  return (await import('../environment.js')).loadEnvironment();
}

const USAGE = `Usage: jml <command>

  start [--demo] [--role all|api|worker]   run jml (npm start runs 'start'): the API and the worker as
                                           two processes, or with --role one of them (all: both in one)
  tokens create --name <client> [--role scim|auditor|operator|admin] [--profile okta|entra|onelogin|jumpcloud|google|generic]
                                           print a new bearer token, once (default role scim;
                                           --operator is --role operator)
  tokens profile <id or name> <profile>    change what a SCIM client's tokens expect
  oauth create|list|secret add|secret revoke|revoke
                                           OAuth 2.0 clients for POST /oauth/token ('jml oauth' for more)
  tokens list                              list tokens (never their secrets)
  tokens revoke <id or name>               revoke tokens
  migrate                                  apply database migrations and the application role's
                                           privileges, as the owner (JML_MIGRATE_DATABASE_URL)
  simulate [--port <port>]                 run the Rocket.Chat, Mendix and user API simulators
  events list|show|todo|retry|approve|reject [--as <operator>]
                                           lifecycle events: inspect them, list the targets to finish
                                           by hand, retry failed targets, approve or reject held
                                           events ('jml events' for more)
  idle-sweep approve|reject <workflow id> [--as <operator>]
                                           release or refuse a Rocket.Chat idle sweep the guard held
  audit verify | export --from <date> --to <date> [--format csv|json] [--out <file>]
        | archive --before <date> --out <dir>
        | keygen --out <file> [--name <name>]
                                           check the audit hash chain; export or archive rows ('jml audit' for more)
  evidence <userName or id> [--format text|json] [--bundle <out.zip>]
                                           one person's identity, lifecycle events, outcomes and audit rows;
                                           --bundle: a signed bundle an auditor verifies offline
  verify-bundle <bundle.zip> [--key <verifier key>]
                                           check an evidence bundle without a database; says what it proves
  connectors check [--user <userName or id>] [--json]
                                           look one person up in every configured system; changes nothing
  terminate <person> --reason "<why>" [--as <operator>]
                                           deactivate a person in jml and every system now, superseding
                                           a future termination date (needs the server's environment)
  reconcile [--system <system>] [--dry-run] [--json]
  reconcile show [<run id>] [--kind <kind>] | remediate <finding id> | ignore <finding id> --reason "..."
                                           compare each system's accounts with the identities: drift,
                                           orphans, disabled accounts of active people
  hr import <file.csv> --mapping <mapping.json> [--dry-run]
                                           HR changes from a CSV export; a dry run shows what would change
                                           ('jml hr' for more; needs the server's environment)
  report deprovisioning [--from <date>] [--to <date>] [--format text|json|csv]
                                           time to deprovision per leaver and system, SLA breaches
`;

/** The commands that serve until stopped: V8 keeps its defaults for them (see main). */
const SERVERS = new Set(['start', 'simulate']);
/** CPU time after which a command is a long one (a whole audit chain, a large export or file). */
const LONG_COMMAND_CPU_MS = 2_000;

/**
 * TurboFan compiles hot functions on background threads, whose CPU a command that ends within a
 * second pays without living long enough to run the result: off at first (`jml events list` 1.20 ->
 * 0.91 s of CPU, `report deprovisioning` 1.69 -> 1.17 s, `audit verify` 1.96 -> 1.48 s; median of 5,
 * load average 12-19, 2 cores). A command still running after LONG_COMMAND_CPU_MS of CPU (walking a
 * million-row chain, exporting a year) turns it back on, and its loops run optimised from then on
 * (a JSON-heavy loop: 1.6 -> 1.0 s once back on).
 */
function optimiseOnlyLongCommands(): void {
  setFlagsFromString('--no-opt');
  const check = setInterval(() => {
    const { user, system } = process.cpuUsage();
    if ((user + system) / 1000 < LONG_COMMAND_CPU_MS) return;
    setFlagsFromString('--opt');
    clearInterval(check);
  }, 200);
  check.unref();
}

/**
 * pg asks when it is loaded whether it runs on Cloudflare Workers: by `navigator.userAgent`, and
 * where there is no `navigator` (Node 20; Node 21 and later define one) by building a fetch
 * Response, which loads all of undici: 0.09 s of CPU for every command that reaches the database.
 * A command's modules load pg before its database is opened, so `navigator` is defined, as Node 21
 * defines it, when the command starts, and removed once the database's modules are loaded.
 */
let removeNavigator = (): void => {};
function defineNavigatorForPg(): void {
  if ('navigator' in globalThis) return;
  Object.defineProperty(globalThis, 'navigator', { value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` }, configurable: true });
  removeNavigator = () => {
    delete (globalThis as { navigator?: unknown }).navigator;
    removeNavigator = () => {};
  };
}

async function withDatabase<T>(run: (db: Database) => Promise<T>): Promise<T> {
  const { environment } = await loadEnvironment();
  const [{ resolveDatabase }, { migrateDatabase }, { createDatabase }] = await Promise.all([
    import('../infra/database.js'),
    import('../db/migrate.js'),
    import('../db/client.js'),
  ]);
  removeNavigator();
  const database = await resolveDatabase(environment);
  try {
    await migrateDatabase(database.url);
    const db = createDatabase(database.url, { poolSize: 2 });
    try {
      return await run(db);
    } finally {
      await db.$disconnect();
    }
  } finally {
    await database.stop();
  }
}

/**
 * `jml migrate`: the one step that needs the schema owner (JML_MIGRATE_DATABASE_URL, else
 * DATABASE_URL); it also (re)grants the application role its privileges (src/db/grants.ts).
 */
async function migrateCommand(): Promise<number> {
  const { environment } = await loadEnvironment();
  const [{ resolveDatabase }, { migrateDatabase }] = await Promise.all([import('../infra/database.js'), import('../db/migrate.js')]);
  removeNavigator();
  // The owner's URL alone is enough: the compose file's jml-migrate service has no DATABASE_URL.
  const database = environment.JML_MIGRATE_DATABASE_URL
    ? { migrateUrl: environment.JML_MIGRATE_DATABASE_URL, stop: async () => {} }
    : await resolveDatabase(environment);
  try {
    const applied = await migrateDatabase(database.migrateUrl, undefined, { grants: true });
    process.stdout.write(applied.length > 0 ? `Applied ${applied.length} migration(s): ${applied.join(', ')}.\n` : 'The database is up to date.\n');
    return 0;
  } finally {
    await database.stop();
  }
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      profile: { type: 'string' },
      operator: { type: 'boolean', default: false },
      demo: { type: 'boolean', default: false },
      // start: all|api|worker (default all); tokens create: the token's role (default scim).
      role: { type: 'string' },
      port: { type: 'string' },
      identity: { type: 'string' },
      user: { type: 'string' },
      kind: { type: 'string' },
      status: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      system: { type: 'string' },
      reason: { type: 'string' },
      as: { type: 'string' },
      'all-held': { type: 'boolean', default: false },
      mapping: { type: 'string' },
      json: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      from: { type: 'string' },
      to: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string' },
      actor: { type: 'string' },
      action: { type: 'string' },
      before: { type: 'string' },
      archive: { type: 'string' },
      bundle: { type: 'string' },
      key: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  // Prisma's query compiler is WebAssembly. By default V8 compiles it twice: a quick baseline
  // (Liftoff) to start, then optimised code in the background for the hot functions, which a
  // command that ends within a second never gets to use. The baseline alone saves about 100 ms of
  // CPU per command (the first query: 270 -> 170 ms, median of 4, loaded 2-core machine) and was
  // no slower over 1,000 queries. The servers (`start`) keep V8's defaults: they run for days.
  if (command !== 'start') setFlagsFromString('--liftoff-only');
  // The same holds for JavaScript's optimising compiler, until a command turns out to be long.
  if (!SERVERS.has(command)) {
    optimiseOnlyLongCommands();
    defineNavigatorForPg();
  }
  switch (command) {
    case 'start': {
      const { startCommand } = await import('./start.js');
      const role = values.role ?? 'supervised';
      if (role !== 'supervised' && role !== 'all' && role !== 'api' && role !== 'worker') {
        const { ConfigError } = await import('../config.js');
        throw new ConfigError('--role must be all, api or worker');
      }
      return startCommand({ demo: values.demo, role });
    }
    case 'tokens': {
      const { tokensCommand } = await import('./tokens.js');
      return withDatabase((db) => tokensCommand(db, { action: rest[0] ?? '', name: values.name, operator: values.operator, role: values.role, target: rest[1], as: values.as, profile: values.profile ?? rest[2] }));
    }
    case 'oauth': {
      const [{ oauthCommand }, { operatorName }] = await Promise.all([import('./oauth.js'), import('./tokens.js')]);
      return withDatabase((db) => oauthCommand(db, { action: rest[0] ?? '', target: rest[1], extra: rest[2], name: values.name, profile: values.profile, actor: values.as ?? operatorName() }));
    }
    case 'events': {
      const { eventsCommand } = await import('./events.js');
      const { environment } = await loadEnvironment();
      return withDatabase((db) =>
        eventsCommand(db, {
          ...values,
          action: rest[0] ?? '',
          target: rest[1],
          allHeld: values['all-held'],
          approvalsRequired: environment.JML_APPROVALS_REQUIRED,
          massReleaseThreshold: environment.JML_MASS_RELEASE_THRESHOLD,
        }),
      );
    }
    case 'idle-sweep': {
      const { idleSweepCommand } = await import('./idle-sweep.js');
      const io = { out: (text: string) => process.stdout.write(text), err: (text: string) => process.stderr.write(text) };
      const { environment } = await loadEnvironment();
      return withDatabase((db) =>
        idleSweepCommand(db, { action: rest[0] ?? '', workflowId: rest[1], as: values.as, approvalsRequired: environment.JML_APPROVALS_REQUIRED }, io),
      );
    }
    case 'report': {
      const { reportCommand } = await import('./report.js');
      const slaMs = (await loadEnvironment()).environment.JML_DEPROVISION_SLA_MS;
      return withDatabase((db) => reportCommand(db, { report: rest[0] ?? '', from: values.from, to: values.to, format: values.format, slaMs }));
    }
    case 'audit': {
      if (rest[0] === 'keygen') {
        // No database and no environment: the key is made before the deployment exists.
        const { keygenCommand } = await import('./keygen.js');
        return keygenCommand({ out: values.out, name: values.name }, { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) });
      }
      const [{ auditCommand }, { canBeRead, checkpointPlaces, loadVerifierKey }] = await Promise.all([import('./audit.js'), import('../audit/checkpoint.js')]);
      const { environment } = await loadEnvironment();
      const checkpoints = { places: checkpointPlaces(environment).filter(canBeRead), key: loadVerifierKey(environment) };
      return withDatabase((db) => auditCommand(db, { ...values, action: rest[0] ?? '', actionFilter: values.action, by: values.as, checkpoints }));
    }
    case 'connectors': {
      const { connectorsCommand } = await import('./connectors.js');
      const { raw } = await loadEnvironment();
      return withDatabase((db) => connectorsCommand(db, { action: rest[0] ?? '', user: values.user, json: values.json, env: raw }));
    }
    case 'terminate': {
      const { terminateCommand } = await import('./terminate.js');
      const { shellIntake } = await import('./intake.js');
      const { environment, raw } = await loadEnvironment();
      return withDatabase((db) => terminateCommand(shellIntake(db, environment, raw), { subject: rest[0], reason: values.reason, as: values.as, json: values.json }));
    }
    case 'reconcile': {
      const { reconcileCommand } = await import('./reconcile.js');
      const { raw, environment } = await loadEnvironment();
      return withDatabase((db) => reconcileCommand(db, { system: values.system, dryRun: values['dry-run'], json: values.json, raw, environment, action: rest[0], target: rest[1], kind: values.kind, reason: values.reason, as: values.as }));
    }
    case 'hr': {
      const { hrCommand } = await import('./hr.js');
      const { shellIntake } = await import('./intake.js');
      const { environment, raw } = await loadEnvironment();
      return withDatabase((db) =>
        hrCommand(() => shellIntake(db, environment, raw), { action: rest[0] ?? '', file: rest[1], mapping: values.mapping, dryRun: values['dry-run'], json: values.json, as: values.as }),
      );
    }
    case 'evidence': {
      const [{ evidenceCommand }, { checkpointDirectory, loadCheckpointKey }] = await Promise.all([import('./evidence.js'), import('../audit/checkpoint.js')]);
      const { environment } = await loadEnvironment();
      const bundleSource = values.bundle ? { key: loadCheckpointKey(environment, { create: false })?.key ?? null, directory: checkpointDirectory(environment) } : undefined;
      return withDatabase((db) => evidenceCommand(db, { subject: rest[0], format: values.format, bundle: values.bundle, bundleSource }));
    }
    case 'verify-bundle': {
      const { verifyBundleCommand } = await import('./verify-bundle.js');
      return verifyBundleCommand({ file: rest[0], key: values.key, json: values.json });
    }
    case 'migrate':
      return migrateCommand();
    case 'simulate': {
      const { simulateCommand } = await import('./simulate.js');
      return simulateCommand({ port: values.port ? Number(values.port) : 8090 });
    }
    default:
      process.stderr.write(`Unknown command "${command}".\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  async (code) => {
    if (code !== undefined && code !== -1) await exitWhenWritten(code);
  },
  async (error: unknown) => {
    const [{ ConfigError, EXIT_CONFIG }, { logger }] = await Promise.all([import('../config.js'), import('../logger.js')]);
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      await exitWhenWritten(EXIT_CONFIG);
    }
    logger.fatal({ err: error }, 'jml failed');
    await exitWhenWritten(1);
  },
);
