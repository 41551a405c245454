// Block Kit for videobot: the status card, the /enhance review card and the modals. Pure functions, no I/O.
import type { types } from '@slack/bolt';
import type { Job } from '../../core/job.js';
import type { EnhancedPrompt } from '../../core/service.js';
import type { StatusView } from '../../core/ports.js';
import { details, statusActions, summary, type StatusAction } from '../../core/status.js';

type Block = types.KnownBlock;

/** action_id of every button; the value is a job id unless said otherwise. */
export const ACTION = {
  cancel: 'videobot_cancel',
  retry: 'videobot_retry',
  regenerate: 'videobot_regenerate',
  editPrompt: 'videobot_edit_prompt',
  extend: 'videobot_extend',
  details: 'videobot_details',
  /** Value: the enhanced prompt. */
  enhanceGenerate: 'videobot_enhance_generate',
  /** Value: the enhanced prompt. */
  enhanceEdit: 'videobot_enhance_edit',
  /** Value: the prompt as the user typed it. */
  enhanceAgain: 'videobot_enhance_again',
} as const;

export const PROMPT_VIEW = 'videobot_prompt';
export const DETAILS_VIEW = 'videobot_details';
export const ANIMATE_SHORTCUT = 'animate_with_videobot';
/** The message shortcut "Combine thread videos" (slack/manifest.yaml): a slash command carries no thread, a shortcut does. */
export const COMBINE_SHORTCUT = 'combine_thread_videos';
export const PROMPT_BLOCK = 'prompt';
export const PROMPT_INPUT = 'text';

/** Slack caps a plain_text_input at 3000 characters. */
const SLACK_INPUT_MAX = 3000;
/** Slack caps button values at 2000 characters. */
const MAX_VALUE = 2000;
const MAX_SECTION = 2900;

/** What the prompt modal does on submit; travels in the view's private_metadata. */
export type PromptModal =
  | { readonly kind: 'new'; readonly channel: string; readonly thread?: string }
  | { readonly kind: 'edit'; readonly jobId: string }
  | { readonly kind: 'extend'; readonly jobId: string }
  | { readonly kind: 'animate'; readonly channel: string; readonly thread: string; readonly file: SlackFileRef };

export interface SlackFileRef {
  readonly id?: string;
  readonly name?: string;
  readonly size?: number;
  readonly mimetype?: string;
  readonly url: string;
}

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
export function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function quote(text: string, max = 600): string {
  return clip(escape(text), max)
    .split('\n')
    .map((line) => `>${line}`)
    .join('\n');
}

const ICON: Record<string, string> = {
  queued: ':hourglass_flowing_sand:',
  enhancing: ':sparkles:',
  submitting: ':rocket:',
  starting: ':rocket:',
  running: ':clapper:',
  encoding: ':film_frames:',
  uploading: ':outbox_tray:',
  delivered: ':white_check_mark:',
  failed: ':warning:',
  cancelled: ':no_entry_sign:',
};

function button(text: string, actionId: string, value: string, style?: 'primary' | 'danger'): types.Button {
  return { type: 'button', text: { type: 'plain_text', text, emoji: true }, action_id: actionId, value: value.slice(0, MAX_VALUE), ...(style ? { style } : {}) };
}

const STATUS_BUTTON: Record<StatusAction, (jobId: string) => types.Button> = {
  cancel: (id) => button('Cancel', ACTION.cancel, id, 'danger'),
  retry: (id) => button('Retry', ACTION.retry, id, 'primary'),
  regenerate: (id) => button('Regenerate', ACTION.regenerate, id, 'primary'),
  editPrompt: (id) => button('Edit prompt', ACTION.editPrompt, id),
  extend: (id) => button('Extend', ACTION.extend, id),
  details: (id) => button('Details', ACTION.details, id),
};

/** The status card: edited in place from "Queued" to "Done", with the buttons that fit the state. */
export function statusMessage(job: Job, view: StatusView): { text: string; blocks: Block[] } {
  const lines = [`${ICON[view.state] ?? ''} *${escape(view.headline)}*`];
  if (view.progress) lines.push(`\`${view.progress.bar}\` ${view.progress.step}/${view.progress.total}`);
  if (view.state === 'delivered') lines.push('The video is in the thread.');
  const blocks: Block[] = [
    { type: 'section', text: { type: 'mrkdwn', text: clip(lines.join('\n'), MAX_SECTION) } },
    { type: 'section', text: { type: 'mrkdwn', text: quote(job.params.prompt) } },
    {
      type: 'context',
      elements: [{ type: 'mrkdwn', text: clip(`<@${job.requester.userId}> · ${escape(summary(job))} · job \`${job.id}\``, MAX_SECTION) }],
    },
  ];
  const buttons = statusActions(view).map((action) => STATUS_BUTTON[action](job.id));
  if (buttons.length > 0) blocks.push({ type: 'actions', block_id: `job:${job.id}`, elements: buttons });
  return { text: view.progress ? `${view.headline} ${view.progress.bar}` : view.headline, blocks };
}

/** The thread reply for a failed job: it notifies the requester, which an edit does not. */
export function failureMessage(job: Job, view: StatusView): { text: string; blocks: Block[] } {
  const text = `<@${job.requester.userId}> ${escape(view.headline)}`;
  const blocks: Block[] = [{ type: 'section', text: { type: 'mrkdwn', text: clip(`:warning: ${text}`, MAX_SECTION) } }];
  if (view.canRetry) blocks.push({ type: 'actions', elements: [button('Retry', ACTION.retry, job.id, 'primary'), button('Edit prompt', ACTION.editPrompt, job.id)] });
  return { text, blocks };
}

/** The comment posted with the MP4: who asked, the prompt, model and seed. */
export function videoComment(job: Job): string {
  return `<@${job.requester.userId}> “${clip(job.params.prompt, 1500)}”\n${summary(job)}`;
}

/** The /enhance review card: the enhanced prompt and [Generate] [Edit & generate] [Enhance again]. */
export function enhanceMessage(original: string, enhanced: EnhancedPrompt): { text: string; blocks: Block[] } {
  const notes = [enhanced.warning ? `:warning: ${escape(enhanced.warning)}` : `About ${enhanced.tokens} of ${enhanced.limit} tokens.`];
  if (enhanced.text.length > MAX_VALUE) notes.push(`The buttons carry the first ${MAX_VALUE} characters.`);
  return {
    text: `Enhanced prompt: ${enhanced.text}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*Enhanced prompt*\n${quote(enhanced.text, MAX_SECTION - 40)}` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: notes.join(' ') }] },
      {
        type: 'actions',
        block_id: 'enhance',
        elements: [
          button('Generate', ACTION.enhanceGenerate, enhanced.text, 'primary'),
          button('Edit & generate', ACTION.enhanceEdit, enhanced.text),
          button('Enhance again', ACTION.enhanceAgain, original),
        ],
      },
    ],
  };
}

const TITLES: Record<PromptModal['kind'], string> = { new: 'Make a video', edit: 'Edit prompt', extend: 'Extend video', animate: 'Animate image' };
const LABELS: Record<PromptModal['kind'], string> = {
  new: 'Prompt',
  edit: 'Prompt',
  extend: 'What happens next? (the clip continues from its last frame)',
  animate: 'How should the image move?',
};

/** A modal with one prompt field, pre-filled; its submission is handled in views.ts. */
export function promptModal(meta: PromptModal, initial: string): types.ModalView {
  return {
    type: 'modal',
    callback_id: PROMPT_VIEW,
    private_metadata: JSON.stringify(meta),
    title: { type: 'plain_text', text: TITLES[meta.kind] },
    submit: { type: 'plain_text', text: 'Generate' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      {
        type: 'input',
        block_id: PROMPT_BLOCK,
        label: { type: 'plain_text', text: LABELS[meta.kind] },
        // Edit prompt and Extend keep the earlier job's settings (only the prompt changes), so options are offered only for new videos.
        ...(meta.kind === 'edit' || meta.kind === 'extend' ? {} : { hint: { type: 'plain_text' as const, text: 'Options such as --seed 42 or --frames 49 work here too.' } }),
        element: {
          type: 'plain_text_input',
          action_id: PROMPT_INPUT,
          multiline: true,
          // Slack's own cap for the box, not the prompt limit (processing/limits.json): the box also holds options.
          max_length: SLACK_INPUT_MAX,
          ...(initial ? { initial_value: clip(initial, SLACK_INPUT_MAX) } : {}),
        },
      },
    ],
  };
}

export function detailsModal(job: Job): types.ModalView {
  return {
    type: 'modal',
    callback_id: DETAILS_VIEW,
    title: { type: 'plain_text', text: 'Video details' },
    close: { type: 'plain_text', text: 'Close' },
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '```' + clip(details(job).replace(/```/g, "'''"), MAX_SECTION - 6) + '```' } }],
  };
}
