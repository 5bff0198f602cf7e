// The one logger. Secrets never reach it: credentials are redacted by path as a second guard.
import { pino } from 'pino';

export const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
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
});

export type Logger = typeof logger;
