// S3ObjectStore against moto (through a fault-injecting proxy): keys, SSE-KMS, presigned links, 5xx retries.
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../bot/aws/s3.js';
import { FaultProxy } from './fault-proxy.js';
import { REGION, createResources, useDummyCredentials, useMoto, type AwsResources, type Moto } from './moto.js';

describe('S3ObjectStore', () => {
  let moto: Moto;
  let proxy: FaultProxy;
  let res: AwsResources;
  let s3: S3Client;
  let raw: S3Client;
  let store: S3ObjectStore;

  beforeAll(async () => {
    useDummyCredentials();
    moto = await useMoto();
    res = await createResources(moto.url, 's3');
    proxy = new FaultProxy(moto.url);
    await proxy.start();
    s3 = new S3Client({ region: REGION, endpoint: proxy.url, forcePathStyle: true });
    raw = new S3Client({ region: REGION, endpoint: moto.url, forcePathStyle: true });
    store = new S3ObjectStore({ s3, inputBucket: res.inputBucket, outputBucket: res.outputBucket, kmsKeyId: 'alias/videobot' });
  });
  afterAll(async () => {
    s3?.destroy();
    raw?.destroy();
    await proxy?.stop();
    await moto?.stop();
  });

  it('writes inputs under jobs/<id>/input/ with SSE-KMS and reads them back', async () => {
    await store.putInput('job1', 'job.json', new TextEncoder().encode('{"id":"job1"}'));
    const head = await raw.send(new HeadObjectCommand({ Bucket: res.inputBucket, Key: 'jobs/job1/input/job.json' }));
    expect(head.ServerSideEncryption).toBe('aws:kms');
    expect(head.SSEKMSKeyId).toContain('alias/videobot');
    expect(head.ContentType).toBe('application/json');
    expect(new TextDecoder().decode(await store.getInput('job1', 'job.json'))).toBe('{"id":"job1"}');
    expect(store.inputUri('job1')).toBe(`s3://${res.inputBucket}/jobs/job1/input/`);
  });

  it('answers undefined for missing objects and refuses unsafe names', async () => {
    expect(await store.getOutput('nope', 'video.mp4')).toBeUndefined();
    expect(await store.statOutput('nope', 'video.mp4')).toBeUndefined();
    expect(await store.outputLink('nope', 'video.mp4', 60)).toBeUndefined();
    await expect(store.putInput('job1', '../escape', new Uint8Array())).rejects.toThrow(/unsafe/);
  });

  it('gives a presigned GET link that downloads the output until it expires', async () => {
    await putOutput('job2', 'video.mp4', new Uint8Array([1, 2, 3, 4, 5]));
    expect(await store.statOutput('job2', 'video.mp4')).toBe(5);
    const link = await store.outputLink('job2', 'video.mp4', 900);
    const url = new URL(link!);
    expect(url.pathname).toBe(`/${res.outputBucket}/jobs/job2/output/video.mp4`);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    const r = await fetch(link!);
    expect(r.status).toBe(200);
    expect(new Uint8Array(await r.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3, 4, 5]));
    // SigV4 caps presigned links at 7 days.
    expect(new URL((await store.outputLink('job2', 'video.mp4', 10 ** 7))!).searchParams.get('X-Amz-Expires')).toBe('604800');
  });

  it('retries a read that fails with a 5xx', async () => {
    await putOutput('job3', 'metadata.json', new TextEncoder().encode('{"ok":true}'));
    proxy.failNext('GET', '/jobs/job3/output/metadata.json', 2, 500);
    const before = proxy.seen.length;
    expect(await store.getOutputJson('job3', 'metadata.json')).toEqual({ ok: true });
    const attempts = proxy.seen.slice(before).filter((s) => s.path.includes('job3'));
    expect(attempts.map((a) => a.status)).toEqual([500, 500, 200]);
  });

  it('clears a job\'s outputs before a retried attempt', async () => {
    await putOutput('job4', 'progress.json', '{}');
    await putOutput('job4', 'error.json', '{}');
    await putOutput('job40', 'video.mp4', 'other job');
    expect(await store.clearOutputs('job4')).toBe(2);
    expect(await store.getOutput('job4', 'error.json')).toBeUndefined();
    expect(await store.statOutput('job40', 'video.mp4')).toBe(9);
  });

  async function putOutput(jobId: string, name: string, data: Uint8Array | string): Promise<void> {
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    await raw.send(new PutObjectCommand({ Bucket: res.outputBucket, Key: `jobs/${jobId}/output/${name}`, Body: data }));
  }
});
