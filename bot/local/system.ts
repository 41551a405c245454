// The real clock and id generator.
import { randomBytes, randomInt } from 'node:crypto';
import { randomSeed } from '../core/limits.js';
import type { Clock, IdGenerator } from '../core/ports.js';

/** Wall-clock time and Node's timers; intervals are unref'd (upkeep never keeps the process alive), one-off timers are not. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
  setInterval: (fn, ms) => {
    const timer = setInterval(fn, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
};

/** Job ids are short, lowercase and SageMaker-name safe: "j" + time (base36) + 4 random chars. */
export const randomIds: IdGenerator = {
  jobId: () => `j${Date.now().toString(36)}${randomBytes(3).toString('hex').slice(0, 4)}`,
  seed: () => randomSeed(randomInt),
};
