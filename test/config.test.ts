import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, requiredSettings } from '../bot/config.js';
import { awsSettings, localPython } from '../bot/main.js';
import { REPO_ROOT } from './support/video.js';

describe('loadConfig', () => {
  it('gives the embedded defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ VIDEOBOT_CHAT: ['shell'], VIDEOBOT_BACKEND: 'local', VIDEOBOT_DATA_DIR: './var', VIDEOBOT_DEFAULT_MODEL: 'cogvideox-5b', VIDEOBOT_MAX_CONCURRENT_JOBS: 1 });
  });

  it("runs a local bot's jobs on the repository's .venv python unless VIDEOBOT_PYTHON names another, relative to the repository", () => {
    expect(localPython(loadConfig({}))).toBe(join(REPO_ROOT, '.venv', 'bin', 'python'));
    expect(localPython(loadConfig({ VIDEOBOT_PYTHON: 'other/bin/python' }))).toBe(join(REPO_ROOT, 'other', 'bin', 'python'));
    expect(localPython(loadConfig({ VIDEOBOT_PYTHON: '/usr/bin/python3' }))).toBe('/usr/bin/python3');
  });

  it('parses lists, numbers and booleans', () => {
    const c = loadConfig({ VIDEOBOT_ADMINS: 'slack:U1, discord:2', VIDEOBOT_DAILY_QUOTA: '5', VIDEOBOT_ALLOW_DOWNLOAD: 'true' });
    expect(c.VIDEOBOT_ADMINS).toEqual(['slack:U1', 'discord:2']);
    expect(c.VIDEOBOT_DAILY_QUOTA).toBe(5);
    expect(c.VIDEOBOT_ALLOW_DOWNLOAD).toBe(true);
  });

  it('polls the shared queue once a second unless told otherwise (50 to 5000 ms: the lease lasts 15 s)', () => {
    expect(loadConfig({}).VIDEOBOT_QUEUE_POLL_MS).toBe(1000);
    expect(loadConfig({ VIDEOBOT_QUEUE_POLL_MS: '50' }).VIDEOBOT_QUEUE_POLL_MS).toBe(50);
    expect(loadConfig({ VIDEOBOT_QUEUE_POLL_MS: '5000' }).VIDEOBOT_QUEUE_POLL_MS).toBe(5000);
  });

  it.each([
    [{ VIDEOBOT_MAX_CONCURRENT_JOBS: 'many' }, /VIDEOBOT_MAX_CONCURRENT_JOBS/],
    [{ VIDEOBOT_DEFAULT_MODEL: 'sora' }, /VIDEOBOT_DEFAULT_MODEL/],
    [{ VIDEOBOT_CHAT: 'irc' }, /VIDEOBOT_CHAT/],
    [{ VIDEOBOT_QUEUE_POLL_MS: '10' }, /VIDEOBOT_QUEUE_POLL_MS/],
    [{ VIDEOBOT_QUEUE_POLL_MS: '15000' }, /VIDEOBOT_QUEUE_POLL_MS/],
    [{ OPENAI_BASE_URL: 'not a url' }, /OPENAI_BASE_URL/],
    [{ VIDEOBOT_CHAT: 'slack' }, /Slack needs SLACK_BOT_TOKEN/],
    [{ VIDEOBOT_CHAT: 'slack', SLACK_BOT_TOKEN: 'xoxb-1', SLACK_MODE: 'http' }, /SLACK_SIGNING_SECRET/],
    [{ VIDEOBOT_BACKEND: 'aws' }, /the AWS backend needs AWS_REGION, VIDEOBOT_INPUT_BUCKET/],
    [{ SAGEMAKER_INSTANCE_TYPE: 'ml.g6e.2xlarg' }, /SAGEMAKER_INSTANCE_TYPE: "ml.g6e.2xlarg" is not an instance type SageMaker offers for Processing jobs; nearest valid choices: ml.g6e.2xlarge,/],
    [{ SAGEMAKER_INSTANCE_TYPES: 'cogvideox-2b=ml.g6.2xlarge,cogvideox1.5-5b=ml.p5.48xlarge' }, /SAGEMAKER_INSTANCE_TYPES: "ml.p5.48xlarge" \(for cogvideox1.5-5b\) is not an instance type SageMaker offers for Processing jobs; nearest valid choices: ml.p5.4xlarge/],
    [{ SAGEMAKER_INSTANCE_TYPES: 'cogvideox-5b' }, /SAGEMAKER_INSTANCE_TYPES: expected preset=instance-type pairs/],
    [{ SAGEMAKER_INSTANCE_TYPES: 'cogvideo-5b=ml.g6e.2xlarge' }, /SAGEMAKER_INSTANCE_TYPES: unknown preset "cogvideo-5b"/],
  ])('fails fast naming the variable: %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('accepts every instance type SageMaker offers for Processing jobs, per preset too', () => {
    const c = loadConfig({ SAGEMAKER_INSTANCE_TYPE: 'ml.g6e.xlarge', SAGEMAKER_INSTANCE_TYPES: 'cogvideox1.5-5b=ml.p5.4xlarge, cogvideox-2b = ml.g6.2xlarge' });
    expect(c.SAGEMAKER_INSTANCE_TYPE).toBe('ml.g6e.xlarge');
    expect(c.SAGEMAKER_INSTANCE_TYPES).toEqual(['cogvideox1.5-5b=ml.p5.4xlarge', 'cogvideox-2b = ml.g6.2xlarge']);
  });

  it('never echoes a secret value', () => {
    expect(() => loadConfig({ SLACK_MODE: 'bogus', SLACK_SIGNING_SECRET: 's3cret' })).toThrow(/SLACK_MODE/);
    try {
      loadConfig({ SLACK_PORT: 'x', SLACK_BOT_TOKEN: 'xoxb-secret' });
    } catch (err) {
      expect((err as Error).message).not.toContain('xoxb-secret');
    }
  });
});

describe('AWS backend settings', () => {
  const aws = {
    VIDEOBOT_BACKEND: 'aws',
    AWS_REGION: 'eu-west-1',
    VIDEOBOT_INPUT_BUCKET: 'in',
    VIDEOBOT_OUTPUT_BUCKET: 'out',
    VIDEOBOT_JOB_TABLE: 'jobs',
    VIDEOBOT_EVENTS_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/events',
    SAGEMAKER_ROLE_ARN: 'arn:aws:iam::123456789012:role/p',
    SAGEMAKER_IMAGE_URI: 'img:1',
    VIDEOBOT_MODEL_CACHE_URI: 's3://models/models/',
  };

  it('are built once from the parsed config, typed, with Bedrock only when the enhancer may use it', () => {
    const settings = awsSettings(loadConfig({ ...aws, VIDEOBOT_KMS_KEY_ID: 'k1', BEDROCK_GUARDRAIL_ID: 'g1', SAGEMAKER_INSTANCE_TYPES: 'cogvideox-2b=ml.g6.2xlarge' }));
    expect(settings).toMatchObject({
      region: 'eu-west-1',
      jobTable: 'jobs',
      jobTtlDays: 30,
      inputBucket: 'in',
      outputBucket: 'out',
      kmsKeyId: 'k1',
      eventsQueueUrl: aws.VIDEOBOT_EVENTS_QUEUE_URL,
      processing: { jobPrefix: 'videobot', roleArn: aws.SAGEMAKER_ROLE_ARN, imageUri: 'img:1', modelCacheUri: 's3://models/models/', instanceTypes: { 'cogvideox-2b': 'ml.g6.2xlarge' }, kmsKeyId: 'k1' },
      bedrock: { modelId: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', guardrail: { id: 'g1', version: 'DRAFT' } },
    });
    expect(settings.endpoint).toBeUndefined();
    expect(awsSettings(loadConfig({ ...aws, VIDEOBOT_ENHANCER: 'off' })).bedrock).toBeUndefined();
    expect(awsSettings(loadConfig({ ...aws, VIDEOBOT_ENHANCER: 'openai', OPENAI_BASE_URL: 'http://127.0.0.1:1/v1', OPENAI_MODEL: 'm' })).bedrock).toBeUndefined();
  });

  it('say which required setting is missing, in the same words as at start-up', () => {
    const config = loadConfig({});
    expect(() => awsSettings(config)).toThrow(ConfigError);
    expect(() => awsSettings(config)).toThrow(/the AWS backend needs AWS_REGION, VIDEOBOT_INPUT_BUCKET, .*VIDEOBOT_MODEL_CACHE_URI to be set/);
    expect(requiredSettings(loadConfig({ DISCORD_TOKEN: 't' }), 'Discord', ['DISCORD_TOKEN'])).toEqual({ DISCORD_TOKEN: 't' });
  });

  it('reach bot/aws only as typed settings: no AWS module reads the environment-shaped Config', () => {
    const dir = fileURLToPath(new URL('../bot/aws/', import.meta.url));
    const readers = readdirSync(dir).filter((f) => f.endsWith('.ts') && /from '\.\.\/config\.js'/.test(readFileSync(join(dir, f), 'utf8')));
    expect(readers).toEqual([]);
  });
});
