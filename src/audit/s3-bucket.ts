// The three S3 calls checkpoint publishing needs (docs/decisions/045-s3-checkpoints.md), against
// AWS S3 or any S3-compatible store: a PutObject that never replaces an object, GetObject, and
// ListObjectsV2. Requests are signed with AWS Signature Version 4 by aws4fetch (zero dependencies);
// S3's XML answers are read by fast-xml-parser (the parser the AWS SDK itself uses), with a size cap.
import { createHash } from 'node:crypto';
import type { AwsClient } from 'aws4fetch';
import type { XMLParser } from 'fast-xml-parser';
import { readCapped, ResponseTooLarge } from '../connectors/http.js';

export interface S3BucketOptions {
  /** The service endpoint (`https://s3.eu-west-1.amazonaws.com`, `http://minio:9000`), or the bucket's own virtual-hosted URL. */
  endpoint: string;
  /** Addressed path-style, `<endpoint>/<bucket>/<key>`; absent when `endpoint` already names the bucket. */
  bucket?: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  timeoutMs?: number;
}

/** An S3 error answer: `code` is S3's error code (`SignatureDoesNotMatch`, `NoSuchBucket`...). */
export class S3Error extends Error {
  override readonly name = 'S3Error';
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** The largest answer read: a page of ListObjectsV2 (1,000 keys) is about 300 KiB. */
const MAX_ANSWER_BYTES = 2 * 1024 * 1024;

/**
 * The signer and the parser, loaded at the first request rather than with the module: `jml audit
 * verify` imports this file with or without a bucket configured, and the two packages cost about
 * 0.1 s of CPU to load (issue 17: the CLI answers in about a second).
 */
async function loadTools(options: S3BucketOptions): Promise<{ client: AwsClient; xml: XMLParser }> {
  const [{ AwsClient }, { XMLParser }] = await Promise.all([import('aws4fetch'), import('fast-xml-parser')]);
  return {
    // aws4fetch retries 5xx and 429 itself by default; the checkpointer's next pass is the retry.
    client: new AwsClient({ accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey, service: 's3', region: options.region, retries: 0 }),
    xml: new XMLParser({ parseTagValue: false, isArray: (name) => name === 'Contents' }),
  };
}

/** What each S3 error code most likely means here, so the log line says what to change. */
const HINTS: Record<string, string> = {
  SignatureDoesNotMatch: 'the secret access key is wrong (JML_CHECKPOINT_S3_SECRET_ACCESS_KEY)',
  InvalidAccessKeyId: 'the access key id is unknown to the store (JML_CHECKPOINT_S3_ACCESS_KEY_ID)',
  AccessDenied: 'the credentials may not do this: the checkpoint writer needs s3:PutObject, GetObject and ListBucket on the prefix',
  NoSuchBucket: 'the bucket does not exist (JML_CHECKPOINT_S3_BUCKET)',
  AuthorizationHeaderMalformed: 'the region is wrong (JML_CHECKPOINT_S3_REGION)',
  RequestTimeTooSkewed: "this machine's clock is off by more than 15 minutes",
};

export class S3Bucket {
  private tools: Promise<{ client: AwsClient; xml: XMLParser }> | undefined;
  private readonly base: string;

  constructor(private readonly options: S3BucketOptions) {
    const endpoint = options.endpoint.replace(/\/+$/, '');
    this.base = options.bucket ? `${endpoint}/${encodeURIComponent(options.bucket)}` : endpoint;
  }

  /** `s3://bucket/` (or the bucket URL), for messages. */
  get description(): string {
    return this.options.bucket ? `s3://${this.options.bucket}/` : `${this.base}/`;
  }

  private objectUrl(key: string): string {
    return `${this.base}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  private async send(what: string, url: string, init: RequestInit & { body?: string }): Promise<{ status: number; text: string; xml: XMLParser }> {
    this.tools ??= loadTools(this.options);
    const { client, xml } = await this.tools;
    // The payload's hash is signed too (not UNSIGNED-PAYLOAD): a proxy cannot change the body.
    const headers = new Headers(init.headers);
    headers.set('x-amz-content-sha256', createHash('sha256').update(init.body ?? '').digest('hex'));
    let response: Response;
    try {
      response = await client.fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000) });
    } catch (error) {
      const reason = error instanceof Error && error.name === 'TimeoutError' ? 'no answer in time' : ((error as { cause?: { code?: string } }).cause?.code ?? String(error));
      throw new S3Error(`${what}: ${this.base} could not be reached (${reason}): check JML_CHECKPOINT_S3_URL and that the store is up`, 0, undefined);
    }
    let text: string;
    try {
      text = await readCapped(response, MAX_ANSWER_BYTES);
    } catch (error) {
      if (!(error instanceof ResponseTooLarge)) throw error;
      throw new S3Error(`${what}: the store answered ${response.status} with ${error.message}, over jml's limit`, response.status, undefined);
    }
    return { status: response.status, text, xml };
  }

  private failure(what: string, { status, text, xml }: { status: number; text: string; xml: XMLParser }): S3Error {
    let code: string | undefined;
    let message: string | undefined;
    try {
      const parsed = xml.parse(text) as { Error?: { Code?: string; Message?: string } };
      code = parsed.Error?.Code;
      message = parsed.Error?.Message;
    } catch {
      // Not XML (a proxy's page): the status says enough.
    }
    const hint = code ? HINTS[code] : undefined;
    return new S3Error(`${what}: the store answered ${status}${code ? ` ${code}` : ''}${message ? ` (${message.slice(0, 200)})` : ''}${hint ? `: ${hint}` : ''}`, status, code);
  }

  /**
   * Creates the object only if no object has that key: `If-None-Match: *` makes S3 (since 2024)
   * and most S3-compatible stores answer 412 instead of replacing it. 'exists' on 412.
   */
  async putIfAbsent(key: string, body: string, contentType = 'text/plain; charset=utf-8'): Promise<'created' | 'exists'> {
    const what = `PutObject ${this.description}${key}`;
    const answer = await this.send(what, this.objectUrl(key), { method: 'PUT', headers: { 'if-none-match': '*', 'content-type': contentType }, body });
    if (answer.status === 412) return 'exists';
    if (answer.status < 200 || answer.status > 299) throw this.failure(what, answer);
    return 'created';
  }

  /** The object's text, or null when there is none. */
  async get(key: string): Promise<string | null> {
    const what = `GetObject ${this.description}${key}`;
    const answer = await this.send(what, this.objectUrl(key), { method: 'GET' });
    if (answer.status === 404) return null;
    if (answer.status !== 200) throw this.failure(what, answer);
    return answer.text;
  }

  /** Every key under `prefix` (ListObjectsV2, a page of up to 1,000 at a time). */
  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const query = new URLSearchParams({ 'list-type': '2', prefix, ...(token ? { 'continuation-token': token } : {}) });
      const what = `ListObjectsV2 ${this.description}${prefix}`;
      const answer = await this.send(what, `${this.base}?${query.toString()}`, { method: 'GET' });
      const { status, text, xml } = answer;
      if (status !== 200) throw this.failure(what, answer);
      const page = (xml.parse(text) as { ListBucketResult?: { Contents?: { Key?: string }[]; IsTruncated?: string; NextContinuationToken?: string } }).ListBucketResult;
      if (!page) throw new S3Error(`${what}: the answer is not a ListBucketResult`, status, undefined);
      for (const item of page.Contents ?? []) if (item.Key !== undefined) keys.push(String(item.Key));
      token = page.IsTruncated === 'true' ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }
}
