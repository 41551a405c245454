// Enhancer on any OpenAI-compatible chat endpoint (Ollama, vLLM, llama.cpp server, OpenAI).
import { UserFacingError } from '../core/errors.js';
import type { Enhancer } from '../core/ports.js';
import { ENHANCE_SYSTEM_PROMPT, cleanEnhancedText, enhanceUserMessage } from '../core/prompt-template.js';

export interface OpenAiEnhancerOptions {
  readonly baseUrl: string;
  readonly model: string;
  readonly apiKey?: string;
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

export class OpenAiEnhancer implements Enhancer {
  readonly name: string;

  constructor(private readonly options: OpenAiEnhancerOptions) {
    this.name = `${options.model} at ${new URL(options.baseUrl).host}`;
  }

  async enhance(prompt: string): Promise<string> {
    const url = `${this.options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    let response: Response;
    try {
      response = await (this.options.fetch ?? fetch)(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        },
        body: JSON.stringify({
          model: this.options.model,
          temperature: 0.2,
          max_tokens: 400,
          messages: [
            { role: 'system', content: ENHANCE_SYSTEM_PROMPT },
            { role: 'user', content: enhanceUserMessage(prompt) },
          ],
        }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 60_000),
      });
    } catch (err) {
      throw new UserFacingError('ENHANCER_FAILED', `The prompt enhancer at ${new URL(url).host} did not answer. Your original prompt still works.`, { cause: err });
    }
    if (response.status === 429) {
      throw new UserFacingError('ENHANCER_FAILED', 'The prompt enhancer is busy (rate limited). Try again in a moment, or use your prompt as it is.');
    }
    if (response.status === 401 || response.status === 403) {
      throw new UserFacingError('ENHANCER_FAILED', 'The prompt enhancer refused the bot’s credentials (check OPENAI_API_KEY). Your original prompt still works.');
    }
    if (!response.ok) {
      throw new UserFacingError('ENHANCER_FAILED', `The prompt enhancer failed (HTTP ${response.status}). Your original prompt still works.`);
    }
    const body = (await response.json().catch(() => undefined)) as
      | { choices?: { message?: { content?: string }; finish_reason?: string }[] }
      | undefined;
    const choice = body?.choices?.[0];
    const text = cleanEnhancedText(choice?.message?.content ?? '');
    if (!text) throw new UserFacingError('ENHANCER_FAILED', 'The prompt enhancer returned nothing. Your original prompt still works.');
    if (choice?.finish_reason === 'length') {
      throw new UserFacingError('ENHANCER_FAILED', 'The enhanced prompt came back cut off (too long). Try again, or use your prompt as it is.');
    }
    return text;
  }
}
