// The connectors' settings, read once from an environment-like object and validated with zod. A
// system is enabled when its base URL is set; its credentials may come from a variable or from a
// file named by `<NAME>_FILE` (Docker and Kubernetes secrets). Errors name the variable and say
// what to do; they never repeat a value, since it may be a secret.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import { createMendixConnector } from './mendix/connector.js';
import { createRocketChatConnector, type RocketChatConnector, type RocketChatLookupKey } from './rocketchat/connector.js';
import type { Connector, IdentitySnapshot } from './types.js';
import { createUserApiConnector } from './userapi/connector.js';

export class ConnectorConfigError extends Error {
  override readonly name = 'ConnectorConfigError';
}

export type EnvironmentLike = Record<string, string | undefined>;

/** Variables that may instead be given as `<NAME>_FILE`, the file holding the value. */
export const SECRET_VARIABLES = [
  'ROCKETCHAT_AUTH_TOKEN',
  'MENDIX_PAT',
  'MENDIX_IDENTIFIER_PAT',
  'USERAPI_API_KEY',
  'USERAPI_TOKEN',
] as const;

// ---- Identity attributes -------------------------------------------------------------------

const SNAPSHOT_ATTRIBUTES = ['userName', 'email', 'externalId', 'employeeNumber', 'id'] as const;

/** Where an account key comes from: a field of the identity snapshot or a SCIM path into its resource. */
export type IdentityAttribute =
  | { source: 'snapshot'; name: (typeof SNAPSHOT_ATTRIBUTES)[number] }
  | { source: 'resource'; path: string };

// RFC 7644 §3.10 attribute notation: optional schema URN, attribute, optional value filter
// (only `sub eq "value"` / `sub eq true`), optional sub-attribute.
const SCIM_PATH = /^(?:(urn:[^\s[\]]+):)?([A-Za-z][\w$-]*)(?:\[([^\]]+)\])?(?:\.([A-Za-z][\w$-]*))?$/;
const VALUE_FILTER = /^\s*([A-Za-z][\w$-]*)\s+eq\s+(?:"([^"]*)"|(true|false))\s*$/i;
const CORE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';

function parseIdentityAttribute(spec: string): IdentityAttribute | undefined {
  const named = SNAPSHOT_ATTRIBUTES.find((name) => name.toLowerCase() === spec.toLowerCase());
  if (named) return { source: 'snapshot', name: named };
  const match = SCIM_PATH.exec(spec);
  if (!match || (match[3] !== undefined && !VALUE_FILTER.test(match[3]))) return undefined;
  return { source: 'resource', path: spec };
}

/** SCIM attribute names are case-insensitive (RFC 7643 §2.1). */
function member(value: unknown, name: string): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const key = Object.keys(value).find((candidate) => candidate.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : (value as Record<string, unknown>)[key];
}

function readResourcePath(resource: Record<string, unknown>, path: string): unknown {
  const [, urn, attribute, filter, subAttribute] = SCIM_PATH.exec(path) ?? [];
  if (!attribute) return undefined;
  // Extension attributes sit under their schema URN; core attributes at the top level.
  const container = urn === undefined || urn.toLowerCase() === CORE_USER_SCHEMA.toLowerCase() ? resource : member(resource, urn);
  let value = member(container, attribute);
  if (Array.isArray(value)) {
    const condition = filter === undefined ? undefined : VALUE_FILTER.exec(filter);
    value = condition
      ? value.find((item) => String(member(item, condition[1]!)).toLowerCase() === (condition[2] ?? condition[3]!).toLowerCase())
      : (value.find((item) => member(item, 'primary') === true) ?? value[0]);
  }
  return subAttribute === undefined ? value : member(value, subAttribute);
}

/** How a configured attribute is written in the settings, for messages. */
export function describeIdentityAttribute(attribute: IdentityAttribute): string {
  return attribute.source === 'snapshot' ? attribute.name : attribute.path;
}

/** Turns a configured attribute into the function a connector calls; empty values read as null. */
export function identityAttributeReader(attribute: IdentityAttribute): (identity: IdentitySnapshot) => string | null {
  return (identity) => {
    const value = attribute.source === 'snapshot' ? identity[attribute.name] : readResourcePath(identity.resource, attribute.path);
    if (typeof value === 'number') return String(value);
    return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
  };
}

// ---- Schema --------------------------------------------------------------------------------

const unsetWhenEmpty = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);
const text = z.preprocess(unsetWhenEmpty, z.string().trim().optional());
const baseUrl = z.preprocess(
  unsetWhenEmpty,
  z.url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. https://chat.example.com' }).optional(),
);
const flag = (fallback: boolean) =>
  z.preprocess(
    unsetWhenEmpty,
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
      .transform((value) => value === 'true' || value === '1' || value === 'yes')
      .default(fallback),
  );
const attribute = (fallback: string) =>
  z.preprocess(
    unsetWhenEmpty,
    z
      .string()
      .default(fallback)
      .transform((spec, context) => {
        const parsed = parseIdentityAttribute(spec);
        if (!parsed) {
          context.addIssue({
            code: 'custom',
            message: `must be one of ${SNAPSHOT_ATTRIBUTES.join(', ')} or a SCIM attribute path such as urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber or emails[type eq "work"].value`,
          });
          return z.NEVER;
        }
        return parsed;
      }),
  );
const rocketChatLookup = z.preprocess(
  unsetWhenEmpty,
  z
    .string()
    .default('username:userName')
    .transform((spec, context) => {
      const separator = spec.indexOf(':');
      const key = spec.slice(0, separator);
      const parsed = parseIdentityAttribute(spec.slice(separator + 1));
      if (separator < 0 || !['username', 'email', 'userId'].includes(key) || !parsed) {
        context.addIssue({
          code: 'custom',
          message: 'must be <username|email|userId>:<identity attribute>, e.g. username:userName or email:email',
        });
        return z.NEVER;
      }
      return { key: key as RocketChatLookupKey, attribute: parsed };
    }),
);

const environmentSchema = z.object({
  ROCKETCHAT_URL: baseUrl,
  ROCKETCHAT_USER_ID: text,
  ROCKETCHAT_AUTH_TOKEN: text,
  ROCKETCHAT_LOOKUP: rocketChatLookup,
  ROCKETCHAT_CONFIRM_RELINQUISH: flag(true),
  MENDIX_URL: baseUrl,
  MENDIX_IDENTIFIER_URL: baseUrl,
  MENDIX_PAT: text,
  MENDIX_IDENTIFIER_PAT: text,
  MENDIX_EMAIL_ATTRIBUTE: attribute('email'),
  USERAPI_URL: baseUrl,
  USERAPI_API_KEY: text,
  USERAPI_TOKEN: text,
  USERAPI_ID_ATTRIBUTE: attribute('externalId'),
  JML_CONNECTOR_TIMEOUT_MS: z.preprocess(
    unsetWhenEmpty,
    z.coerce.number({ error: 'must be a number of milliseconds' }).int().min(100).max(300_000).default(10_000),
  ),
});

/** Every variable the connectors read; of these only SECRET_VARIABLES also have a `_FILE` form. */
export const CONNECTOR_VARIABLES = Object.keys(environmentSchema.shape) as (keyof typeof environmentSchema.shape)[];

type ParsedEnvironment = z.output<typeof environmentSchema>;

export interface ConnectorsConfig {
  timeoutMs: number;
  rocketchat?: {
    baseUrl: string;
    userId: string;
    authToken: string;
    lookup: { key: RocketChatLookupKey; attribute: IdentityAttribute };
    confirmRelinquish: boolean;
  };
  mendix?: {
    deactivationBaseUrl: string;
    identifierBaseUrl: string;
    pat: string;
    identifierPat: string;
    emailAttribute: IdentityAttribute;
  };
  userapi?: {
    baseUrl: string;
    apiKey: string;
    authToken: string;
    idAttribute: IdentityAttribute;
  };
}

/** What each system needs besides its base URL. */
const REQUIRED_WITH: Record<string, string[]> = {
  ROCKETCHAT_URL: ['ROCKETCHAT_USER_ID', 'ROCKETCHAT_AUTH_TOKEN'],
  MENDIX_URL: ['MENDIX_PAT'],
  USERAPI_URL: ['USERAPI_API_KEY', 'USERAPI_TOKEN'],
};

// Checked on the raw variables rather than in the schema, so that every missing variable is
// reported together with any malformed one.
function missingVariables(env: EnvironmentLike): string[] {
  const isSet = (name: string) => Boolean(env[name]?.trim());
  return Object.entries(REQUIRED_WITH).flatMap(([urlVariable, needed]) =>
    isSet(urlVariable)
      ? needed
          // A <NAME>_FILE that could not be read is reported already.
          .filter((variable) => !isSet(variable) && !isSet(`${variable}_FILE`))
          .map((variable) => {
            const fromFile = (SECRET_VARIABLES as readonly string[]).includes(variable) ? ` (or ${variable}_FILE)` : '';
            return `${variable}: is required when ${urlVariable} is set: set ${variable}${fromFile}`;
          })
      : [],
  );
}

/** Replaces `<NAME>_FILE` by the trimmed contents of that file for each secret variable. */
function resolveSecretFiles(env: EnvironmentLike, readFile: (path: string) => string): { env: EnvironmentLike; problems: string[] } {
  const resolved: EnvironmentLike = { ...env };
  const problems: string[] = [];
  for (const name of SECRET_VARIABLES) {
    const file = env[`${name}_FILE`]?.trim();
    if (!file) continue;
    if (env[name]?.trim()) {
      problems.push(`${name}: both ${name} and ${name}_FILE are set: keep one`);
      continue;
    }
    try {
      resolved[name] = readFile(file).trim();
    } catch (error) {
      problems.push(`${name}_FILE: ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}): fix the path or the file's permissions`);
      continue;
    }
    if (resolved[name] === '') problems.push(`${name}_FILE: ${file} is empty: put the secret in it`);
  }
  return { env: resolved, problems };
}

function toConfig(env: ParsedEnvironment): ConnectorsConfig {
  const config: ConnectorsConfig = { timeoutMs: env.JML_CONNECTOR_TIMEOUT_MS };
  if (env.ROCKETCHAT_URL) {
    config.rocketchat = {
      baseUrl: env.ROCKETCHAT_URL,
      userId: env.ROCKETCHAT_USER_ID!,
      authToken: env.ROCKETCHAT_AUTH_TOKEN!,
      lookup: env.ROCKETCHAT_LOOKUP,
      confirmRelinquish: env.ROCKETCHAT_CONFIRM_RELINQUISH,
    };
  }
  if (env.MENDIX_URL) {
    config.mendix = {
      deactivationBaseUrl: env.MENDIX_URL,
      // The identifier API lives on another host in production; the simulator serves both.
      identifierBaseUrl: env.MENDIX_IDENTIFIER_URL ?? env.MENDIX_URL,
      pat: env.MENDIX_PAT!,
      identifierPat: env.MENDIX_IDENTIFIER_PAT ?? env.MENDIX_PAT!,
      emailAttribute: env.MENDIX_EMAIL_ATTRIBUTE,
    };
  }
  if (env.USERAPI_URL) {
    config.userapi = {
      baseUrl: env.USERAPI_URL,
      apiKey: env.USERAPI_API_KEY!,
      authToken: env.USERAPI_TOKEN!,
      idAttribute: env.USERAPI_ID_ATTRIBUTE,
    };
  }
  return config;
}

export function parseConnectorsConfig(
  env: EnvironmentLike,
  options: { readFile?: (path: string) => string } = {},
): ConnectorsConfig {
  const { env: resolved, problems } = resolveSecretFiles(env, options.readFile ?? ((path) => readFileSync(path, 'utf8')));
  problems.push(...missingVariables(resolved));
  const result = environmentSchema.safeParse(resolved);
  if (!result.success) {
    // zod's own messages here never include the input, and ours name only variables and paths.
    problems.push(...result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  if (problems.length > 0 || !result.success) {
    throw new ConnectorConfigError(`Invalid connector configuration:\n${problems.map((line) => `  ${line}`).join('\n')}`);
  }
  return toConfig(result.data);
}

export interface Connectors {
  rocketchat?: RocketChatConnector;
  mendix?: Connector;
  userapi?: Connector;
}

/** Test and benchmark hooks; production passes nothing. */
export interface ConnectorDependencies {
  now?: () => number;
  logger?: Logger;
}

/** One connector per configured system; a system without a base URL is left out. */
export function createConnectors(config: ConnectorsConfig, dependencies: ConnectorDependencies = {}): Connectors {
  const common = { timeoutMs: config.timeoutMs, ...dependencies };
  const connectors: Connectors = {};
  if (config.rocketchat) {
    const { lookup, ...rocketchat } = config.rocketchat;
    connectors.rocketchat = createRocketChatConnector({
      ...common,
      ...rocketchat,
      lookup: { key: lookup.key, valueOf: identityAttributeReader(lookup.attribute), setting: `ROCKETCHAT_LOOKUP=${lookup.key}:${describeIdentityAttribute(lookup.attribute)}`, attribute: describeIdentityAttribute(lookup.attribute) },
    });
  }
  if (config.mendix) {
    const { emailAttribute, ...mendix } = config.mendix;
    connectors.mendix = createMendixConnector({
      ...common,
      ...mendix,
      emailOf: identityAttributeReader(emailAttribute),
      lookup: `MENDIX_EMAIL_ATTRIBUTE=${describeIdentityAttribute(emailAttribute)}`,
    });
  }
  if (config.userapi) {
    const { idAttribute, ...userapi } = config.userapi;
    connectors.userapi = createUserApiConnector({
      ...common,
      ...userapi,
      accountIdOf: identityAttributeReader(idAttribute),
      lookup: `USERAPI_ID_ATTRIBUTE=${describeIdentityAttribute(idAttribute)}`,
      lookupAttribute: describeIdentityAttribute(idAttribute),
    });
  }
  return connectors;
}
