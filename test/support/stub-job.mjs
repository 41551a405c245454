// A stand-in for the processing job that speaks its contract (docs/processing.md) without torch, in milliseconds:
//   node stub-job.mjs run --input-dir IN --output-dir OUT [...]   reads IN/job.json; writes OUT/progress.json,
//                                                                 video.mp4, poster.jpg, metadata.json or error.json
//   node stub-job.mjs serve [...]                                  the NDJSON protocol of processing/serve.py
//   node stub-job.mjs probe                                        {"cuda": false, ...}
// `-m processing` before the command is accepted too, so test/support/stub-python can stand in for VIDEOBOT_PYTHON.
//
// Cues, as words in the job's prompt (they reach the job through every adapter; the runner passes no test env):
//   stub:fail=CODE   error.json with CODE (processing/limits.json), exit with its exit code
//   stub:exit=N      exit N with no result file (a crash)
//   stub:kill        SIGKILL itself mid-run (killed, e.g. out of memory)
//   stub:hold        after the first denoising step, wait until OUT/release exists (cancel, restart, queue tests)
//   stub:deaf        with stub:hold, the hold does not look for a cancel either (a job stuck in a step: the grace kill)
//   stub:step-ms=N   N ms per denoising step (default 10)
// The video and poster are copies of test/fixtures/stub-job/ (96×64, 9 frames, 8 fps, H.264), for an Extend
// (`parent_video`) and a Combine (`mode: combine`) too, once their input files are there: a clip missing from the
// input is INVALID_JOB with processing/extend.py's and combine.py's sentences.
// stub-serve-http.mjs imports runJob and Cancelled (the HTTP worker of an asynchronous endpoint runs the same job).
import { copyFileSync, existsSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const HERE = import.meta.dirname;
const FIXTURES = resolve(HERE, '..', 'fixtures', 'stub-job');
const LIMITS = JSON.parse(readFileSync(resolve(HERE, '..', '..', 'processing', 'limits.json'), 'utf8'));

export class Cancelled extends Error {}

function writeJson(path, payload) {
  const tmp = join(dirname(path), `.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(payload, null, 2)}\n`);
  renameSync(tmp, path); // atomic, as processing/progress.py
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function cues(prompt) {
  const found = {};
  for (const m of String(prompt ?? '').matchAll(/stub:([a-z-]+)(?:=([A-Za-z0-9_]+))?/g)) found[m[1]] = m[2] ?? true;
  return found;
}

/**
 * Runs one job; returns its exit code. `cancelled()` is checked at each phase and step, as processing/serve.py does;
 * `observe(payload)` is called after each progress.json is written (the serve-http worker's observer).
 */
export async function runJob(inputDir, outputDir, cancelled = () => false, observe = () => {}) {
  const started = Date.now();
  let job;
  try {
    job = JSON.parse(readFileSync(join(inputDir, 'job.json'), 'utf8'));
  } catch (err) {
    return fail(outputDir, 'INVALID_JOB', `job.json could not be read (${err.code ?? err.message}).`);
  }
  const missing = missingInput(job, inputDir);
  if (missing) return fail(outputDir, 'INVALID_JOB', missing);
  const cue = cues(job.prompt);
  const total = Number.isInteger(job.steps) ? job.steps : 2;
  const stepMs = cue['step-ms'] !== undefined ? Number(cue['step-ms']) : 10;
  const progress = (phase, step = 0, stepsTotal = 0) => {
    if (phase !== 'done' && cancelled()) throw new Cancelled();
    writeJson(join(outputDir, 'progress.json'), {
      phase,
      step,
      total: stepsTotal,
      eta_s: phase === 'denoising' && step > 0 ? ((stepsTotal - step) * stepMs) / 1000 : null,
      elapsed_s: (Date.now() - started) / 1000,
      updated_at: new Date().toISOString(),
    });
    observe({ phase, step, total: stepsTotal });
  };
  progress('loading');
  if (cue.fail) {
    const rule = LIMITS.errors[cue.fail];
    if (!rule || rule.exit_code === null) throw new Error(`stub:fail=${cue.fail} is not a job error code`);
    return fail(outputDir, cue.fail, `The stub job failed with ${cue.fail} as asked.`);
  }
  if (cue.exit !== undefined) {
    process.stderr.write(`stub job: exiting ${cue.exit} as asked\n`);
    process.exit(Number(cue.exit));
  }
  for (let step = 0; step <= total; step++) {
    progress('denoising', step, total);
    if (step === 1 && cue.kill) process.kill(process.pid, 'SIGKILL');
    if (step === 1 && cue.hold) {
      while (!existsSync(join(outputDir, 'release'))) {
        if (!cue.deaf && cancelled()) throw new Cancelled();
        await sleep(20);
      }
    }
    if (step < total) await sleep(stepMs);
  }
  progress('decoding');
  progress('encoding');
  copyFileSync(join(FIXTURES, 'video.mp4'), join(outputDir, '.video.mp4.tmp'));
  renameSync(join(outputDir, '.video.mp4.tmp'), join(outputDir, 'video.mp4'));
  copyFileSync(join(FIXTURES, 'poster.jpg'), join(outputDir, 'poster.jpg'));
  writeJson(join(outputDir, 'metadata.json'), {
    job: { ...job },
    model: { preset: job.model, label: 'stub job', test_only: true },
    runtime: { device: 'cpu', stub: true, resident: false },
    timings_s: { loading: 0, denoising: (total * stepMs) / 1000, decoding: 0, encoding: 0, total: (Date.now() - started) / 1000 },
    output: { video: 'video.mp4', poster: 'poster.jpg', frames: 9, fps: 8, height: 64, width: 96, codec: 'h264', pix_fmt: 'yuv420p' },
  });
  progress('done');
  return 0;
}

/** The sentence of processing/extend.py last_frame / combine.py validate_combine when an input clip is missing. */
function missingInput(job, inputDir) {
  if (typeof job.parent_video === 'string' && !existsSync(join(inputDir, job.parent_video))) {
    return `The clip to extend (${job.parent_video}) is missing from the job's input.`;
  }
  if (job.mode !== 'combine') return undefined;
  const clips = job.clips;
  if (!Array.isArray(clips) || !clips.every((c) => typeof c === 'string' && c)) return "'clips' must be a list of file names.";
  if (clips.length < 2 || clips.length > 10) return `Combine joins 2 to 10 clips; got ${clips.length}.`;
  const at = clips.findIndex((c) => !existsSync(join(inputDir, c)));
  return at >= 0 ? `Clip ${at + 1} (${clips[at]}) is missing from the job's input.` : undefined;
}

function fail(outputDir, code, message) {
  const rule = LIMITS.errors[code];
  writeJson(join(outputDir, 'error.json'), { code, message, retryable: rule.retryable });
  return rule.exit_code;
}

function flag(argv, name) {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
}

async function commandRun(argv) {
  const input = flag(argv, '--input-dir');
  const output = flag(argv, '--output-dir');
  if (!input || !output) {
    process.stderr.write('stub job: --input-dir and --output-dir are required\n');
    return 2; // as argparse
  }
  return runJob(input, output);
}

async function commandServe() {
  const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
  const queue = [];
  const cancelledIds = new Set();
  let stopping = false;
  let wake;
  const parent = process.ppid;
  // processing/serve.py dies with its parent (PR_SET_PDEATHSIG); this stub notices within 100 ms.
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 100).unref();
  createInterface({ input: process.stdin })
    .on('line', (line) => {
      let message;
      try {
        message = JSON.parse(line);
      } catch {
        return;
      }
      if (message && typeof message.cancel === 'string') cancelledIds.add(message.cancel);
      else queue.push(message);
      wake?.();
    })
    .on('close', () => {
      stopping = true; // the owner is gone: stop the current job at its next step, then exit
      setTimeout(() => process.exit(0), 5000).unref();
      wake?.();
    });
  send({ ready: true, pid: process.pid });
  for (;;) {
    while (queue.length === 0 && !stopping) await new Promise((r) => (wake = r));
    if (stopping) return 0;
    const request = queue.shift();
    const id = String(request.id ?? request.output);
    if (typeof request.input !== 'string' || typeof request.output !== 'string') {
      send({ id: request.id ?? null, status: 'rejected', error: "'input' and 'output' must be directory paths" });
      continue;
    }
    let code = null;
    let status;
    try {
      code = await runJob(request.input, request.output, () => stopping || cancelledIds.has(id));
      status = code === 0 ? 'completed' : 'failed';
    } catch (err) {
      if (!(err instanceof Cancelled)) throw err;
      status = 'cancelled';
    }
    cancelledIds.delete(id);
    send({ id, output: request.output, status, exit_code: code, resident: false });
  }
}

async function main(argv) {
  if (argv[0] === '-m' && argv[1] === 'processing') argv.splice(0, 2);
  const command = argv[0];
  if (command === 'run') return commandRun(argv.slice(1));
  if (command === 'serve') return commandServe();
  if (command === 'probe') {
    process.stdout.write(`${JSON.stringify({ cuda: false, device_name: null, free_gib: null, total_gib: null })}\n`);
    return 0;
  }
  process.stderr.write(`stub job: unknown command ${JSON.stringify(argv)}\n`);
  return 2;
}

// Run as a program (node stub-job.mjs …, stub-python), not when imported.
if (process.argv[1] && realpathSync(process.argv[1]) === import.meta.filename) process.exit(await main(process.argv.slice(2)));
