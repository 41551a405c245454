// The asynchronous-endpoint runner: the notification parsing, and end to end on the real worker (test/aws/async-endpoints.ts:
// a real JobService on moto, the SageMaker runtime fake whose endpoint's instances run `python -m processing serve`
// with VIDEOBOT_SERVE_TRANSPORT=http on the tiny-random preset): the cold start and the warm second video.
// test/aws/async-lifecycle.test.ts runs the lifecycle cases on the stub worker; processing/tests/test_serve_http.py
// covers the real worker's side of the contract.
import { describe, expect, it } from 'vitest';
import { parseAsyncNotification, type AsyncNotification } from '../../bot/aws/async-events.js';
import { invocationOf, mapAsyncFailure, type AsyncEndpointSettings } from '../../bot/aws/async-runner.js';
import { ENDPOINT, conversation, describeOnAsyncEndpoints } from './async-endpoints.js';

describe('parseAsyncNotification', () => {
  const success = {
    awsRegion: 'us-east-1',
    eventTime: '2022-01-25T22:46:00.608Z',
    receivedTime: '2022-01-25T22:46:00.455Z',
    invocationStatus: 'Completed',
    requestParameters: { contentType: 'application/json', endpointName: ENDPOINT, inputLocation: 's3://in/jobs/j1/input/invocation-1.json' },
    responseParameters: { contentType: 'application/json', outputLocation: 's3://out/async-results/j1.out' },
    inferenceId: 'j1',
    eventVersion: '1.0',
    eventSource: 'aws:sagemaker',
    eventName: 'InferenceResult',
  };
  const expected: AsyncNotification = {
    inferenceId: 'j1',
    status: 'Completed',
    endpointName: ENDPOINT,
    inputLocation: 's3://in/jobs/j1/input/invocation-1.json',
    outputLocation: 's3://out/async-results/j1.out',
  };

  it('reads a notification delivered raw and inside an SNS envelope', () => {
    expect(parseAsyncNotification(JSON.stringify(success))).toEqual(expected);
    const envelope = { Type: 'Notification', MessageId: 'm1', TopicArn: 'arn:aws:sns:us-east-1:123456789012:t', Message: JSON.stringify(success) };
    expect(parseAsyncNotification(JSON.stringify(envelope))).toEqual(expected);
  });

  it('reads the error notification\'s reason and failure location, and refuses what is not a notification', () => {
    const failed = { ...success, invocationStatus: 'Failed', failureReason: 'ClientError: Received server error (500) from model.', responseParameters: { failureLocation: 's3://out/async-failures/j1-error.out' } };
    expect(parseAsyncNotification(JSON.stringify(failed))).toMatchObject({
      status: 'Failed',
      failureReason: 'ClientError: Received server error (500) from model.',
      failureLocation: 's3://out/async-failures/j1-error.out',
    });
    expect(parseAsyncNotification('{"detail":{"ProcessingJobName":"videobot-j1","ProcessingJobStatus":"Completed"}}')).toBeUndefined();
    expect(parseAsyncNotification('not json')).toBeUndefined();
  });

  it('finds the job and attempt from the request object, and words SageMaker\'s failures for the user', () => {
    expect(invocationOf('s3://in/jobs/j1/input/invocation-2.json')).toEqual({ bucket: 'in', jobId: 'j1', attempt: 2 });
    expect(invocationOf('s3://in/elsewhere/request.json')).toBeUndefined();
    const settings: AsyncEndpointSettings = { endpoints: {}, requestTtlSeconds: 3600, invocationTimeoutSeconds: 1800 };
    expect(mapAsyncFailure('Request expired: not processed within RequestTTLSeconds.', settings)).toEqual({
      code: 'CAPACITY', message: 'No GPU took this video within 60 minutes; try again in a few minutes.', retryable: true,
    });
    expect(mapAsyncFailure('ClientError: Model invocation timed out.', settings).code).toBe('TIMEOUT');
    expect(mapAsyncFailure('ClientError: Received server error (0) from model', settings)).toMatchObject({ code: 'INTERRUPTED', retryable: true });
  });
});

describeOnAsyncEndpoints('AsyncEndpointRunner with JobService, moto and the real serve-http worker', (fx) => {
  const { setup, waitState } = fx;

  it('queues with no instance, scales out from zero, delivers once; the next video finds the pipeline loaded (real worker)', async () => {
    await fx.real.scaleTo(0);
    const { chat, bot, alice } = await setup(ENDPOINT);
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'a bee', seed: 42, steps: 2 } }); // 2 steps, as the other real jobs: the preset's 4 add nothing here
    await waitState(bot, job.id, 'starting');
    const call = fx.runtime.calls.find((c) => c.headers['x-amzn-sagemaker-inference-id'] === job.id)!;
    expect(call.endpoint).toBe(ENDPOINT);
    expect(call.headers).toMatchObject({
      'x-amzn-sagemaker-inputlocation': `s3://${fx.res.inputBucket}/jobs/${job.id}/input/invocation-1.json`,
      'x-amzn-sagemaker-content-type': 'application/json',
      'x-amzn-sagemaker-requestttlseconds': '600',
      'x-amzn-sagemaker-invocationtimeoutseconds': '300',
    });
    expect(fx.real.hasBacklogWithoutCapacity()).toBe(true); // what the scale-out-from-zero alarm watches
    expect(fx.real.backlogSize()).toBe(1);

    await fx.real.scaleTo(1);
    await waitState(bot, job.id, 'delivered');
    expect(chat.videosOf(job.id)).toHaveLength(1);
    expect(new TextDecoder().decode(chat.videosOf(job.id)[0]!.bytes.slice(4, 8))).toBe('ftyp');
    const stored = await bot.store.get(job.id);
    expect(stored?.result?.metadata).toMatchObject({ job: { id: job.id, seed: 42 }, runtime: { resident: false } });
    expect(chat.views.some((v) => v.job.id === job.id && v.view.state === 'running')).toBe(true); // progress from S3

    const { job: second } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'a wasp', seed: 43, steps: 2 } });
    await waitState(bot, second.id, 'delivered');
    expect((await bot.store.get(second.id))?.result?.metadata).toMatchObject({ runtime: { resident: true } });
    expect(fx.real.backlogSize()).toBe(0);
    await fx.real.scaleTo(0); // its torch process leaves room for the rest
  }, 300_000);
});
