// ObjectStore on S3: job inputs in the input bucket, results in the output bucket, under jobs/<jobId>/.
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ObjectStore } from '../core/ports.js';
import { awsErrorName, httpStatusOf } from './clients.js';

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** SigV4 presigned URLs live at most seven days. */
const MAX_PRESIGN_SECONDS = 604_800;

const CONTENT_TYPES: Record<string, string> = {
  json: 'application/json',
  mp4: 'video/mp4',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
};

export interface S3ObjectStoreOptions {
  readonly s3: S3Client;
  readonly inputBucket: string;
  readonly outputBucket: string;
  /** VIDEOBOT_KMS_KEY_ID: when set, every write asks for SSE-KMS with this key (the buckets' policy may require it). */
  readonly kmsKeyId?: string;
}

export class S3ObjectStore implements ObjectStore {
  constructor(private readonly options: S3ObjectStoreOptions) {}

  get inputBucket(): string {
    return this.options.inputBucket;
  }

  get outputBucket(): string {
    return this.options.outputBucket;
  }

  inputPrefix(jobId: string): string {
    return `jobs/${safe(jobId)}/input/`;
  }

  outputPrefix(jobId: string): string {
    return `jobs/${safe(jobId)}/output/`;
  }

  /** s3:// URIs of a job's folders, as the processing job's inputs and outputs name them. */
  inputUri(jobId: string): string {
    return `s3://${this.options.inputBucket}/${this.inputPrefix(jobId)}`;
  }

  outputUri(jobId: string): string {
    return `s3://${this.options.outputBucket}/${this.outputPrefix(jobId)}`;
  }

  async putInput(jobId: string, name: string, data: Uint8Array): Promise<void> {
    await this.options.s3.send(
      new PutObjectCommand({
        Bucket: this.options.inputBucket,
        Key: this.inputPrefix(jobId) + safe(name),
        Body: data,
        ContentType: contentType(name),
        ...this.encryption(),
      }),
    );
  }

  getInput(jobId: string, name: string): Promise<Uint8Array | undefined> {
    return this.read(this.options.inputBucket, this.inputPrefix(jobId) + safe(name));
  }

  getOutput(jobId: string, name: string): Promise<Uint8Array | undefined> {
    return this.read(this.options.outputBucket, this.outputPrefix(jobId) + safe(name));
  }

  /** An output parsed as JSON, or undefined when missing or not JSON (a foreign or half-written file). */
  async getOutputJson<T = Record<string, unknown>>(jobId: string, name: string): Promise<T | undefined> {
    const bytes = await this.getOutput(jobId, name);
    if (!bytes) return undefined;
    try {
      return JSON.parse(new TextDecoder().decode(bytes)) as T;
    } catch {
      return undefined;
    }
  }

  async statOutput(jobId: string, name: string): Promise<number | undefined> {
    try {
      const head = await this.options.s3.send(
        new HeadObjectCommand({ Bucket: this.options.outputBucket, Key: this.outputPrefix(jobId) + safe(name) }),
      );
      return head.ContentLength;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async outputLink(jobId: string, name: string, ttlSeconds: number): Promise<string | undefined> {
    if ((await this.statOutput(jobId, name)) === undefined) return undefined;
    const command = new GetObjectCommand({
      Bucket: this.options.outputBucket,
      Key: this.outputPrefix(jobId) + safe(name),
      ResponseContentDisposition: `attachment; filename="videobot-${safe(jobId)}-${safe(name)}"`,
    });
    return getSignedUrl(this.options.s3, command, { expiresIn: Math.min(Math.max(1, Math.floor(ttlSeconds)), MAX_PRESIGN_SECONDS) });
  }

  /** Removes a job's outputs, so a retried attempt never sees the last attempt's progress.json or error.json. */
  async clearOutputs(jobId: string): Promise<number> {
    let removed = 0;
    let token: string | undefined;
    do {
      const page = await this.options.s3.send(
        new ListObjectsV2Command({ Bucket: this.options.outputBucket, Prefix: this.outputPrefix(jobId), ContinuationToken: token }),
      );
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
      if (keys.length > 0) {
        await this.options.s3.send(new DeleteObjectsCommand({ Bucket: this.options.outputBucket, Delete: { Objects: keys, Quiet: true } }));
        removed += keys.length;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return removed;
  }

  private encryption() {
    return this.options.kmsKeyId ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: this.options.kmsKeyId } : {};
  }

  private async read(bucket: string, key: string): Promise<Uint8Array | undefined> {
    try {
      const object = await this.options.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return object.Body ? await object.Body.transformToByteArray() : new Uint8Array();
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }
}

function isMissing(err: unknown): boolean {
  const name = awsErrorName(err);
  return name === 'NoSuchKey' || name === 'NotFound' || httpStatusOf(err) === 404;
}

function safe(name: string): string {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe object name: ${JSON.stringify(name)}`);
  return name;
}

function contentType(name: string): string {
  return CONTENT_TYPES[name.split('.').pop()?.toLowerCase() ?? ''] ?? 'application/octet-stream';
}
