import { describe, expect, it } from 'vitest';
import { serializeError } from '../../src/logger.js';

describe('logged errors', () => {
  it('drop the parts that can hold credentials, at any depth, and keep the rest', () => {
    const cause = Object.assign(new Error('terminating connection'), {
      code: '57P01',
      client: { connectionParameters: { user: 'jml', password: 's3cret-db-password' } },
    });
    const error = Object.assign(new Error('query failed', { cause }), { meta: { connectionString: 'postgresql://jml:s3cret-db-password@db/jml' } });
    const serialized = JSON.stringify(serializeError(error));
    expect(serialized).not.toContain('s3cret-db-password');
    expect(serialized).toContain('query failed');
    expect(serialized).toContain('terminating connection');
    expect(serialized).toContain('57P01');
  });
});
