// A real S3-compatible server for the checkpoint tests: versitygw (scripts/s3-server.js) serving a
// temporary folder, on a free loopback port, with one bucket and a random root key pair. It checks
// SigV4 signatures and honours `If-None-Match: *`, so what the tests see is what a store does.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AwsClient } from 'aws4fetch';
import { ensureS3Server } from '../../scripts/s3-server.js';
import { freePort } from '../../src/infra/free-port.js';

export interface S3TestServer {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The folder the bucket is stored in: what an attacker without the store's credentials cannot reach. */
  root: string;
  stop(): Promise<void>;
}

/** Fresh credentials and a bucket name, for a server started now or later (`startS3Server(planned)`). */
export async function planS3Server(): Promise<Omit<S3TestServer, 'root' | 'stop'>> {
  return {
    endpoint: `http://127.0.0.1:${await freePort()}`,
    bucket: `checkpoints-${randomBytes(4).toString('hex')}`,
    region: 'eu-west-1',
    accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(20).toString('base64'),
  };
}

export async function startS3Server(planned?: Omit<S3TestServer, 'root' | 'stop'>): Promise<S3TestServer> {
  const binary = ensureS3Server((line) => process.stderr.write(`[s3-server] ${line}\n`));
  const { endpoint, bucket, region, accessKeyId, secretAccessKey } = planned ?? (await planS3Server());
  const root = await mkdtemp(path.join(tmpdir(), 'jml-s3-'));
  await mkdir(path.join(root, 'meta'));
  await mkdir(path.join(root, 'data'));
  // --sidecar keeps object metadata in files, so the test folder needs no extended attributes.
  const child: ChildProcess = spawn(
    binary,
    ['--port', new URL(endpoint).host, '--access', accessKeyId, '--secret', secretAccessKey, '--region', region, '--quiet', 'posix', '--sidecar', path.join(root, 'meta'), path.join(root, 'data')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const admin = new AwsClient({ accessKeyId, secretAccessKey, service: 's3', region, retries: 0 });
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    await rm(root, { recursive: true, force: true });
  };
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`versitygw exited (${child.exitCode}): ${stderr}`);
    try {
      const response = await admin.fetch(`${endpoint}/${bucket}`, { method: 'PUT' });
      if (response.ok) break;
      throw new Error(`CreateBucket answered ${response.status}: ${await response.text()}`);
    } catch (error) {
      if (attempt >= 100) {
        await stop();
        throw error;
      }
      await sleep(100);
    }
  }
  return { endpoint, bucket, region, accessKeyId, secretAccessKey, root, stop };
}
