// GuardrailModerator with the real Bedrock Runtime client against the loopback ApplyGuardrail fake, alone and as the
// job service's moderator (the prompt at submit, before enhancement, and the enhanced prompt).
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAwsBackend } from '../../bot/aws/backend.js';
import { GuardrailModerator, UNAVAILABLE_TEXT } from '../../bot/aws/guardrail.js';
import { loadConfig } from '../../bot/config.js';
import { awsSettings } from '../../bot/main.js';
import type { Logger } from '../../bot/core/ports.js';
import { createHarness, eventually, testLogger, type Harness } from '../support/harness.js';
import { FakeBedrock } from './fake-bedrock.js';
import { REGION, useDummyCredentials } from './moto.js';
import { QuietChat } from '../support/recording-chat.js';

/** Keeps what is logged, to check the operator's alert (and that the prompt is not in it). */
function recordingLogger(lines: Record<string, unknown>[]): Logger {
  const log = (level: string) => (obj: object | string, msg?: string) => void lines.push({ level, ...(typeof obj === 'string' ? { msg: obj } : { ...obj, msg }) });
  const logger: Logger = { info: log('info'), warn: log('warn'), error: log('error'), debug: log('debug'), child: () => logger };
  return logger;
}

describe('GuardrailModerator', () => {
  let fake: FakeBedrock;
  let client: BedrockRuntimeClient;
  const guardrail = { id: 'gr0abc123', version: '1' };

  beforeAll(async () => {
    useDummyCredentials();
    fake = new FakeBedrock();
    await fake.start();
    client = new BedrockRuntimeClient({ region: REGION, endpoint: fake.url, maxAttempts: 1 });
  });
  beforeEach(() => {
    fake.guardrailRequests.length = 0;
    fake.guardrailFailures = [];
  });
  afterAll(async () => {
    client?.destroy();
    await fake?.stop();
  });

  it('sends the text as INPUT to the configured guardrail and version, and allows on NONE', async () => {
    const moderator = new GuardrailModerator({ client, guardrail, logger: testLogger() });
    expect(await moderator.check('a bee on a sunflower', { stage: 'prompt' })).toEqual({ allowed: true });
    expect(fake.guardrailRequests).toEqual([{ id: 'gr0abc123', version: '1', body: { source: 'INPUT', content: [{ text: { text: 'a bee on a sunflower' } }] } }]);
    expect(moderator.name).toBe('guardrail gr0abc123:1');
  });

  it('refuses on GUARDRAIL_INTERVENED with the guardrail\'s blocked-input message, naming what it found for the log', async () => {
    const moderator = new GuardrailModerator({ client, guardrail, logger: testLogger() });
    expect(await moderator.check('a castle in DragonFire', { stage: 'enhanced' })).toEqual({
      allowed: false,
      reason: 'word BLOCKED',
      message: 'This workspace does not allow that topic.',
    });
  });

  it.each([
    ['AccessDeniedException', 403],
    ['ThrottlingException', 429],
  ])('lets nothing through unchecked when ApplyGuardrail fails (%s), with an operator alert', async (error, status) => {
    const lines: Record<string, unknown>[] = [];
    fake.guardrailFailures = [{ error, status }];
    const moderator = new GuardrailModerator({ client, guardrail, logger: recordingLogger(lines) });
    await expect(moderator.check('a secret plan', { stage: 'prompt' })).rejects.toMatchObject({ code: 'MODERATION_UNAVAILABLE', message: UNAVAILABLE_TEXT });
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', alert: 'MODERATION_UNAVAILABLE', error }));
    expect(JSON.stringify(lines)).not.toContain('a secret plan');
  });

  it('fails the same way for a guardrail version that does not exist', async () => {
    const moderator = new GuardrailModerator({ client, guardrail: { id: 'gr0abc123', version: '7' }, logger: testLogger() });
    await expect(moderator.check('a bee', { stage: 'prompt' })).rejects.toMatchObject({ code: 'MODERATION_UNAVAILABLE' });
  });

  it('is the AWS backend\'s moderator whenever BEDROCK_GUARDRAIL_ID is set, whichever enhancer is used', async () => {
    const env = (extra: Record<string, string>) =>
      loadConfig({
        VIDEOBOT_BACKEND: 'aws',
        AWS_REGION: REGION,
        VIDEOBOT_INPUT_BUCKET: 'in',
        VIDEOBOT_OUTPUT_BUCKET: 'out',
        VIDEOBOT_JOB_TABLE: 'jobs',
        VIDEOBOT_EVENTS_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/events',
        VIDEOBOT_MODEL_CACHE_URI: 's3://in/models',
        SAGEMAKER_ROLE_ARN: 'arn:aws:iam::123456789012:role/videobot-processing',
        SAGEMAKER_IMAGE_URI: '123456789012.dkr.ecr.us-east-1.amazonaws.com/videobot-processing:abc',
        SAGEMAKER_SUBNETS: 'subnet-1',
        SAGEMAKER_SECURITY_GROUPS: 'sg-1',
        VIDEOBOT_ENHANCER: 'off',
        ...extra,
      });
    const without = createAwsBackend(awsSettings(env({})), testLogger(), { endpoints: { bedrock: fake.url }, consumeEvents: false });
    expect(without.moderators).toEqual([]);
    await without.close();
    const backend = createAwsBackend(awsSettings(env({ BEDROCK_GUARDRAIL_ID: 'gr0abc123', BEDROCK_GUARDRAIL_VERSION: '1' })), testLogger(), {
      endpoints: { bedrock: fake.url },
      consumeEvents: false,
      maxAttempts: 1,
    });
    expect(backend.moderators.map((m) => m.name)).toEqual(['guardrail gr0abc123:1']);
    expect(await backend.moderators[0]!.check('dragonfire', { stage: 'prompt' })).toMatchObject({ allowed: false });
    await backend.close();
  });

  describe('as the job service\'s moderator', () => {
    let h: Harness;
    let chat: QuietChat;
    afterEach(async () => h?.close());
    const alice = { platform: 'test' as const, userId: 'alice' };
    const conversation = { platform: 'test' as const, channelId: 'C1' };

    it('checks the prompt at submit, before enhancement, and the enhanced prompt; a refusal is private and counted', async () => {
      const enhanced: string[] = [];
      chat = new QuietChat();
      h = await createHarness([chat], {
        moderators: [new GuardrailModerator({ client, guardrail, logger: testLogger() })],
        enhancer: { name: 'fake', enhance: async (p) => (enhanced.push(p), `${p}, bathed in dragonfire`) },
      });
      await expect(h.service.submit({ requester: alice, conversation, request: { prompt: 'dragonfire!' } })).rejects.toMatchObject({
        code: 'PROMPT_REFUSED',
        message: 'This workspace does not allow that topic.',
      });
      expect(chat.announced).toEqual([]);
      await expect(h.service.enhance('dragonfire')).rejects.toMatchObject({ code: 'PROMPT_REFUSED' });
      expect(enhanced).toEqual([]);

      // Allowed as typed; the enhancer's rewrite is refused, so the job runs on the prompt as typed.
      const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'a knight', enhance: true } });
      const submitted = await eventually(() => h.runner.submitted.find((j) => j.id === job.id), 5000, 'the job to reach the runner');
      expect(submitted.params.prompt).toBe('a knight');
      expect(fake.guardrailRequests.map((r) => r.body.content[0].text.text)).toEqual([
        'dragonfire!',
        'dragonfire',
        'a knight', // at submit
        'a knight', // before enhancement
        'a knight, bathed in dragonfire',
      ]);
      expect(await h.store.refusalCount()).toBe(3);
    });
  });
});
