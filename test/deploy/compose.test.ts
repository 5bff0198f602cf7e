// docker-compose.yml, the Dockerfile and deploy/ checked without a Docker engine: the compose file
// is parsed (anchors and merge keys resolved) and validated with zod, then held against what jml
// and the images actually read. Each check stands for a mistake that would otherwise surface only
// at `docker compose up`, as a container that exits or never turns healthy.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { environmentSchema } from '../../src/config.js';
import { CONNECTOR_VARIABLES, SECRET_VARIABLES } from '../../src/connectors/config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

// The part of the Compose specification this file uses, in the forms the checks below can read:
// environment as a map (every name visible) and depends_on in the long form (with a condition).
const environment = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));
const service = z
  .object({
    image: z.string().optional(),
    build: z.union([z.string(), z.object({ context: z.string() }).loose()]).optional(),
    entrypoint: z.array(z.string()).optional(),
    command: z.array(z.string()).optional(),
    environment: environment.default({}),
    secrets: z.array(z.string()).default([]),
    depends_on: z
      .record(z.string(), z.object({ condition: z.enum(['service_started', 'service_healthy', 'service_completed_successfully']) }))
      .default({}),
    healthcheck: z.object({ test: z.array(z.string()).min(2) }).loose().optional(),
    ports: z.array(z.string()).default([]),
    volumes: z.array(z.string()).default([]),
    restart: z.string().optional(),
  })
  .loose()
  .refine((definition) => definition.image !== undefined || definition.build !== undefined, 'needs an image or a build');
const composeFile = z.object({
  name: z.string(),
  services: z.record(z.string(), service),
  volumes: z.record(z.string(), z.null()).optional(),
  secrets: z.record(z.string(), z.object({ file: z.string() }).strict()),
});

const compose = composeFile.parse(parse(read('docker-compose.yml'), { merge: true }));
const services = compose.services;
const serviceNamed = (name: string) => {
  const definition = services[name];
  if (!definition) throw new Error(`docker-compose.yml has no service ${name}`);
  return definition;
};
const JML_SERVICES = ['jml-api', 'jml-worker'] as const;
/** Services that run once and exit: others wait for them with service_completed_successfully. */
const ONE_SHOTS = ['jml-migrate', 'temporal-schema', 'temporal-namespace'] as const;

/** The names jml reads: its own variables, the connectors', and `_FILE` forms only where resolved. */
const JML_VARIABLES = new Set<string>([
  ...Object.keys(environmentSchema.shape).flatMap((name) => [name, `${name}_FILE`]),
  ...CONNECTOR_VARIABLES,
  ...SECRET_VARIABLES.map((name) => `${name}_FILE`),
]);
const unreadByJml = (names: string[]) => names.filter((name) => !JML_VARIABLES.has(name));

/** Docker secrets a text reads, by their mount path. */
const secretsReadIn = (text: string) => [...text.matchAll(/\/run\/secrets\/([\w.-]+)/g)].map((match) => match[1]!);

describe('docker-compose.yml', () => {
  it('runs PostgreSQL, Temporal with its UI, and jml as an API and a worker', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['postgres', 'temporal', 'temporal-ui', ...JML_SERVICES]));
  });

  it('gives every long-running service a health check, except the Temporal UI that nothing waits for', () => {
    const without = Object.entries(services).filter(([, definition]) => !definition.healthcheck).map(([name]) => name);
    expect(without.sort()).toEqual(['temporal-ui', ...ONE_SHOTS].sort());
    // A one-shot exits, so whatever needs it waits for its success, never for its health.
    for (const [name, definition] of Object.entries(services)) {
      for (const oneShot of ONE_SHOTS.filter((candidate) => candidate in definition.depends_on)) {
        expect(definition.depends_on[oneShot]?.condition, `${name} waits on ${oneShot}`).toBe('service_completed_successfully');
      }
    }
    for (const oneShot of ONE_SHOTS) expect(serviceNamed(oneShot).restart, oneShot).toBe('no');
    const waitingForUi = Object.entries(services).filter(([, definition]) => 'temporal-ui' in definition.depends_on);
    expect(waitingForUi.map(([name]) => name)).toEqual([]);
  });

  it('waits only on services that exist and, for service_healthy, have a health check', () => {
    for (const [name, definition] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(definition.depends_on)) {
        expect(services[dependency], `${name} depends on a missing service ${dependency}`).toBeDefined();
        if (condition === 'service_healthy') expect(services[dependency]?.healthcheck, `${name} waits on ${dependency}`).toBeDefined();
      }
    }
  });

  it('declares every secret a service mounts, as a file under ./secrets/', () => {
    for (const [name, definition] of Object.entries(services)) {
      for (const secret of definition.secrets) {
        const declared = compose.secrets[secret];
        expect(declared, `${name} mounts the undeclared secret ${secret}`).toBeDefined();
        expect(declared?.file).toMatch(/^\.\/secrets\/[\w.-]+$/);
      }
    }
  });

  it('mounts every secret a service reads, from its environment, entrypoint or init scripts', () => {
    const initDirectory = 'deploy/postgres-init';
    const initScripts = readdirSync(path.join(root, initDirectory)).map((file) => read(path.join(initDirectory, file)));
    expect(serviceNamed('postgres').volumes.some((volume) => volume.startsWith(`./${initDirectory}:/docker-entrypoint-initdb.d`))).toBe(true);
    for (const [name, definition] of Object.entries(services)) {
      const texts = [...Object.values(definition.environment).map(String), ...(definition.entrypoint ?? []), ...(name === 'postgres' ? initScripts : [])];
      const mountedOrNot = [...new Set(texts.flatMap(secretsReadIn))];
      expect(mountedOrNot.filter((secret) => !definition.secrets.includes(secret)), `secrets ${name} reads but does not mount`).toEqual([]);
    }
  });

  it('puts no secret value in an environment: secrets come from files', () => {
    const secretLike = /PASSWORD|PWD|TOKEN|SECRET|API_KEY|_PAT$|^DATABASE_URL$/;
    for (const [name, definition] of Object.entries(services)) {
      const inlined = Object.keys(definition.environment).filter((variable) => secretLike.test(variable) && !variable.endsWith('_FILE'));
      expect(inlined, `${name} sets secrets inline`).toEqual([]);
      const withCredentials = Object.entries(definition.environment).filter(([, value]) => /:\/\/[^/\s:@]+:[^/\s@]+@/.test(String(value)));
      expect(withCredentials.map(([variable]) => variable), `${name} has a URL with credentials`).toEqual([]);
    }
  });

  it('gives the jml services only variables jml reads, with _FILE only where jml resolves it', () => {
    // The checker itself: these two slipped through once (see git history).
    expect(unreadByJml(['USERAPI_AUTH_TOKEN_FILE', 'ROCKETCHAT_USER_ID_FILE', 'USERAPI_TOKEN_FILE', 'DATABASE_URL_FILE'])).toEqual([
      'USERAPI_AUTH_TOKEN_FILE',
      'ROCKETCHAT_USER_ID_FILE',
    ]);
    for (const name of [...JML_SERVICES, 'jml-migrate']) {
      const variables = Object.keys(serviceNamed(name).environment);
      expect(unreadByJml(variables), `${name} sets variables jml ignores`).toEqual([]);
      for (const variable of variables.filter((candidate) => candidate.endsWith('_FILE'))) {
        expect(String(serviceNamed(name).environment[variable]), variable).toMatch(/^\/run\/secrets\/[\w.-]+$/);
      }
    }
  });

  it('lets the API and the worker finish their shutdown deadline before Docker kills them', () => {
    const deadlineMs = environmentSchema.shape.JML_SHUTDOWN_TIMEOUT_MS.parse(undefined);
    for (const name of JML_SERVICES) {
      const grace = z.string().regex(/^\d+s$/).default('10s').parse(serviceNamed(name).stop_grace_period);
      expect(Number.parseInt(grace, 10) * 1000, name).toBeGreaterThan(deadlineMs);
    }
  });

  it('starts the API and the worker with `jml start --role`', () => {
    expect(serviceNamed('jml-api').command).toEqual(['node', 'bin/jml.js', 'start', '--role', 'api']);
    expect(serviceNamed('jml-worker').command).toEqual(['node', 'bin/jml.js', 'start', '--role', 'worker']);
  });

  it('publishes the port the API listens on, and probes jml where it listens', () => {
    const api = serviceNamed('jml-api');
    const port = environmentSchema.shape.PORT.parse(api.environment.PORT);
    expect(api.ports.map((mapping) => mapping.split(':').at(-1))).toContain(String(port));
    expect(port).toBe(8080);
    for (const name of JML_SERVICES) {
      const listensOn = environmentSchema.shape.PORT.parse(serviceNamed(name).environment.PORT);
      expect(serviceNamed(name).healthcheck?.test.join(' ')).toContain(`127.0.0.1:${listensOn}/health`);
    }
  });

  it('points jml and the UI at the temporal service, once it is healthy', () => {
    for (const name of [...JML_SERVICES, 'temporal-ui']) {
      expect(serviceNamed(name).environment.TEMPORAL_ADDRESS, name).toBe('temporal:7233');
      expect(serviceNamed(name).depends_on.temporal?.condition, name).toBe('service_healthy');
    }
  });

  it('gives the API its checkpoint signing key as a secret and a volume of its own for the checkpoints (decision 035)', () => {
    const api = serviceNamed('jml-api');
    expect(api.environment.JML_CHECKPOINT_KEY_FILE).toBe('/run/secrets/jml_checkpoint_key');
    expect(api.secrets).toContain('jml_checkpoint_key');
    const directory = String(api.environment.JML_CHECKPOINT_DIR);
    const volume = api.volumes.find((mount) => mount.endsWith(`:${directory}`));
    expect(volume, 'a volume mounted at JML_CHECKPOINT_DIR').toBeDefined();
    // A named volume, not a folder inside the image, which a rebuild or a new container would lose.
    expect(Object.keys(compose.volumes ?? {})).toContain(volume!.split(':')[0]);
    // Neither the worker nor the migration may sign: the key stays in one process.
    for (const name of ['jml-worker', 'jml-migrate']) expect(serviceNamed(name).secrets, name).not.toContain('jml_checkpoint_key');
  });

  describe('least privilege in the database (decision 037)', () => {
    const migrate = serviceNamed('jml-migrate');

    it('migrates in a one-shot service with the owner\'s credentials, which jml never gets', () => {
      expect(migrate.command).toEqual(['node', 'bin/jml.js', 'migrate']);
      expect(migrate.environment).toEqual({ JML_MIGRATE_DATABASE_URL_FILE: '/run/secrets/jml_migrate_database_url' });
      expect(migrate.depends_on.postgres?.condition).toBe('service_healthy');
      for (const name of JML_SERVICES) {
        const service = serviceNamed(name);
        expect(service.depends_on['jml-migrate']?.condition, name).toBe('service_completed_successfully');
        expect(Object.keys(service.environment).filter((variable) => variable.startsWith('JML_MIGRATE_')), name).toEqual([]);
        expect(service.secrets, name).not.toContain('jml_migrate_database_url');
        expect(service.environment.DATABASE_URL_FILE, name).toBe('/run/secrets/jml_database_url');
      }
    });

    it('creates the login role jml runs as: in jml_application, owning nothing, no superuser', () => {
      const init = read('deploy/postgres-init/02-jml-application-role.sh');
      expect(init).toMatch(/^CREATE ROLE jml_application NOLOGIN;$/m);
      expect(init).toMatch(/^CREATE ROLE jml_app LOGIN PASSWORD :'password' IN ROLE jml_application;$/m);
      expect(init).not.toMatch(/SUPERUSER|CREATEROLE|CREATEDB|OWNER/);
      // The cluster's superuser (POSTGRES_USER) owns the tables and is only handed to jml-migrate.
      expect(serviceNamed('postgres').environment.POSTGRES_USER).not.toBe('jml_app');
      expect(serviceNamed('postgres').secrets).toContain('jml_app_db_password');
    });
  });

  describe('the Temporal server', () => {
    const temporal = serviceNamed('temporal');
    const schema = serviceNamed('temporal-schema');
    const namespace = serviceNamed('temporal-namespace');

    it('runs Temporal\'s server image, not auto-setup (which Temporal meant for development)', () => {
      expect(Object.values(services).map((definition) => definition.image ?? '').filter((image) => image.includes('auto-setup'))).toEqual([]);
      expect(temporal.image).toMatch(/^temporalio\/server:/);
      // The schema tool must be the server's own version: it carries that version's schema files.
      const version = (image = '') => image.split('@')[0]!.split(':')[1];
      expect(version(schema.image)).toBe(version(temporal.image));
      expect(version(namespace.image)).toBe(version(temporal.image));
    });

    it('has its schema set up and upgraded by temporal-sql-tool first, for both databases', () => {
      expect(schema.image).toMatch(/^temporalio\/admin-tools:/);
      expect(temporal.depends_on['temporal-schema']?.condition).toBe('service_completed_successfully');
      expect(schema.entrypoint).toEqual(['/bin/sh', '/deploy/temporal/setup-schema.sh']);
      expect(schema.volumes).toContain('./deploy/temporal:/deploy/temporal:ro');
      const script = read('deploy/temporal/setup-schema.sh');
      expect(script).toContain('for database in temporal temporal_visibility');
      expect(script).toContain('/etc/temporal/schema/postgresql/v12/temporal/versioned');
      expect(script).toContain('/etc/temporal/schema/postgresql/v12/visibility/versioned');
      expect(script).toMatch(/temporal-sql-tool --plugin postgres12 .* setup-schema -v 0\.0/);
      expect(script).toMatch(/temporal-sql-tool --plugin postgres12 .* update-schema -d "\$schema"/);
      // The tool reads SQL_PASSWORD; it comes from the secret the service mounts.
      expect(script).toContain('SQL_PASSWORD=$(cat /run/secrets/temporal_db_password)');
      expect(schema.secrets).toContain('temporal_db_password');
      // Both databases exist before: the init script makes them, owned by the server's role.
      const init = read('deploy/postgres-init/01-temporal-role.sh');
      expect(init).toContain(`CREATE DATABASE temporal OWNER ${String(schema.environment.POSTGRES_USER)};`);
      expect(init).toContain(`CREATE DATABASE temporal_visibility OWNER ${String(schema.environment.POSTGRES_USER)};`);
      expect(temporal.environment).toMatchObject({ DB: 'postgres12', POSTGRES_USER: schema.environment.POSTGRES_USER, POSTGRES_SEEDS: 'postgres' });
    });

    it('gets its database password from the secret, since the image reads no _FILE variables', () => {
      expect(Object.keys(temporal.environment).filter((variable) => variable.endsWith('_FILE'))).toEqual([]);
      const entrypoint = (temporal.entrypoint ?? []).join(' ');
      expect(entrypoint).toContain('POSTGRES_PWD="$$(cat /run/secrets/temporal_db_password)"');
      expect(entrypoint).toMatch(/exec \/etc\/temporal\/entrypoint\.sh$/);
    });

    it('has jml\'s namespace created before jml starts (the server image registers none)', () => {
      expect(namespace.environment.TEMPORAL_NAMESPACE).toBe(serviceNamed('jml-api').environment.TEMPORAL_NAMESPACE);
      expect(namespace.depends_on.temporal?.condition).toBe('service_healthy');
      expect(read('deploy/temporal/create-namespace.sh')).toMatch(/temporal operator namespace create .*-n "\$TEMPORAL_NAMESPACE"/);
      for (const name of JML_SERVICES) expect(serviceNamed(name).depends_on['temporal-namespace']?.condition, name).toBe('service_completed_successfully');
    });
  });

  it('pins every image to an exact version (a digest may follow), never a moving tag', () => {
    for (const [name, definition] of Object.entries(services)) {
      if (definition.image === undefined) continue;
      expect(definition.image, name).toMatch(/^[\w./-]+:\d+\.\d+(\.\d+)?(-[\w.]+)?(@sha256:[0-9a-f]{64})?$/);
    }
  });

  it('pins PostgreSQL by digest; the Temporal images by exact tag only, as decision 053 records', () => {
    // The digests come from public files, not from a registry (none is reachable where jml is
    // built): one is pinned only where independent sources agree. When a Temporal image gains a
    // digest, this test moves it to the first list.
    expect(serviceNamed('postgres').image).toMatch(/@sha256:[0-9a-f]{64}$/);
    const tagOnly = Object.entries(services).filter(([, definition]) => definition.image !== undefined && !definition.image.includes('@sha256:'));
    expect(tagOnly.map(([, definition]) => definition.image!.split(':')[0])).toEqual(expect.arrayContaining(['temporalio/server', 'temporalio/admin-tools', 'temporalio/ui']));
    expect(tagOnly.every(([, definition]) => definition.image!.startsWith('temporalio/'))).toBe(true);
    expect(read('docs/decisions/053-image-digests-offline.md')).toMatch(/temporalio\/server/);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const copied = [...dockerfile.matchAll(/^COPY (.+) \S+$/gm)].flatMap((match) => match[1]!.split(' '));

  it('is built on a Node LTS image pinned by digest', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:(22|24)[\w.-]*@sha256:[0-9a-f]{64}$/m);
    expect([...dockerfile.matchAll(/^FROM (\S+)/gm)].map((match) => match[1])).toEqual(['${NODE_IMAGE}', '${NODE_IMAGE}']);
  });

  it('builds from the lockfile and runs the compiled JavaScript with production dependencies only', () => {
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'scripts', 'src', 'workflows', 'prisma', 'bin', 'prisma.config.ts', 'tsconfig.json', 'tsconfig.build.json']));
    expect(dockerfile).toMatch(/^RUN npm ci /m);
    // The Prisma client is generated into src/, so after the sources are copied, and compiled with them.
    expect(dockerfile.indexOf('prisma generate')).toBeGreaterThan(dockerfile.indexOf('COPY src'));
    expect(dockerfile).toMatch(/node scripts\/build\.js && npm prune --omit=dev --omit=optional$/m);
    expect(dockerfile).toMatch(/^ENV NODE_ENV=production$/m);
    expect(dockerfile).toMatch(/^CMD \["node", "dist\/src\/cli\/main\.js", "start", "--role", "api"\]$/m);
    expect(dockerfile).not.toMatch(/tsx/);
  });

  it('has a health check', () => {
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\/health/m);
  });

  it('does not run as root', () => {
    expect(dockerfile).toMatch(/^USER node$/m);
  });
});
