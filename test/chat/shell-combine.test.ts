// The terminal chat's /combine with no ids: this session's finished videos, oldest first (bot/chat/shell.ts).
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createShellAdapter } from '../../bot/chat/shell.js';
import { createHarness, eventually, testLogger, type Harness } from '../support/harness.js';

describe('terminal chat: /combine with no ids', () => {
  let h: Harness;
  const inputs: PassThrough[] = [];
  afterEach(async () => {
    for (const input of inputs.splice(0)) input.end();
    await h.close();
  });

  /** A terminal session on the harness's service; what it printed so far is `screen()`. */
  async function session(sessionId: string) {
    const input = new PassThrough();
    const output = new PassThrough();
    inputs.push(input);
    let screen = '';
    output.on('data', (d: Buffer) => (screen += d.toString()));
    const shell = createShellAdapter({ input, output, userId: 'me', logger: testLogger(), sessionId });
    return { shell, type: (line: string) => input.write(`${line}\n`), shown: (text: string) => eventually(() => screen.includes(text), 5000, `screen to show ${text}`) };
  }

  async function videoIn(s: Awaited<ReturnType<typeof session>>, prompt: string, id: string) {
    s.type(`/video ${prompt}`);
    await eventually(async () => (await h.store.get(id))?.state === 'starting', 5000, `${id} starting`);
    await h.runner.complete(id);
    await eventually(async () => (await h.store.get(id))?.state === 'delivered', 5000, `${id} delivered`);
  }

  it("joins this session's videos oldest first; another session's are not part of it", async () => {
    const first = await session('one');
    h = await createHarness([first.shell.surface]);
    await first.shell.start(h.service);
    first.type('/combine');
    await first.shown('✗ Combine needs at least 2 finished videos here and found 0; give job ids in order instead (e.g. /combine j1 j2).');
    await videoIn(first, 'a bee', 'j0001');
    await videoIn(first, 'a wasp', 'j0002');
    await videoIn(first, 'a moth', 'j0003');
    first.type('/combine');
    await first.shown('[j0004] Queued');
    expect((await h.store.get('j0004'))?.source).toEqual({ kind: 'combine', clipIds: ['j0001', 'j0002', 'j0003'] });
    await eventually(async () => (await h.store.get('j0004'))?.state === 'starting', 5000, 'the Combine starting');
    await h.runner.complete('j0004');

    const second = await session('two');
    await second.shell.start(h.service);
    await videoIn(second, 'a fly', 'j0005');
    second.type('/combine');
    await second.shown('✗ Combine needs at least 2 finished videos here and found 1; give job ids in order instead (e.g. /combine j1 j2).');
  });
});
