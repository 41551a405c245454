// No host paths in public messages (issue 13 item 8): with the local backend, a video that could not be posted is
// "saved on the bot's machine" in the channel; its file:// path goes only to the log.
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../support/harness.js';
import { slashCommand } from './payloads.js';
import { ALICE, nthSubmitted, startWorld, type SlackWorld } from './setup.js';

describe('Slack: no host paths in public messages', () => {
  let w: SlackWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  it('says a video that could not be posted is saved on the bot’s machine, without its path', async () => {
    w = await startWorld();
    const { fake, h, slack } = w;
    await slack.form(slashCommand('/video', 'a quiet harbour', ALICE, fake.responseUrl()));
    const job = await nthSubmitted(w);
    await eventually(async () => (await h.store.get(job.id))?.state === 'starting', 5000, 'starting');
    fake.failNext('files.completeUploadExternal', 'internal_error');
    await h.runner.complete(job.id);
    const failed = await eventually(async () => {
      const j = await h.store.get(job.id);
      return j?.state === 'failed' ? j : undefined;
    }, 5000, 'the failed delivery');
    expect(failed.failure?.code).toBe('DELIVERY_FAILED');
    const reply = await eventually(() => fake.callsTo('chat.postMessage').find((c) => c.args.thread_ts === job.conversation.threadId), 5000, 'the failure reply');
    expect(JSON.stringify(reply.args)).toContain("it is saved on the bot's machine");
    // Everything the bot wrote into Slack: no file:// URL, no folder of this machine.
    const written = ['chat.postMessage', 'chat.update', 'files.completeUploadExternal'].flatMap((m) => fake.callsTo(m)).map((c) => JSON.stringify(c.args));
    expect(written.length).toBeGreaterThan(2);
    for (const text of written) {
      expect(text).not.toContain('file:');
      expect(text).not.toContain(h.dir);
    }
  });
});
