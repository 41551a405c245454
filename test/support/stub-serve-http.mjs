// A stand-in for the resident worker behind an asynchronous endpoint (processing/serve_http.py) that speaks its HTTP
// and S3 contract without torch, for the async runner's lifecycle tests:
//   GET  /ping          200 {"healthy": true}
//   POST /invocations   {"job_id", "attempt", "input": "s3://…/", "output": "s3://…/"}: one at a time. "done-before" when
//                       the output already holds metadata.json or error.json, "cancelled" when it holds the `cancel`
//                       marker; else the input prefix is copied to a local folder and run through the stub job
//                       (stub-job.mjs runJob: its files and its cues in the prompt, e.g. stub:hold, stub:fail=CODE),
//                       progress.json is put into the output at every phase and at most every --progress-interval s
//                       within one, then video.mp4, poster.jpg, metadata.json (last) or error.json, and progress.json.
//                       The cancel marker is looked for every --cancel-poll s and stops the job at its next step.
//                       Answer 200 {"job_id", "attempt", "output", "status": completed|failed|cancelled, "resident"};
//                       400 {"error"} for a body that is not a job request; 500 when S3 failed it.
// `stub:hold` waits for an object `<output>release` (copied into the local output folder, where the job looks).
// Flags: --host, --port, --progress-interval, --cancel-poll (the others serve-http takes are accepted and ignored).
// S3 goes to AWS_ENDPOINT_URL (moto), with path-style addressing, as boto3 does there.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Cancelled, runJob } from './stub-job.mjs';

const CANCEL_MARKER = 'cancel';
const RELEASE_MARKER = 'release';
const RESULT_ORDER = ['video.mp4', 'poster.jpg', 'metadata.json', 'error.json'];
const CONTENT_TYPES = { '.json': 'application/json', '.mp4': 'video/mp4', '.jpg': 'image/jpeg' };
const MAX_REQUEST_BYTES = 64 * 1024;

class BadRequest extends Error {}

function flag(argv, name, fallback) {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : fallback;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parsePrefix(uri, field) {
  if (typeof uri !== 'string' || !uri.startsWith('s3://')) throw new BadRequest(`'${field}' must be an s3:// prefix`);
  const rest = uri.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const key = slash < 0 ? '' : rest.slice(slash + 1);
  if (!bucket || !key) throw new BadRequest(`'${field}' must name a bucket and a prefix`);
  return { bucket, key: key.endsWith('/') ? key : `${key}/` };
}

/** processing/serve_http.py Invocation.parse, sentence for sentence. */
function parseInvocation(body) {
  let raw;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    throw new BadRequest('the request must be a JSON object');
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new BadRequest('the request must be a JSON object');
  const { job_id: jobId, attempt = 1 } = raw;
  if (typeof jobId !== 'string' || !jobId || jobId.includes('/')) throw new BadRequest("'job_id' must be a job id");
  if (!Number.isInteger(attempt) || attempt < 1) throw new BadRequest("'attempt' must be a positive whole number");
  return { jobId, attempt, input: parsePrefix(raw.input, 'input'), output: parsePrefix(raw.output, 'output') };
}

const uriOf = (prefix) => `s3://${prefix.bucket}/${prefix.key}`;

class S3Folder {
  constructor(s3, prefix) {
    this.s3 = s3;
    this.prefix = prefix;
  }

  async downloadTo(folder) {
    const listed = await this.s3.send(new ListObjectsV2Command({ Bucket: this.prefix.bucket, Prefix: this.prefix.key }));
    for (const item of listed.Contents ?? []) {
      const name = item.Key.slice(this.prefix.key.length);
      if (!name || name.includes('/')) continue; // only the job's own files
      const object = await this.s3.send(new GetObjectCommand({ Bucket: this.prefix.bucket, Key: item.Key }));
      writeFileSync(join(folder, name), await object.Body.transformToByteArray());
    }
  }

  async put(name, body) {
    const type = CONTENT_TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream';
    await this.s3.send(new PutObjectCommand({ Bucket: this.prefix.bucket, Key: this.prefix.key + name, Body: body, ContentType: type }));
  }

  async exists(name) {
    try {
      await this.s3.send(new HeadObjectCommand({ Bucket: this.prefix.bucket, Key: this.prefix.key + name }));
      return true;
    } catch (err) {
      if (err?.$metadata?.httpStatusCode === 404) return false;
      throw err;
    }
  }
}

function createStubWorker({ s3, progressIntervalS, cancelPollS }) {
  let queue = Promise.resolve();
  let jobsRun = 0;

  async function run(invocation) {
    const output = new S3Folder(s3, invocation.output);
    const answer = { job_id: invocation.jobId, attempt: invocation.attempt, output: uriOf(invocation.output) };
    if ((await output.exists('metadata.json')) || (await output.exists('error.json'))) return [200, { ...answer, status: 'done-before' }];
    if (await output.exists(CANCEL_MARKER)) return [200, { ...answer, status: 'cancelled' }];
    const folder = mkdtempSync(join(tmpdir(), `stub-endpoint-job-${invocation.jobId.slice(0, 40)}-`));
    const localIn = join(folder, 'input');
    const localOut = join(folder, 'output');
    mkdirSync(localIn);
    mkdirSync(localOut);
    let cancelled = false;
    let watching = true;
    // The cancel watch (and the release marker of stub:hold), as serve_http.py's CancelWatch thread.
    const watch = (async () => {
      while (watching && !cancelled) {
        await sleep(cancelPollS * 1000);
        try {
          if (await output.exists(CANCEL_MARKER)) cancelled = true;
          if (!existsSync(join(localOut, RELEASE_MARKER)) && (await output.exists(RELEASE_MARKER))) writeFileSync(join(localOut, RELEASE_MARKER), '');
        } catch {
          /* an S3 hiccup: look again next time */
        }
      }
    })();
    // progress.json at every phase change and at most every progressIntervalS within a phase (ProgressUploader); a
    // step held back goes up when the interval ends, so a job held by stub:hold shows the step it holds at.
    let uploads = Promise.resolve();
    let lastPhase;
    let lastAt = -Infinity;
    let trailing;
    const upload = () => {
      clearTimeout(trailing);
      trailing = undefined;
      lastAt = performance.now() / 1000;
      const body = readFileSync(join(localOut, 'progress.json'));
      uploads = uploads.then(() => output.put('progress.json', body)).catch(() => {}); // best effort, as the real one
    };
    const observe = (payload) => {
      const waited = performance.now() / 1000 - lastAt;
      if (payload.phase !== lastPhase || waited >= progressIntervalS) {
        lastPhase = payload.phase;
        upload();
      } else {
        trailing ??= setTimeout(upload, (progressIntervalS - waited) * 1000);
      }
    };
    try {
      await new S3Folder(s3, invocation.input).downloadTo(localIn);
      let status;
      try {
        const code = await runJob(localIn, localOut, () => cancelled, observe);
        status = code === 0 ? 'completed' : 'failed';
      } catch (err) {
        if (!(err instanceof Cancelled)) throw err;
        status = 'cancelled';
      } finally {
        watching = false;
        clearTimeout(trailing);
        await watch;
        await uploads;
      }
      for (const name of [...RESULT_ORDER, 'progress.json']) {
        if (existsSync(join(localOut, name))) await output.put(name, readFileSync(join(localOut, name)));
      }
      const resident = jobsRun > 0;
      jobsRun += 1;
      return [200, { ...answer, status, resident }];
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  }

  /** One invocation at a time (MaxConcurrentInvocationsPerInstance = 1): a second waits its turn. */
  function invoke(body) {
    let invocation;
    try {
      invocation = parseInvocation(body);
    } catch (err) {
      if (err instanceof BadRequest) return Promise.resolve([400, { error: err.message }]);
      throw err;
    }
    const turn = queue.then(() =>
      run(invocation).catch((err) => {
        process.stderr.write(`stub serve-http: job ${invocation.jobId} could not be run through S3: ${err}\n`);
        return [500, { job_id: invocation.jobId, error: err?.name ?? 'Error' }];
      }),
    );
    queue = turn.then(() => {});
    return turn;
  }

  return createServer(async (req, res) => {
    const send = (status, body) => {
      const data = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
      res.end(data);
    };
    const chunks = [];
    let size = 0;
    for await (const chunk of req) {
      size += chunk.length;
      if (size <= MAX_REQUEST_BYTES) chunks.push(chunk);
    }
    if (req.method === 'GET' && req.url === '/ping') return send(200, { healthy: true });
    if (req.method === 'POST' && req.url === '/invocations') {
      if (size > MAX_REQUEST_BYTES) return send(413, { error: 'the request is too large' });
      const [status, body] = await invoke(Buffer.concat(chunks));
      return send(status, body);
    }
    return send(404, { error: 'not found' });
  });
}

// Flags only: `-m processing serve|serve-http` before them (the real worker's command line) is accepted too.
const argv = process.argv.slice(2);
while (argv.length && !argv[0].startsWith('--')) argv.shift();
const endpoint = process.env.AWS_ENDPOINT_URL;
const s3 = new S3Client({ region: process.env.AWS_DEFAULT_REGION ?? 'us-east-1', ...(endpoint ? { endpoint, forcePathStyle: true } : {}) });
const server = createStubWorker({
  s3,
  progressIntervalS: Number(flag(argv, '--progress-interval', '2')),
  cancelPollS: Number(flag(argv, '--cancel-poll', '2')),
});
server.listen(Number(flag(argv, '--port', '8080')), flag(argv, '--host', '0.0.0.0'));
process.on('SIGTERM', () => process.exit(0));
// A container dies with its endpoint: the stub goes when the process that started it (the fake) is gone.
const parent = process.ppid;
setInterval(() => process.ppid !== parent && process.exit(0), 200).unref();
