// The options jml connects to Temporal with: plain for the dev server, TLS, mTLS and API keys for
// clusters that need them (Temporal Cloud). The connection itself is the SDK's; what is tested is
// that each setting reaches it, and that half-configured TLS is refused at start-up.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseEnvironment } from '../../src/config.js';
import { temporalConnectionOptions } from '../../src/temporal/connection.js';

const files: Record<string, string> = {
  '/secrets/client.pem': 'CERTIFICATE',
  '/secrets/client.key': 'PRIVATE KEY',
  '/secrets/ca.pem': 'CA CERTIFICATE',
};
const read = (file: string) => {
  if (!(file in files)) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
  return Buffer.from(files[file]!);
};
const optionsFor = (env: Record<string, string>) => temporalConnectionOptions('ns.acct.tmprl.cloud:7233', parseEnvironment(env), read);

describe('Temporal connection options', () => {
  it('connects in plain gRPC when nothing asks for TLS', () => {
    expect(optionsFor({})).toEqual({ address: 'ns.acct.tmprl.cloud:7233' });
  });

  it('uses TLS with the system CAs for TEMPORAL_TLS=true', () => {
    expect(optionsFor({ TEMPORAL_TLS: 'true' })).toEqual({ address: 'ns.acct.tmprl.cloud:7233', tls: true });
  });

  it('sends an API key only over TLS', () => {
    expect(optionsFor({ TEMPORAL_API_KEY: 'key-123' })).toEqual({ address: 'ns.acct.tmprl.cloud:7233', tls: true, apiKey: 'key-123' });
  });

  it('reads a client certificate pair, a CA and a server name for mTLS', () => {
    const options = optionsFor({
      TEMPORAL_TLS_CERT: '/secrets/client.pem',
      TEMPORAL_TLS_KEY: '/secrets/client.key',
      TEMPORAL_TLS_CA: '/secrets/ca.pem',
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    });
    expect(options.tls).toEqual({
      clientCertPair: { crt: Buffer.from('CERTIFICATE'), key: Buffer.from('PRIVATE KEY') },
      serverRootCACertificate: Buffer.from('CA CERTIFICATE'),
      serverNameOverride: 'temporal.internal',
    });
    expect(options.apiKey).toBeUndefined();
  });

  it('refuses a certificate without its key, and names an unreadable file without its contents', () => {
    expect(() => optionsFor({ TEMPORAL_TLS_CERT: '/secrets/client.pem' })).toThrow(/TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together/);
    expect(() => optionsFor({ TEMPORAL_TLS_CERT: '/secrets/client.pem', TEMPORAL_TLS_KEY: '/secrets/nope.key' })).toThrow(ConfigError);
    expect(() => optionsFor({ TEMPORAL_TLS_CERT: '/secrets/client.pem', TEMPORAL_TLS_KEY: '/secrets/nope.key' })).toThrow('TEMPORAL_TLS_KEY=/secrets/nope.key cannot be read (ENOENT).');
  });
});
