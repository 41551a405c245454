// BedrockEnhancer with the real Bedrock Runtime client against a loopback Converse fake.
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BedrockEnhancer } from '../../bot/aws/bedrock.js';
import { ENHANCE_SYSTEM_PROMPT } from '../../bot/core/prompt-template.js';
import { FakeBedrock } from './fake-bedrock.js';
import { REGION, useDummyCredentials } from './moto.js';

const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';

describe('BedrockEnhancer', () => {
  let fake: FakeBedrock;
  let client: BedrockRuntimeClient;

  beforeAll(async () => {
    useDummyCredentials();
    fake = new FakeBedrock();
    await fake.start();
    // One attempt: throttling is retried by the SDK otherwise, which only slows the test.
    client = new BedrockRuntimeClient({ region: REGION, endpoint: fake.url, maxAttempts: 1 });
  });
  beforeEach(() => {
    fake.requests.length = 0;
  });
  afterAll(async () => {
    client?.destroy();
    await fake?.stop();
  });

  it('sends the shared template with low temperature and the guardrail, and cleans the answer', async () => {
    fake.replies = [{ text: 'Enhanced prompt: "A bee lands on a sunflower,\nslow dolly-in."' }];
    const enhancer = new BedrockEnhancer({ client, modelId: MODEL, guardrail: { id: 'gr-1', version: '3' } });
    expect(await enhancer.enhance('a bee')).toBe('A bee lands on a sunflower, slow dolly-in.');
    expect(enhancer.name).toBe(`Bedrock ${MODEL}`);
    const { modelId, body } = fake.requests[0]!;
    expect(modelId).toBe(MODEL);
    expect(body).toEqual({
      system: [{ text: ENHANCE_SYSTEM_PROMPT }],
      messages: [{ role: 'user', content: [{ text: 'Prompt: a bee' }] }],
      inferenceConfig: { temperature: 0.2, maxTokens: 400 },
      guardrailConfig: { guardrailIdentifier: 'gr-1', guardrailVersion: '3' },
    });
  });

  const cases: [string, FakeBedrock['replies'][number], RegExp][] = [
    ['max_tokens', { text: 'A bee lands on', stopReason: 'max_tokens' }, /cut off.*original prompt still works/i],
    ['guardrail_intervened', { text: 'Sorry, blocked.', stopReason: 'guardrail_intervened' }, /content filter blocked this prompt/],
    ['ThrottlingException', { error: 'ThrottlingException', status: 429, message: 'Too many requests' }, /busy.*throttled.*original prompt still works/],
    ['AccessDeniedException', { error: 'AccessDeniedException', status: 403, message: 'no access' }, /not allowed.*access denied.*original prompt still works/],
    ['ValidationException', { error: 'ValidationException', status: 400, message: 'bad model' }, /BEDROCK_MODEL_ID/],
    ['an empty answer', { text: '   ' }, /returned nothing/],
  ];
  for (const [what, reply, message] of cases) {
    it(`turns ${what} into a clear ENHANCER_FAILED`, async () => {
      fake.replies = [reply];
      const enhancer = new BedrockEnhancer({ client, modelId: MODEL });
      await expect(enhancer.enhance('a bee')).rejects.toMatchObject({ name: 'UserFacingError', code: 'ENHANCER_FAILED', message: expect.stringMatching(message) });
      expect(fake.requests[0]?.body.guardrailConfig).toBeUndefined();
    });
  }
});
