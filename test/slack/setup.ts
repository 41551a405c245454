// Wires the real Slack adapter (real Bolt) to a real JobService (test harness) and the fake Slack.
import { createSlackAdapter, type SlackAdapter, type SlackAdapterOptions } from '../../bot/chat/slack.js';
import type { Job } from '../../bot/core/job.js';
import type { JobServiceDeps } from '../../bot/core/service.js';
import type { Runner } from '../../bot/core/ports.js';
import type { FsObjectStore } from '../../bot/local/files.js';
import { createHarness, eventually, testLogger, type Harness } from '../support/harness.js';
import { FakeSlack, type StoredMessage } from './fake-slack.js';
import { SlackSender } from './payloads.js';

export const BOT_TOKEN = 'xoxb-test-bot-token';
export const APP_TOKEN = 'xapp-1-test-app-token';
export const SIGNING_SECRET = 'test-signing-secret-0123456789';
export const ALICE = { user: 'U0ALICE', channel: 'C0GENERAL' };
export const BOB = { user: 'U0BOB', channel: 'C0GENERAL' };

export interface SlackWorld {
  readonly fake: FakeSlack;
  readonly adapter: SlackAdapter;
  readonly h: Harness;
  /** HTTP mode only. */
  readonly slack: SlackSender;
  close(): Promise<void>;
}

export async function startWorld(
  options: { mode?: 'http' | 'socket'; service?: Partial<JobServiceDeps>; makeRunner?: (objects: FsObjectStore) => Runner; adapter?: Partial<SlackAdapterOptions> } = {},
): Promise<SlackWorld> {
  const mode = options.mode ?? 'http';
  const fake = await FakeSlack.start({ botToken: BOT_TOKEN, appToken: APP_TOKEN });
  const adapter = createSlackAdapter({
    botToken: BOT_TOKEN,
    appToken: APP_TOKEN,
    signingSecret: SIGNING_SECRET,
    mode,
    port: 0,
    apiUrl: fake.apiUrl,
    logger: testLogger(),
    ...options.adapter,
  });
  const h = await createHarness([adapter.surface], { ...options.service, ...(options.makeRunner ? { makeRunner: options.makeRunner } : {}) });
  await adapter.start(h.service);
  const slack = new SlackSender(`http://127.0.0.1:${adapter.httpPort() ?? 0}/slack/events`, SIGNING_SECRET);
  return {
    fake,
    adapter,
    h,
    slack,
    async close() {
      await adapter.stop();
      await h.close();
      await fake.close();
    },
  };
}

/** Waits for the runner to receive the n-th job (1-based) and returns it. */
export function nthSubmitted(w: SlackWorld, n = 1): Promise<Job> {
  return eventually(() => w.h.runner.submitted[n - 1], 5000, `job ${n} to reach the runner`);
}

/** The status message the adapter posted for a job. */
export function statusMessageOf(w: SlackWorld, job: Job): StoredMessage {
  const ts = job.conversation.statusMessageId;
  const message = ts ? w.fake.messages.get(ts) : undefined;
  if (!message) throw new Error(`no status message for ${job.id}`);
  return message;
}

/** action_ids of the buttons on a message. */
export function buttonsOf(message: { blocks?: any[] } | undefined): string[] {
  return (message?.blocks ?? []).filter((b) => b.type === 'actions').flatMap((b) => b.elements.map((e: any) => e.action_id as string));
}
