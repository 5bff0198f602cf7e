// How jml reaches its Temporal server: plain gRPC for the dev server and a cluster inside the
// network, TLS (optionally with a client certificate) for a cluster that requires it, and an API
// key or mTLS for Temporal Cloud. The client and the workers connect with the same options.
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import { ConfigError, type Environment } from '../config.js';

export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
}

type TlsSettings = Pick<Environment, 'TEMPORAL_TLS' | 'TEMPORAL_TLS_CERT' | 'TEMPORAL_TLS_KEY' | 'TEMPORAL_TLS_CA' | 'TEMPORAL_TLS_SERVER_NAME' | 'TEMPORAL_API_KEY'>;

function readPem(variable: string, file: string, read: (file: string) => Buffer): Buffer {
  try {
    return read(file);
  } catch (error) {
    throw new ConfigError(`${variable}=${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
}

/** The connection options for `address`, read from the TEMPORAL_TLS* and TEMPORAL_API_KEY settings. */
export function temporalConnectionOptions(address: string, env: TlsSettings, read: (file: string) => Buffer = readFileSync): TemporalConnectionOptions {
  if (Boolean(env.TEMPORAL_TLS_CERT) !== Boolean(env.TEMPORAL_TLS_KEY)) {
    throw new ConfigError('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both (a client certificate and its key) or neither.');
  }
  const custom = env.TEMPORAL_TLS_CERT || env.TEMPORAL_TLS_CA || env.TEMPORAL_TLS_SERVER_NAME;
  // An API key travels as a bearer token: never over an unencrypted connection.
  const useTls = env.TEMPORAL_TLS || Boolean(custom) || Boolean(env.TEMPORAL_API_KEY);
  const options: TemporalConnectionOptions = { address };
  if (!useTls) return options;
  if (!custom) {
    options.tls = true;
  } else {
    const tls: TLSConfig = {};
    if (env.TEMPORAL_TLS_CERT && env.TEMPORAL_TLS_KEY) {
      tls.clientCertPair = { crt: readPem('TEMPORAL_TLS_CERT', env.TEMPORAL_TLS_CERT, read), key: readPem('TEMPORAL_TLS_KEY', env.TEMPORAL_TLS_KEY, read) };
    }
    if (env.TEMPORAL_TLS_CA) tls.serverRootCACertificate = readPem('TEMPORAL_TLS_CA', env.TEMPORAL_TLS_CA, read);
    if (env.TEMPORAL_TLS_SERVER_NAME) tls.serverNameOverride = env.TEMPORAL_TLS_SERVER_NAME;
    options.tls = tls;
  }
  if (env.TEMPORAL_API_KEY) options.apiKey = env.TEMPORAL_API_KEY;
  return options;
}
