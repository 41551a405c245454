// A valid Job to start from in store and runner tests; override what the test is about.
import type { Job } from '../../bot/core/job.js';

export function sampleJob(id: string, over: Partial<Job> = {}): Job {
  return {
    id,
    state: 'queued',
    version: 1,
    params: { mode: 't2v', model: 'tiny-random', prompt: 'a bee', negativePrompt: '', seed: 7, frames: 9, fps: 8, steps: 2, guidance: 6, height: 64, width: 96, imageFit: 'crop' },
    originalPrompt: 'a bee',
    enhance: false,
    requester: { platform: 'slack', userId: 'U1' },
    conversation: { platform: 'slack', channelId: 'C1' },
    attempts: 0,
    createdAt: 1000,
    updatedAt: 1000,
    ...over,
  };
}
