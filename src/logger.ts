// The one logger. Secrets never reach it: credentials are redacted by path, and errors lose the
// parts that can hold them (a pg error carries its client, whose connection parameters include
// the database password).
import { pino, stdSerializers } from 'pino';

const SECRET_BEARING_KEYS = new Set(['client', 'connectionParameters', 'connectionString', 'config', 'password', 'authorization']);

function withoutSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > 5) return value;
  if (Array.isArray(value)) return value.map((item) => withoutSecrets(item, depth + 1));
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([key]) => !SECRET_BEARING_KEYS.has(key))
      .map(([key, item]) => [key, withoutSecrets(item, depth + 1)]),
  );
}

export function serializeError(error: unknown): unknown {
  return withoutSecrets(error instanceof Error ? stdSerializers.errWithCause(error) : error);
}

/** Where log lines go: standard output, unless something holds them (holdLogs). */
const standardOutput = pino.destination(1);
let held: { write(line: string): unknown } | undefined;

/**
 * Sends log lines to `sink` instead of standard output (undefined: back to standard output). The
 * test setup holds each test's lines and prints them only when that test fails, so the warnings
 * that fault-injection tests provoke on purpose do not read like failures (issue 17).
 */
export function holdLogs(sink: { write(line: string): unknown } | undefined): void {
  held = sink;
}

export const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  serializers: { err: serializeError },
  redact: {
    paths: [
      'authorization',
      '*.authorization',
      'headers.authorization',
      'headers["x-auth-token"]',
      'headers["api-key"]',
      'token',
      '*.token',
      'password',
      '*.password',
    ],
    censor: '[redacted]',
  },
}, { write: (line: string) => (held ?? standardOutput).write(line) });

export type Logger = typeof logger;
