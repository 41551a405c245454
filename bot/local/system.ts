// The real clock and id generator.
import { randomBytes, randomInt } from 'node:crypto';
import { randomSeed } from '../core/limits.js';
import type { Clock, IdGenerator } from '../core/ports.js';

export const systemClock: Clock = { now: () => Date.now() };

/** Job ids are short, lowercase and SageMaker-name safe: "j" + time (base36) + 4 random chars. */
export const randomIds: IdGenerator = {
  jobId: () => `j${Date.now().toString(36)}${randomBytes(3).toString('hex').slice(0, 4)}`,
  seed: () => randomSeed(randomInt),
};
