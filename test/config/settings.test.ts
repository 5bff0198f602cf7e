// The settings an admin reads (GET /api/settings, /ui/admin): effective values with defaults, never
// a secret. A variable whose name says it holds a credential must be in SECRET_VARIABLES.
import { describe, expect, it } from 'vitest';
import { environmentSchema, parseEnvironment, publicSettings, SECRET_VARIABLES } from '../../src/config.js';

/** Names that look like credentials and are not: a cache's lifetime, a public verifier key. */
const NOT_SECRETS = new Set(['JML_TOKEN_CACHE_MS', 'JML_CHECKPOINT_PUBLIC_KEY']);

describe('publicSettings', () => {
  it('counts every variable named like a credential as a secret', () => {
    const credentialLike = Object.keys(environmentSchema.shape).filter((name) => /TOKEN|SECRET|KEY|PASSWORD/.test(name) && !NOT_SECRETS.has(name));
    expect(credentialLike.length).toBeGreaterThan(5);
    expect(credentialLike.filter((name) => !SECRET_VARIABLES.has(name as never))).toEqual([]);
  });

  it('shows every variable with its effective value, secrets only as set or not, and no password in a URL', () => {
    const marker = 'S3CR3T-marker-value-0123456789abcdef0123456789';
    const env = parseEnvironment({
      DATABASE_URL: `postgresql://jml_app:${marker}@db.example:5432/jml`,
      JML_MIGRATE_DATABASE_URL: `postgresql://jml_owner:${marker}@db.example:5432/jml`,
      JML_CHECKPOINT_URL: `https://witness:${marker}@witness.example/checkpoints`,
      JML_SCIM_TOKEN: marker,
      JML_METRICS_TOKEN: marker,
      JML_HR_WEBHOOK_SECRET: marker,
      JML_CHECKPOINT_KEY: `PRIVATE+KEY+jml+00000000+${marker}`,
      JML_CHECKPOINT_HTTP_TOKEN: marker,
      JML_CHECKPOINT_S3_URL: 'http://minio.example:9000',
      JML_CHECKPOINT_S3_ACCESS_KEY_ID: marker,
      JML_CHECKPOINT_S3_SECRET_ACCESS_KEY: marker,
      TEMPORAL_API_KEY: marker,
      JML_APPROVALS_REQUIRED: '2',
    });
    const settings = publicSettings(env);
    expect(JSON.stringify(settings)).not.toContain(marker);
    expect(Object.keys(settings).sort()).toEqual(Object.keys(environmentSchema.shape).sort());
    expect(settings.JML_SCIM_TOKEN).toEqual({ secret: true, set: true });
    expect(settings.TEMPORAL_TLS_KEY).toEqual({ secret: true, set: false });
    expect(settings.DATABASE_URL).toBe('postgresql://redacted:redacted@db.example:5432/jml');
    expect(settings.JML_CHECKPOINT_URL).toBe('https://redacted:redacted@witness.example/checkpoints');
    expect(settings.JML_APPROVALS_REQUIRED).toBe(2);
    expect(settings.JML_SHUTDOWN_TIMEOUT_MS).toBe(25_000);
    expect(settings.JML_POLICY_FILE).toBeNull();
  });
});
