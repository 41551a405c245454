// Every client of the AWS backend goes to AWS_ENDPOINT_URL and signs for the configured region.
import { createServer as createHttp1Server, type IncomingMessage, type Server as Http1Server } from 'node:http';
import { createServer as createHttp2Server, type Http2Server, type Http2ServerRequest } from 'node:http2';
import { connect, createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAwsBackend } from '../../bot/aws/backend.js';
import { loadConfig } from '../../bot/config.js';
import { awsSettings } from '../../bot/main.js';
import { sampleJob } from '../support/fixtures.js';
import { testLogger } from '../support/harness.js';
import { useDummyCredentials } from './moto.js';

interface Seen {
  readonly service: string;
  readonly region: string;
  readonly host: string;
  readonly path: string;
}

/** SigV4: `Credential=<key>/<date>/<region>/<service>/aws4_request`. */
function scope(req: IncomingMessage | Http2ServerRequest): { region: string; service: string } {
  const m = /Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(req.headers.authorization ?? '');
  return { region: m?.[1] ?? '?', service: m?.[2] ?? '?' };
}

describe('AWS clients', () => {
  let server: Server;
  let http1: Http1Server;
  let http2: Http2Server;
  let url: string;
  const seen: Seen[] = [];

  beforeAll(async () => {
    useDummyCredentials();
    const record = (req: IncomingMessage | Http2ServerRequest, res: { writeHead(s: number, h: Record<string, string>): { end(b: string): void } }) => {
      req.resume();
      req.on('end', () => {
        seen.push({ ...scope(req), host: String(req.headers.host ?? req.headers[':authority'] ?? ''), path: req.url ?? '' });
        // A plain 404 everywhere: S3 reads it as a missing object, the JSON services as an error the test ignores.
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"__type":"ResourceNotFound","message":"nothing here"}');
      });
    };
    // One port, both protocols, like a real endpoint: Bedrock Runtime's client speaks HTTP/2 (h2c here), the
    // others HTTP/1.1. The HTTP/2 server reads its socket natively, so its connections are piped to its own port.
    http1 = createHttp1Server(record);
    http2 = createHttp2Server(record);
    await new Promise<void>((r) => http2.listen(0, '127.0.0.1', r));
    const http2Port = (http2.address() as AddressInfo).port;
    server = createTcpServer((socket) => {
      socket.once('data', (head) => {
        if (head.subarray(0, 3).toString('latin1') !== 'PRI') {
          socket.unshift(head);
          http1.emit('connection', socket);
          return;
        }
        const upstream = connect(http2Port, '127.0.0.1', () => {
          upstream.write(head);
          socket.pipe(upstream).pipe(socket);
        });
        const close = () => {
          socket.destroy();
          upstream.destroy();
        };
        socket.on('error', close).on('close', close);
        upstream.on('error', close).on('close', close);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    http1.close();
    await new Promise((r) => http2.close(r));
  });

  /** The AWS backend's required settings, every endpoint pointed at the loopback server. */
  const awsEnv = (region: string) => ({
    VIDEOBOT_BACKEND: 'aws',
    AWS_REGION: region,
    AWS_ENDPOINT_URL: url,
    VIDEOBOT_INPUT_BUCKET: 'in-bucket',
    VIDEOBOT_OUTPUT_BUCKET: 'out-bucket',
    VIDEOBOT_JOB_TABLE: 'jobs',
    VIDEOBOT_EVENTS_QUEUE_URL: `${url}/123456789012/events`,
    VIDEOBOT_MODEL_CACHE_URI: 's3://models-bucket/models/',
    SAGEMAKER_ROLE_ARN: 'arn:aws:iam::123456789012:role/p',
    SAGEMAKER_IMAGE_URI: 'img:1',
  });

  it('honour AWS_ENDPOINT_URL and the region from config, with no per-service endpoints', async () => {
    const config = loadConfig({
      ...awsEnv('eu-west-2'),
      VIDEOBOT_ENHANCER: 'bedrock',
    });
    const backend = createAwsBackend(awsSettings(config), testLogger(), { maxAttempts: 1 });
    try {
      expect(await backend.objects.getOutput('j1', 'progress.json')).toBeUndefined();
      await expect(backend.store.get('j1')).rejects.toThrow();
      await expect(backend.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: config.VIDEOBOT_EVENTS_QUEUE_URL, WaitTimeSeconds: 0 }))).rejects.toThrow();
      expect(await backend.runner.describe(sampleJob('j1', { state: 'running', attempts: 1, runnerRef: 'videobot-j1' }))).toEqual({ status: 'unknown' });
      await expect(backend.enhancer!.enhance('a bee')).rejects.toThrow();
      const link = await backend.objects.outputLink('j1', 'video.mp4', 60);
      expect(link).toBeUndefined(); // missing object: no link

      const host = new URL(url).host;
      expect(seen.every((s) => s.host === host)).toBe(true);
      expect(seen.every((s) => s.region === 'eu-west-2')).toBe(true);
      expect([...new Set(seen.map((s) => s.service))].sort()).toEqual(['bedrock', 'dynamodb', 's3', 'sagemaker', 'sqs']);
      // A custom endpoint gets path-style bucket addressing (moto, LocalStack and MinIO rarely serve virtual hosts).
      expect(seen.filter((s) => s.service === 's3').map((s) => s.path.split('?')[0])).toContain('/out-bucket/jobs/j1/output/progress.json');
    } finally {
      await backend.close();
    }
  });

  it('presign links against the same endpoint and region', async () => {
    const config = loadConfig({
      ...awsEnv('ap-southeast-2'),
    });
    const backend = createAwsBackend(awsSettings(config), testLogger(), { maxAttempts: 1 });
    try {
      const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
      const { GetObjectCommand } = await import('@aws-sdk/client-s3');
      const link = new URL(await getSignedUrl(backend.clients.s3, new GetObjectCommand({ Bucket: 'out-bucket', Key: 'jobs/j1/output/video.mp4' }), { expiresIn: 60 }));
      expect(link.origin).toBe(new URL(url).origin);
      expect(link.pathname).toBe('/out-bucket/jobs/j1/output/video.mp4');
      expect(link.searchParams.get('X-Amz-Credential')).toMatch(/\/ap-southeast-2\/s3\/aws4_request$/);
    } finally {
      await backend.close();
    }
  });
});
