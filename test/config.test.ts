import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../bot/config.js';

describe('loadConfig', () => {
  it('gives the embedded defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ VIDEOBOT_CHAT: ['shell'], VIDEOBOT_BACKEND: 'local', VIDEOBOT_DATA_DIR: './var', VIDEOBOT_DEFAULT_MODEL: 'cogvideox-5b', VIDEOBOT_MAX_CONCURRENT_JOBS: 1 });
  });

  it('parses lists, numbers and booleans', () => {
    const c = loadConfig({ VIDEOBOT_ADMINS: 'slack:U1, discord:2', VIDEOBOT_DAILY_QUOTA: '5', VIDEOBOT_ALLOW_DOWNLOAD: 'true' });
    expect(c.VIDEOBOT_ADMINS).toEqual(['slack:U1', 'discord:2']);
    expect(c.VIDEOBOT_DAILY_QUOTA).toBe(5);
    expect(c.VIDEOBOT_ALLOW_DOWNLOAD).toBe(true);
  });

  it.each([
    [{ VIDEOBOT_MAX_CONCURRENT_JOBS: 'many' }, /VIDEOBOT_MAX_CONCURRENT_JOBS/],
    [{ VIDEOBOT_DEFAULT_MODEL: 'sora' }, /VIDEOBOT_DEFAULT_MODEL/],
    [{ VIDEOBOT_CHAT: 'irc' }, /VIDEOBOT_CHAT/],
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
