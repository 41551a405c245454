// Combine with no job ids: the conversation's clips (bot/core/combine.ts conversationClips), read through a real store.
import { describe, expect, it } from 'vitest';
import { planCombination } from '../../bot/core/combine.js';
import type { Job } from '../../bot/core/job.js';
import { SqliteJobStore } from '../../bot/local/sqlite.js';
import { sampleJob } from '../support/fixtures.js';

const thread = { platform: 'slack' as const, channelId: 'C1', threadId: '1700000000.0001' };
const alice = { platform: 'slack' as const, userId: 'U-alice' };

async function threadWith(...jobs: Job[]) {
  const store = new SqliteJobStore(':memory:', { now: () => 0 });
  for (const job of jobs) await store.create(job);
  return { store, objects: { statOutput: async () => 1 }, isAdmin: () => false };
}

let at = 1000;
const clip = (id: string, over: Partial<Job> = {}) =>
  sampleJob(id, { state: 'delivered', requester: alice, conversation: thread, createdAt: (at += 1000), ...over });

describe('Combine of a thread', () => {
  it("joins the thread's videos oldest first, leaving out earlier Combines and clips a later Extend holds", async () => {
    const deps = await threadWith(
      clip('j1'),
      clip('j2', { requester: { platform: 'slack', userId: 'U-bob' } }), // posted in the thread: anyone there may use it
      clip('j3'),
      clip('j3x', { source: { kind: 'extend', parentId: 'j3', extensions: 1 } }),
      clip('jc', { source: { kind: 'combine', clipIds: ['j1', 'j2'] } }),
      clip('jf', { state: 'failed' }),
      clip('jo', { conversation: { ...thread, threadId: '1700000000.0002' } }),
    );
    const plan = await planCombination(deps, [], alice, thread);
    expect(plan.source).toEqual({ kind: 'combine', clipIds: ['j1', 'j2', 'j3x'] });
    expect(plan.inputs.map((i) => i.fromJobId)).toEqual(['j1', 'j2', 'j3x']);
  });

  it('says in one sentence when the thread has fewer than 2 videos, or more than a Combine takes', async () => {
    const one = await threadWith(clip('k1'), clip('k1x', { source: { kind: 'extend', parentId: 'k1', extensions: 1 } }));
    await expect(planCombination(one, [], alice, thread)).rejects.toThrow(
      'Combine needs at least 2 finished videos here and found 1; give job ids in order instead (e.g. /combine j1 j2).',
    );
    const many = await threadWith(...Array.from({ length: 11 }, (_, i) => clip(`m${i}`)));
    await expect(planCombination(many, [], alice, thread)).rejects.toThrow(
      'There are 11 finished videos here but Combine joins at most 10; give the ones you want as job ids in order (e.g. /combine j1 j2).',
    );
  });
});
