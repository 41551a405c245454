// Wiring shared by the Discord suites: the fake Discord, the real adapter (discord.js), and a real JobService.
import type { ChatAdapter } from '../../bot/chat/adapter.js';
import { createDiscordAdapter, type DiscordAdapterOptions } from '../../bot/chat/discord.js';
import type { JobServiceDeps } from '../../bot/core/service.js';
import { createHarness, eventually, testLogger, type Harness } from '../support/harness.js';
import { FakeDiscord, TOKEN, type FakeMessage } from './fake-discord.js';

export interface DiscordWorld {
  readonly fake: FakeDiscord;
  readonly adapter: ChatAdapter;
  readonly h: Harness;
  close(): Promise<void>;
}

/**
 * Status edits per channel in these suites: Discord's 5, over a quarter of a second instead of 5.25 s, so a test waits
 * for no rate window; the shared budget itself (and its 5-second default) is tested in edit-budget.test.ts.
 */
export const TEST_CHANNEL_EDITS = { edits: 5, windowMs: 250 } as const;

export async function startWorld(
  options: Partial<DiscordAdapterOptions> = {},
  service: Parameters<typeof createHarness>[1] & Partial<JobServiceDeps> = {},
): Promise<DiscordWorld> {
  const fake = await FakeDiscord.start();
  const adapter = createDiscordAdapter({ token: TOKEN, applicationId: fake.applicationId, apiUrl: fake.apiUrl, logger: testLogger(), channelEdits: TEST_CHANNEL_EDITS, ...options });
  const h = await createHarness([adapter.surface], service);
  await adapter.start(h.service);
  return {
    fake,
    adapter,
    h,
    async close() {
      await adapter.stop();
      await h.close();
      await fake.close();
    },
  };
}

/** Waits for the interaction's ephemeral reply to say the job started; returns the job id and its status message. */
export async function startedJob(w: DiscordWorld, interactionId: string): Promise<{ jobId: string; status: FakeMessage }> {
  const reply = await eventually(() => {
    const m = w.fake.originalOf(interactionId);
    return m?.content ? m : undefined;
  }, 10_000, 'the interaction reply');
  const jobId = reply.content.match(/Started job (\S+?)\./)?.[1];
  if (!jobId) throw new Error(`expected "Started job", got: ${reply.content}`);
  const job = await w.h.service.get(jobId);
  const status = w.fake.messages.get(job!.conversation.statusMessageId!);
  if (!status) throw new Error('no status message');
  return { jobId, status };
}

/** Text of all non-webhook messages posted in a thread or channel. */
export function postedIn(fake: FakeDiscord, channelId: string): FakeMessage[] {
  return fake.channelMessages(channelId);
}

export function buttonIds(message: FakeMessage): string[] {
  return message.components.flatMap((row: any) => row.components.map((c: any) => c.custom_id));
}

export const prompt = (value: string) => ({ name: 'prompt', type: 3, value });

/** The text of an interaction's (usually ephemeral) reply, once it is there. */
export async function replyText(w: DiscordWorld, interactionId: string): Promise<string> {
  return eventually(() => w.fake.originalOf(interactionId)?.content || undefined, 5000, `reply to ${interactionId}`);
}
