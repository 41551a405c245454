// Choosing the AWS runner: VIDEOBOT_AWS_RUNNER=async and its endpoints, checked once by loadConfig, wired by createAwsBackend.
import { describe, expect, it } from 'vitest';
import { createAwsBackend } from '../../bot/aws/backend.js';
import { CombineRoutingRunner } from '../../bot/aws/combine-router.js';
import { SageMakerRunner } from '../../bot/aws/sagemaker.js';
import { loadConfig } from '../../bot/config.js';
import { awsSettings } from '../../bot/main.js';
import { testLogger } from '../support/harness.js';

const AWS = {
  VIDEOBOT_BACKEND: 'aws',
  AWS_REGION: 'us-east-1',
  VIDEOBOT_INPUT_BUCKET: 'in',
  VIDEOBOT_OUTPUT_BUCKET: 'out',
  VIDEOBOT_JOB_TABLE: 'jobs',
  VIDEOBOT_EVENTS_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/events',
  VIDEOBOT_MODEL_CACHE_URI: 's3://models/models/',
  SAGEMAKER_ROLE_ARN: 'arn:aws:iam::123456789012:role/videobot-processing',
  SAGEMAKER_IMAGE_URI: '123456789012.dkr.ecr.us-east-1.amazonaws.com/videobot-processing:abc',
};

describe('VIDEOBOT_AWS_RUNNER', () => {
  it('keeps Processing jobs by default', async () => {
    const backend = createAwsBackend(awsSettings(loadConfig(AWS)), testLogger(), { consumeEvents: false });
    expect(backend.runner).toBeInstanceOf(SageMakerRunner);
    await backend.close();
  });

  it('runs videos on the named endpoints with async, with the request limits it was given', async () => {
    const config = loadConfig({
      ...AWS,
      VIDEOBOT_AWS_RUNNER: 'async',
      VIDEOBOT_ASYNC_ENDPOINTS: 'cogvideox-5b=VideobotService-cogvideox-5b, tiny-random=VideobotService-tiny-random',
      VIDEOBOT_ASYNC_REQUEST_TTL_SECONDS: '1800',
    });
    expect(awsSettings(config).asyncEndpoints).toEqual({
      endpoints: { 'cogvideox-5b': 'VideobotService-cogvideox-5b', 'tiny-random': 'VideobotService-tiny-random' },
      requestTtlSeconds: 1800,
      invocationTimeoutSeconds: 3600,
    });
    const backend = createAwsBackend(awsSettings(config), testLogger(), { consumeEvents: false });
    expect(backend.runner).toBeInstanceOf(CombineRoutingRunner); // a Combine stays a Processing job (combine-router.test.ts)
    expect(backend.runner.maxRuntimeMs).toBe((1800 + 3600) * 1000); // queue wait plus run time, longer than a Processing job's hour
    await backend.close();
  });

  it('refuses async without endpoints, and endpoints it cannot use, in one sentence naming the setting', () => {
    expect(() => loadConfig({ ...AWS, VIDEOBOT_AWS_RUNNER: 'async' })).toThrow(
      'Invalid configuration: VIDEOBOT_AWS_RUNNER=async needs VIDEOBOT_ASYNC_ENDPOINTS (preset=endpoint-name pairs) to be set.',
    );
    expect(() => loadConfig({ ...AWS, VIDEOBOT_AWS_RUNNER: 'async', VIDEOBOT_ASYNC_ENDPOINTS: 'cogvideox-9b=e1' })).toThrow(
      /VIDEOBOT_ASYNC_ENDPOINTS: unknown preset "cogvideox-9b"/,
    );
    expect(() => loadConfig({ ...AWS, VIDEOBOT_AWS_RUNNER: 'async', VIDEOBOT_ASYNC_ENDPOINTS: 'cogvideox-5b' })).toThrow(
      /VIDEOBOT_ASYNC_ENDPOINTS: expected preset=endpoint-name pairs; got "cogvideox-5b"/,
    );
    expect(() => loadConfig({ ...AWS, VIDEOBOT_AWS_RUNNER: 'async', VIDEOBOT_ASYNC_ENDPOINTS: 'tiny-random=x', VIDEOBOT_ASYNC_INVOCATION_TIMEOUT_SECONDS: '7200' })).toThrow(
      /VIDEOBOT_ASYNC_INVOCATION_TIMEOUT_SECONDS/,
    );
  });
});
