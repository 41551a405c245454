// Simulates `kill -9` of a bot inside one test process: after crash(), every call into what it wrapped hangs forever,
// so the "dead" bot writes nothing more, as a killed process would not.
import type { ChatSurface, VideoFile } from '../../bot/core/ports.js';
import type { Job } from '../../bot/core/job.js';

export class Crash {
  crashed = false;
  private readonly never = new Promise<never>(() => {});

  crash(): Promise<never> {
    this.crashed = true;
    return this.never;
  }

  /** `target` with every method hanging once crashed (a JobStore, say). */
  wrap<T extends object>(target: T): T {
    return new Proxy(target, {
      get: (t, key, receiver) => {
        const value = Reflect.get(t, key, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => (this.crashed ? this.never : (value as (...a: unknown[]) => unknown).apply(t, args));
      },
    });
  }

  /**
   * `surface` whose postVideo dies at `when`: 'before' the post reaches the platform, or 'after' the platform took it
   * but before the bot could record that it did.
   */
  surface(surface: ChatSurface, when: 'before' | 'after'): ChatSurface {
    const crash = this;
    return {
      platform: surface.platform,
      announce: (job: Job) => surface.announce(job),
      retract: (c) => surface.retract(c),
      showStatus: (job, view) => (crash.crashed ? crash.never : surface.showStatus(job, view)),
      async postVideo(job: Job, video: VideoFile): Promise<void> {
        if (when === 'before') return crash.crash();
        await surface.postVideo(job, video);
        return crash.crash();
      },
    };
  }
}
