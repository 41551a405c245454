// Builds what a chat shows for a job (StatusView) and plain-text renderings shared by adapters.
import { failureMessage } from './errors.js';
import type { Job } from './job.js';
import { isFinal } from './job.js';
import { getPreset } from './presets.js';
import type { StatusView } from './ports.js';

export function progressBar(step: number, total: number, width = 20): string {
  const ratio = total > 0 ? Math.min(1, Math.max(0, step / total)) : 0;
  const filled = Math.round(ratio * width);
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

export function describeJob(job: Job, queuePosition?: number): StatusView {
  const base = { jobId: job.id, state: job.state, final: isFinal(job.state), ...(job.source ? { builtFrom: job.source.kind } : {}) };
  const live = !isFinal(job.state);
  const canCancel = live && job.state !== 'uploading';
  const p = job.progress;
  switch (job.state) {
    case 'queued':
      return {
        ...base,
        headline: queuePosition && queuePosition > 1 ? `Queued — position ${queuePosition}` : 'Queued — next up',
        ...(queuePosition ? { queuePosition } : {}),
        canCancel,
        canRetry: false,
      };
    case 'enhancing':
      return { ...base, headline: 'Enhancing the prompt…', canCancel, canRetry: false };
    case 'submitting':
    case 'starting':
      return { ...base, headline: p?.phase === 'loading' ? 'Loading the model…' : 'Starting…', canCancel, canRetry: false };
    case 'running': {
      if (!p || p.total <= 0) return { ...base, headline: 'Generating…', canCancel, canRetry: false };
      const eta = p.etaS !== null && p.etaS !== undefined ? ` · about ${formatDuration(p.etaS)} left` : '';
      return {
        ...base,
        headline: `Generating — step ${p.step}/${p.total}${eta}`,
        progress: { step: p.step, total: p.total, bar: progressBar(p.step, p.total), etaS: p.etaS },
        canCancel,
        canRetry: false,
      };
    }
    case 'encoding':
      return { ...base, headline: p?.phase === 'decoding' ? 'Decoding frames…' : 'Encoding the MP4…', canCancel, canRetry: false };
    case 'uploading':
      return { ...base, headline: 'Uploading the video…', canCancel: false, canRetry: false };
    case 'delivered':
      return { ...base, headline: 'Done', detail: summary(job), canCancel: false, canRetry: false };
    case 'cancelled':
      return { ...base, headline: 'Cancelled', canCancel: false, canRetry: true };
    case 'failed': {
      const f = job.failure;
      return {
        ...base,
        headline: `Failed: ${failureMessage(f?.code ?? 'INTERNAL_ERROR', f?.message)}`,
        canCancel: false,
        canRetry: f?.retryable ?? true,
      };
    }
  }
}

/** A button a status message can offer; each adapter maps it to its platform's button. */
export type StatusAction = 'cancel' | 'retry' | 'regenerate' | 'editPrompt' | 'extend' | 'details';

/**
 * The buttons that fit a job's state, in the order shown, the same on every platform: Cancel while it
 * can be cancelled; Regenerate after a delivery; Retry after a failure or cancellation where a retry
 * makes sense; Edit prompt once it has ended; Extend (continue from the last frame) after a delivery; Details always.
 * A combined video has no prompt or model of its own: only Retry (join the same clips again) and Details.
 */
export function statusActions(view: StatusView): StatusAction[] {
  if (!view.final) return view.canCancel ? ['cancel', 'details'] : ['details'];
  if (view.builtFrom === 'combine') return view.state !== 'delivered' && view.canRetry ? ['retry', 'details'] : ['details'];
  if (view.state === 'delivered') return ['regenerate', 'editPrompt', 'extend', 'details'];
  return view.canRetry ? ['retry', 'editPrompt', 'details'] : ['editPrompt', 'details'];
}

const KIB = 1024;
const MIB = 1024 * 1024;

/**
 * "512 KiB", "10 MiB", "10.01 MiB". Rounded up, so a size just over a limit never reads the same as the limit
 * ("10 MiB, over the 10 MiB limit").
 */
export function formatBytes(bytes: number): string {
  if (bytes < MIB) return `${Math.max(1, Math.ceil(bytes / KIB))} KiB`;
  return `${(Math.ceil((bytes / MIB) * 100) / 100).toFixed(2).replace(/\.?0+$/, '')} MiB`;
}

/** "CogVideoX-5B · seed 42 · 49 frames @ 8 fps · 720×480 · 50 steps" */
export function summary(job: Job): string {
  const p = job.params;
  if (job.source?.kind === 'combine') return `${job.source.clipIds.length} clips joined · ${p.frames} frames @ ${p.fps} fps · ${p.width}×${p.height}`;
  const preset = getPreset(p.model);
  const label = preset?.testOnly ? `${p.model} (test model — random noise)` : (preset?.label ?? p.model);
  // An extension's video is its clip plus the continuation from its second frame (the first is the clip's last).
  const frames = job.source?.kind === 'extend' ? `job ${job.source.parentId} + ${p.frames - 1} frames` : `${p.frames} frames`;
  return `${label} · seed ${p.seed} · ${frames} @ ${p.fps} fps · ${p.width}×${p.height} · ${p.steps} steps · guidance ${p.guidance}`;
}

/** Parameters, seed and timings, for a "Details" view. */
export function details(job: Job): string {
  const p = job.params;
  const lines = [
    `Job ${job.id} — ${job.state}`,
    ...(job.state === 'failed' ? [`Why it failed: ${printable(failureMessage(job.failure?.code ?? 'INTERNAL_ERROR', job.failure?.message))}`] : []),
    `Prompt: ${printable(p.prompt)}`,
    ...(p.prompt !== job.originalPrompt ? [`Original prompt: ${printable(job.originalPrompt)}`] : []),
    ...(p.negativePrompt ? [`Negative: ${printable(p.negativePrompt)}`] : []),
    ...(job.source?.kind === 'extend' ? [`Continues job ${job.source.parentId} from its last frame (extension ${job.source.extensions})`] : []),
    ...(job.source?.kind === 'combine' ? [`Joins jobs ${job.source.clipIds.join(', ')}, in this order`] : []),
    summary(job),
  ];
  const timings = job.result?.metadata?.timings_s as Record<string, number> | undefined;
  if (timings && typeof timings === 'object') {
    lines.push(
      'Timings: ' +
        Object.entries(timings)
          .filter(([, v]) => typeof v === 'number')
          .map(([k, v]) => `${k} ${v.toFixed(1)}s`)
          .join(', '),
    );
  }
  if (job.finishedAt) lines.push(`Total: ${formatDuration((job.finishedAt - job.createdAt) / 1000)}`);
  return lines.join('\n');
}

/** Control characters, and the bidi controls that reorder a line. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * User text made safe to echo: control characters and escape sequences are shown as `\x1b`, `\n`, `\u202e`
 * instead of being obeyed by the terminal (a prompt could otherwise clear the screen or rewrite earlier lines).
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.codePointAt(0)!;
    return NAMED[c] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}
