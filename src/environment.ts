// Loads the process environment once: `_FILE` indirections resolved, then validated.
import { readFileSync } from 'node:fs';
import { parseEnvironment, resolveFileVariables, type Environment } from './config.js';

export function loadEnvironment(env: NodeJS.ProcessEnv = process.env): { environment: Environment; raw: NodeJS.ProcessEnv } {
  const raw = resolveFileVariables(env, (file) => readFileSync(file, 'utf8'));
  return { environment: parseEnvironment(raw), raw };
}
