// Enhancer on Amazon Bedrock's Converse API (Claude by default), with the shared prompt template.
import { ConverseCommand, type BedrockRuntimeClient, type ConverseCommandInput } from '@aws-sdk/client-bedrock-runtime';
import { UserFacingError } from '../core/errors.js';
import type { Enhancer } from '../core/ports.js';
import { ENHANCE_SYSTEM_PROMPT, cleanEnhancedText, enhanceUserMessage } from '../core/prompt-template.js';
import { awsErrorName } from './clients.js';

export interface BedrockEnhancerOptions {
  readonly client: BedrockRuntimeClient;
  /** BEDROCK_MODEL_ID: a model id or an inference-profile id. */
  readonly modelId: string;
  readonly guardrail?: { readonly id: string; readonly version: string };
  readonly temperature?: number;
  readonly maxTokens?: number;
  readonly timeoutMs?: number;
}

const STILL_WORKS = 'Your original prompt still works.';

export class BedrockEnhancer implements Enhancer {
  readonly name: string;

  constructor(private readonly options: BedrockEnhancerOptions) {
    this.name = `Bedrock ${options.modelId}`;
  }

  async enhance(prompt: string): Promise<string> {
    const input: ConverseCommandInput = {
      modelId: this.options.modelId,
      system: [{ text: ENHANCE_SYSTEM_PROMPT }],
      messages: [{ role: 'user', content: [{ text: enhanceUserMessage(prompt) }] }],
      inferenceConfig: { temperature: this.options.temperature ?? 0.2, maxTokens: this.options.maxTokens ?? 400 },
      ...(this.options.guardrail
        ? { guardrailConfig: { guardrailIdentifier: this.options.guardrail.id, guardrailVersion: this.options.guardrail.version } }
        : {}),
    };
    let out;
    try {
      out = await this.options.client.send(new ConverseCommand(input), { abortSignal: AbortSignal.timeout(this.options.timeoutMs ?? 60_000) });
    } catch (err) {
      throw new UserFacingError('ENHANCER_FAILED', errorSentence(awsErrorName(err)), { cause: err });
    }
    if (out.stopReason === 'guardrail_intervened') {
      throw new UserFacingError('ENHANCER_FAILED', `The prompt enhancer's content filter blocked this prompt, so it was not enhanced. Rephrase it, or use it as it is if it follows the rules.`);
    }
    if (out.stopReason === 'max_tokens') {
      throw new UserFacingError('ENHANCER_FAILED', `The enhanced prompt came back cut off (too long). Try again; ${STILL_WORKS.toLowerCase()}`);
    }
    const text = cleanEnhancedText((out.output?.message?.content ?? []).map((block) => block.text ?? '').join(''));
    if (!text) throw new UserFacingError('ENHANCER_FAILED', `The prompt enhancer returned nothing. ${STILL_WORKS}`);
    return text;
  }
}

function errorSentence(name: string | undefined): string {
  switch (name) {
    case 'ThrottlingException':
    case 'ServiceQuotaExceededException':
      return `The prompt enhancer is busy right now (Bedrock throttled the request). Try again in a minute. ${STILL_WORKS}`;
    case 'AccessDeniedException':
      return `The bot is not allowed to use the Bedrock model for prompt enhancement (access denied; an admin must enable model access and the bot's IAM permissions). ${STILL_WORKS}`;
    case 'ResourceNotFoundException':
    case 'ValidationException':
      return `The prompt enhancer is misconfigured (check BEDROCK_MODEL_ID and the guardrail settings). ${STILL_WORKS}`;
    case 'ModelNotReadyException':
    case 'ModelTimeoutException':
    case 'ServiceUnavailableException':
    case 'TimeoutError':
    case 'AbortError':
      return `The prompt enhancer did not answer in time. Try again in a minute. ${STILL_WORKS}`;
    default:
      return `The prompt enhancer failed. ${STILL_WORKS}`;
  }
}
