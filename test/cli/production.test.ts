// NODE_ENV=production never quietly runs the trial infrastructure: without DATABASE_URL or
// TEMPORAL_ADDRESS, `jml start` stops at once and says which setting is missing.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXIT_CONFIG } from '../../src/config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function startInProduction(settings: Record<string, string>) {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production', JML_DATA_DIR: path.join(root, '.never-created'), ...settings };
  delete env.DATABASE_URL;
  delete env.TEMPORAL_ADDRESS;
  Object.assign(env, settings);
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--role', 'all'], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
}

describe('jml start with NODE_ENV=production', () => {
  it('refuses the Temporal dev server', () => {
    const result = startInProduction({ DATABASE_URL: 'postgresql://jml@127.0.0.1:1/jml' });
    expect(result.status).toBe(EXIT_CONFIG);
    expect(result.stderr).toContain('NODE_ENV=production and TEMPORAL_ADDRESS is not set');
  });

  it('refuses the embedded PostgreSQL', () => {
    const result = startInProduction({ TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(result.status).toBe(EXIT_CONFIG);
    expect(result.stderr).toContain('NODE_ENV=production and DATABASE_URL is not set');
  });
});
