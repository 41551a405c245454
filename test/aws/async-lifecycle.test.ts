// The asynchronous-endpoint runner's lifecycle end to end (test/aws/async-endpoints.ts: a real JobService on moto, the
// SageMaker runtime fake) on the stub worker, test/support/stub-serve-http.mjs: the serve-http worker's HTTP and S3
// contract without torch, steered by cues in the prompt such as stub:hold. Notifications lost or repeated, a restart,
// a crash, cancels. test/aws/async-runner.test.ts has the real worker's cold start.
import { execFileSync } from 'node:child_process';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { expect, it } from 'vitest';
import { AsyncEndpointRunner } from '../../bot/aws/async-runner.js';
import { S3ObjectStore } from '../../bot/aws/s3.js';
import { sampleJob } from '../support/fixtures.js';
import { eventually, testLogger } from '../support/harness.js';
import { PYTHON } from '../support/video.js';
import { HOLD, RecordingChat, conversation, describeOnAsyncEndpoints } from './async-endpoints.js';
import { eventuallyOnMoto, REGION } from './moto.js';

describeOnAsyncEndpoints('AsyncEndpointRunner with JobService, moto and the stub serve-http worker', (fx) => {
  const { setup, startBot, stateOf, waitState, outputNames, doneOf, release, holding, settle, notificationsToNewQueue } = fx;

  it('posts once when the notification arrives twice', async () => {
    await fx.endpoint.scaleTo(1);
    const { chat, bot, alice } = await setup();
    fx.endpoint.duplicateNotifications = true;
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'a cat' } });
    await waitState(bot, job.id, 'delivered');
    await settle();
    expect(chat.videosOf(job.id)).toHaveLength(1);
  }, 120_000);

  it('delivers once from the S3 outputs when the notification is lost', async () => {
    await fx.endpoint.scaleTo(1);
    const { chat, bot, alice } = await setup();
    fx.endpoint.dropNotifications = 1;
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'a lost owl' } });
    await eventually(() => doneOf(job.id).length === 1, 150_000, 'the worker answered');
    expect(fx.endpoint.dropNotifications).toBe(0);
    await bot.service.reconcile(); // what the bot does for a job that went quiet
    await waitState(bot, job.id, 'delivered', 10_000);
    await settle();
    expect(chat.videosOf(job.id)).toHaveLength(1);
  }, 120_000);

  it('delivers once when the bot restarts while the worker makes the video', async () => {
    await fx.endpoint.scaleTo(1);
    const chat = new RecordingChat();
    const prefix = `a${fx.nextTestNo()}x`;
    const alice = { platform: 'slack' as const, userId: `U-${prefix}` };
    const first = await startBot(chat, prefix);
    const { job } = await first.service.submit({ requester: alice, conversation, request: { prompt: `a fox ${HOLD}` } });
    await waitState(first, job.id, 'running');
    await first.close();
    await notificationsToNewQueue(); // the queue the next bot reads from
    await release(job.id);
    await eventually(() => doneOf(job.id).length === 1, 30_000, 'the worker answered'); // its notification waits in the queue
    const second = await startBot(chat, `${prefix}b`);
    await waitState(second, job.id, 'delivered');
    await settle();
    expect(chat.videosOf(job.id)).toHaveLength(1);
    expect(fx.runtime.calls.filter((c) => c.headers['x-amzn-sagemaker-inference-id'] === job.id)).toHaveLength(1); // not queued again
  }, 180_000);

  it('cancels a running video between steps', async () => {
    await fx.endpoint.scaleTo(1);
    const { chat, bot, alice } = await setup();
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: `stop me ${HOLD}` } });
    await waitState(bot, job.id, 'running');
    await eventuallyOnMoto(() => holding(job.id), 30_000, 'the job holds mid-denoising');
    await bot.service.cancel(job.id, alice);
    await eventually(() => doneOf(job.id).length === 1, 30_000, 'the worker answered');
    expect(JSON.parse(doneOf(job.id)[0]!.answer)).toMatchObject({ status: 'cancelled' });
    const names = await outputNames(job.id);
    expect(names).not.toContain('video.mp4');
    expect(names).not.toContain('metadata.json');
    await settle();
    expect(await stateOf(bot, job.id)).toBe('cancelled');
    expect(chat.videosOf(job.id)).toHaveLength(0);
  }, 120_000);

  it('cancels a request still in the queue: the worker answers cancelled without making anything', async () => {
    await fx.endpoint.scaleTo(1);
    const { chat, bot, alice } = await setup();
    const { job: first } = await bot.service.submit({ requester: alice, conversation, request: { prompt: `in front ${HOLD}` } });
    await waitState(bot, first.id, 'running'); // the one instance is busy (one invocation at a time)
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'never mind' } });
    await waitState(bot, job.id, 'starting');
    expect(fx.endpoint.queue.map((q) => q.inferenceId)).toEqual([job.id]);
    const cancelled = await bot.service.cancel(job.id, alice);
    expect(cancelled.state).toBe('cancelled');
    expect(await outputNames(job.id)).toEqual(['cancel']);

    await release(first.id);
    await eventually(() => doneOf(job.id).length === 1, 30_000, 'the worker took the request');
    expect(JSON.parse(doneOf(job.id)[0]!.answer)).toMatchObject({ job_id: job.id, status: 'cancelled' });
    await waitState(bot, first.id, 'delivered');
    await settle();
    expect(await outputNames(job.id)).toEqual(['cancel']);
    expect(await stateOf(bot, job.id)).toBe('cancelled');
    expect(chat.videosOf(job.id)).toHaveLength(0);
    expect(chat.videosOf(first.id)).toHaveLength(1);
  }, 60_000);

  it('makes the video again on a fresh instance when the worker dies mid-job, and posts it once', async () => {
    await fx.endpoint.scaleTo(1);
    const { chat, bot, alice } = await setup();
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: `a crash ${HOLD}` } });
    await waitState(bot, job.id, 'running');
    await fx.endpoint.crashWorkerOf(job.id);
    await eventually(() => doneOf(job.id)[0]?.status === 'Failed', 30_000, 'the error notification');
    // The retry (submitted with its outputs cleared) holds on the replaced instance like the first attempt.
    await eventually(() => fx.endpoint.inFlight.has(`${job.id}-r2`), 30_000, 'the retry on the replaced instance');
    await release(job.id);
    await waitState(bot, job.id, 'delivered', 30_000);
    const stored = await bot.store.get(job.id);
    expect(stored?.attempts).toBe(2);
    expect(stored?.runnerRef).toBe(`${job.id}-r2`);
    expect(chat.videosOf(job.id)).toHaveLength(1);
  }, 60_000);

  it('the stub worker answers as the real one: ping, the 400 reasons, done-before and cancelled-while-queued', async () => {
    await fx.endpoint.scaleTo(1);
    const url = fx.endpoint.instances[0]!.url;
    expect((await fetch(`${url}/ping`)).status).toBe(200);
    const bodies = [
      'not json',
      '[1]',
      JSON.stringify({ job_id: 'j', input: '/local/dir', output: 's3://b/jobs/j/output/' }),
      JSON.stringify({ input: 's3://b/jobs/j/input/', output: 's3://b/jobs/j/output/' }),
      JSON.stringify({ job_id: 'a/b', input: 's3://b/i/', output: 's3://b/o/' }),
      JSON.stringify({ job_id: 'j', attempt: 0, input: 's3://b/i/', output: 's3://b/o/' }),
      JSON.stringify({ job_id: 'j', attempt: true, input: 's3://b/i/', output: 's3://b/o/' }),
      JSON.stringify({ job_id: 'j', input: 's3://b/i/', output: 's3://b' }),
    ];
    // processing/serve_http.py's Invocation.parse on the same bodies (it imports no torch).
    const script = [
      'import json, sys',
      'from processing.serve_http import BadRequest, Invocation',
      'def reason(body):',
      '    try: Invocation.parse(body.encode()); return None',
      '    except BadRequest as e: return str(e)',
      'print(json.dumps([reason(b) for b in json.loads(sys.stdin.read())]))',
    ].join('\n');
    const reasons = JSON.parse(execFileSync(PYTHON, ['-c', script], { input: JSON.stringify(bodies), encoding: 'utf8' })) as string[];
    for (const [i, body] of bodies.entries()) {
      const r = await fetch(`${url}/invocations`, { method: 'POST', body });
      expect({ status: r.status, answer: await r.json() }).toEqual({ status: 400, answer: { error: reasons[i] } });
    }

    const put = (key: string, body: string) => fx.s3.send(new PutObjectCommand({ Bucket: fx.res.outputBucket, Key: key, Body: body }));
    const invoke = async (jobId: string) => {
      const r = await fetch(`${url}/invocations`, {
        method: 'POST',
        body: JSON.stringify({ job_id: jobId, attempt: 1, input: `s3://${fx.res.inputBucket}/jobs/${jobId}/input/`, output: `s3://${fx.res.outputBucket}/jobs/${jobId}/output/` }),
      });
      return { status: r.status, answer: (await r.json()) as Record<string, unknown> };
    };
    const done = `done${fx.nextTestNo()}`;
    await put(`jobs/${done}/output/metadata.json`, '{}');
    expect(await invoke(done)).toEqual({ status: 200, answer: { job_id: done, attempt: 1, output: `s3://${fx.res.outputBucket}/jobs/${done}/output/`, status: 'done-before' } });
    const queued = `queued${fx.testNo}`;
    await put(`jobs/${queued}/output/cancel`, '');
    expect((await invoke(queued)).answer).toMatchObject({ job_id: queued, status: 'cancelled' });
    expect(await outputNames(queued)).toEqual(['cancel']);
  });

  it('queues a video once when the same attempt is submitted again (a restart while submitting), and again for a retry', async () => {
    const idle = fx.runtime.addEndpoint({ ...fx.endpoint.options, name: 'videobot-async-idle' }); // no instance: requests stay queued
    const botS3 = new S3Client({ region: REGION, endpoint: fx.moto.url, forcePathStyle: true });
    const client = new SageMakerRuntimeClient({ region: REGION, endpoint: fx.runtime.url, maxAttempts: 1 });
    const objects = new S3ObjectStore({ s3: botS3, inputBucket: fx.res.inputBucket, outputBucket: fx.res.outputBucket });
    const runner = new AsyncEndpointRunner({
      runtime: client,
      s3: botS3,
      objects,
      events: { start: () => {}, stop: async () => {} },
      settings: { endpoints: { 'tiny-random': 'videobot-async-idle' }, requestTtlSeconds: 600, invocationTimeoutSeconds: 300 },
      logger: testLogger(),
    });
    const job = sampleJob(`rep${fx.nextTestNo()}`, { state: 'submitting', attempts: 0 });
    expect(await runner.submit(job)).toEqual({ ref: job.id });
    expect(await runner.submit(job)).toEqual({ ref: job.id });
    expect(idle.queue.map((q) => q.inferenceId)).toEqual([job.id]);
    expect(await runner.describe({ ...job, state: 'starting', attempts: 1, runnerRef: job.id })).toEqual({ status: 'running' });
    expect(await runner.submit({ ...job, attempts: 1 })).toEqual({ ref: `${job.id}-r2` });
    expect(idle.queue.map((q) => q.inferenceId)).toEqual([job.id, `${job.id}-r2`]);
    expect(idle.queue[1]!.inputLocation).toBe(`s3://${fx.res.inputBucket}/jobs/${job.id}/input/invocation-2.json`);
    idle.queue.length = 0;
    client.destroy();
    botS3.destroy();
  });

  it('refuses a model no endpoint serves with a sentence naming the ones that are served', async () => {
    const { chat, bot, alice } = await setup();
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'a big one', model: 'cogvideox-2b' } });
    await waitState(bot, job.id, 'failed', 10_000);
    expect((await bot.store.get(job.id))?.failure?.message).toBe(
      "The model cogvideox-2b is not deployed on this bot's GPU endpoints; choose one of: tiny-random.",
    );
    expect(chat.videosOf(job.id)).toHaveLength(0);
  }, 30_000);
});
