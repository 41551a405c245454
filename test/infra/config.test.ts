// The CDK context parser: defaults, strings from `-c key=value`, and the errors that stop a bad deploy early.
import { describe, expect, it } from 'vitest';
import { InfraConfigError } from '../../infra/config.js';
import { TEST_CERTIFICATE_ARN, testConfig } from './stacks.js';

describe('parseAppConfig', () => {
  it('fills in the documented defaults', () => {
    const config = testConfig({ region: 'us-east-1' });
    expect(config).toMatchObject({
      stackPrefix: 'Videobot',
      env: { region: 'us-east-1' },
      retainData: true,
      chat: ['slack'],
      slackMode: 'socket',
      jobPrefix: 'videobot',
      instanceType: 'ml.g6e.2xlarge',
      instanceTypes: [],
      logLevel: 'info',
      bedrock: { modelId: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0' },
      retention: { inputDays: 7, outputDays: 30, noncurrentVersionDays: 1, accessLogDays: 90, logDays: 30 },
    });
    expect(config.env.account).toBeUndefined();
    expect(config.certificateArn).toBeUndefined();
  });

  it('reads comma lists and numbers given as strings', () => {
    const config = testConfig({
      chat: 'slack, discord',
      allowedUsers: 'U1,U2',
      allowedChannels: ['C1'],
      instanceTypes: 'cogvideox1.5-5b=ml.p5.4xlarge,cogvideox-2b=ml.g6.2xlarge',
      inputRetentionDays: '3',
      removalPolicy: 'destroy',
      enhancer: 'off',
    });
    expect(config.chat).toEqual(['slack', 'discord']);
    expect(config.allowedUsers).toEqual(['U1', 'U2']);
    expect(config.allowedChannels).toEqual(['C1']);
    expect(config.instanceTypes).toEqual(['cogvideox1.5-5b=ml.p5.4xlarge', 'cogvideox-2b=ml.g6.2xlarge']);
    expect(config.retention.inputDays).toBe(3);
    expect(config.retainData).toBe(false);
    expect(config.bedrock).toBeUndefined();
  });

  it('picks the Bedrock inference profile of the Region geography', () => {
    expect(testConfig({ region: 'eu-central-1' }).bedrock?.modelId).toBe('eu.anthropic.claude-sonnet-4-5-20250929-v1:0');
    expect(testConfig({ region: 'ap-northeast-1' }).bedrock?.modelId).toBe('global.anthropic.claude-sonnet-4-5-20250929-v1:0');
    expect(testConfig({ bedrockModelId: 'anthropic.claude-3-haiku-20240307-v1:0' }).bedrock?.modelId).toBe(
      'anthropic.claude-3-haiku-20240307-v1:0',
    );
  });

  it('keeps the certificate only for Slack HTTP mode', () => {
    expect(testConfig({ slackMode: 'http', certificateArn: TEST_CERTIFICATE_ARN }).certificateArn).toBe(TEST_CERTIFICATE_ARN);
    expect(testConfig({ chat: 'discord', slackMode: 'http' }).slackMode).toBeUndefined();
  });

  it.each([
    [{ slackMode: 'http' }, /certificateArn: slackMode=http needs an ACM certificate/],
    [{ slackMode: 'http', certificateArn: 'arn:aws:iam::1:role/x' }, /certificateArn: must be an ACM certificate ARN/],
    [{ jobPrefix: 'video_bot' }, /-c jobPrefix: 1-20 letters/],
    [{ chat: 'teams' }, /-c chat/],
    [{ chat: '' }, /-c chat/],
    [{ region: 'Europe' }, /-c region/],
    [{ alarmEmail: 'not-an-address' }, /-c alarmEmail/],
    [{ inputRetentionDays: '0' }, /-c inputRetentionDays/],
    [{ instanceTypes: 'cogvideox-5b' }, /-c instanceTypes: expected preset=instance-type pairs/],
    [{ instanceTypes: 'cogvideox-5b=g6e.2xlarge' }, /-c instanceTypes: "g6e.2xlarge" \(for cogvideox-5b\) is not an instance type SageMaker offers for Processing jobs; nearest valid choices: ml.g6e.2xlarge,/],
    [{ instanceTypes: 'cogvideox1.5-5b=ml.p5.48xlarge' }, /-c instanceTypes: "ml.p5.48xlarge" \(for cogvideox1.5-5b\) is not an instance type SageMaker offers for Processing jobs; nearest valid choices: ml.p5.4xlarge/],
    [{ instanceTypes: 'cogvideo-5b=ml.g6e.2xlarge' }, /-c instanceTypes: unknown preset "cogvideo-5b"/],
    [{ instanceType: 'ml.p5.48xlarge' }, /-c instanceType: "ml.p5.48xlarge" is not an instance type SageMaker offers for Processing jobs; nearest valid choices: ml.p5.4xlarge/],
    [{ bedrockGuardrailId: 'abc' }, /bedrockGuardrailVersion/],
    [{ account: '1234' }, /-c account/],
  ])('rejects %o', (context, message) => {
    expect(() => testConfig(context)).toThrow(InfraConfigError);
    expect(() => testConfig(context)).toThrow(message);
  });
});
