// A Moderator on Amazon Bedrock Guardrails' ApplyGuardrail: the prompt (and the enhanced prompt) checked as INPUT
// against a configured guardrail, without calling any model.
import { ApplyGuardrailCommand, type ApplyGuardrailCommandOutput, type BedrockRuntimeClient, type GuardrailAssessment } from '@aws-sdk/client-bedrock-runtime';
import { UserFacingError } from '../core/errors.js';
import type { Logger, ModerationContext, ModerationVerdict, Moderator } from '../core/ports.js';
import { awsErrorName } from './clients.js';

export interface GuardrailModeratorOptions {
  readonly client: BedrockRuntimeClient;
  /** BEDROCK_GUARDRAIL_ID and BEDROCK_GUARDRAIL_VERSION (a number, or DRAFT). */
  readonly guardrail: { readonly id: string; readonly version: string };
  readonly logger: Logger;
  readonly timeoutMs?: number;
}

export const UNAVAILABLE_TEXT = 'The content check is not available right now, so nothing was started. Try again in a minute.';

export class GuardrailModerator implements Moderator {
  readonly name: string;

  constructor(private readonly options: GuardrailModeratorOptions) {
    this.name = `guardrail ${options.guardrail.id}:${options.guardrail.version}`;
  }

  /**
   * GUARDRAIL_INTERVENED refuses, with the guardrail's own blocked-input message as what the person reads; NONE allows.
   * When the guardrail cannot be asked (throttled, no permission, a wrong id) nothing is let through unchecked: the
   * request is refused as "not available right now" and the operator gets an alert in the log.
   */
  async check(text: string, context: ModerationContext): Promise<ModerationVerdict> {
    const { id, version } = this.options.guardrail;
    let out: ApplyGuardrailCommandOutput;
    try {
      out = await this.options.client.send(
        new ApplyGuardrailCommand({ guardrailIdentifier: id, guardrailVersion: version, source: 'INPUT', content: [{ text: { text } }] }),
        { abortSignal: AbortSignal.timeout(this.options.timeoutMs ?? 15_000) },
      );
    } catch (err) {
      this.options.logger.error(
        { alert: 'MODERATION_UNAVAILABLE', guardrail: this.name, stage: context.stage, error: awsErrorName(err) ?? (err as Error).name },
        'ApplyGuardrail failed; refusing the request unchecked',
      );
      throw new UserFacingError('MODERATION_UNAVAILABLE', UNAVAILABLE_TEXT, { cause: err });
    }
    if (out.action !== 'GUARDRAIL_INTERVENED') return { allowed: true };
    const message = (out.outputs ?? []).map((o) => o.text ?? '').join(' ').trim();
    return { allowed: false, reason: findings(out.assessments ?? []) || out.actionReason || 'intervened', ...(message ? { message } : {}) };
  }
}

/** "topic Violence BLOCKED, content VIOLENCE BLOCKED": what the guardrail found, for the log (never the text itself). */
export function findings(assessments: readonly GuardrailAssessment[]): string {
  const found: string[] = [];
  for (const a of assessments) {
    for (const t of a.topicPolicy?.topics ?? []) found.push(`topic ${t.name} ${t.action}`);
    for (const f of a.contentPolicy?.filters ?? []) found.push(`content ${f.type} ${f.action}`);
    for (const w of a.wordPolicy?.customWords ?? []) found.push(`word ${w.action}`);
    for (const w of a.wordPolicy?.managedWordLists ?? []) found.push(`${w.type ?? 'managed'} word ${w.action}`);
    for (const p of a.sensitiveInformationPolicy?.piiEntities ?? []) found.push(`pii ${p.type} ${p.action}`);
    for (const r of a.sensitiveInformationPolicy?.regexes ?? []) found.push(`regex ${r.name ?? ''} ${r.action}`.replace('  ', ' '));
  }
  return found.join(', ');
}
