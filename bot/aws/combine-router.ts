// With the asynchronous-endpoint runner, a Combine (ffmpeg stream copy, no model) still runs as a Processing job on
// the CPU instance: the GPU endpoints serve one preset each and would hold a GPU for a copy. This runner routes each
// job by what it is, and both runners read their events from the one job-event queue (EventBridge state changes and
// the endpoints' SNS notifications arrive there together).
import type { Job } from '../core/job.js';
import type { Runner, RunnerEvent, RunnerStatus } from '../core/ports.js';
import { parseAsyncNotification, type AsyncNotification } from './async-events.js';
import type { NotificationSource } from './async-runner.js';
import { parseStateChange, type ProcessingJobStateChange } from './events.js';
import type { StateChangeSource } from './sagemaker.js';

/** A Combine joins clips; every other job makes a video with a model. */
export const isCombine = (job: Job): boolean => job.params.clips !== undefined && job.params.clips.length > 0;

export class CombineRoutingRunner implements Runner {
  /** The longer of the two limits: the reconciler cannot tell which runner a stuck job is on. */
  readonly maxRuntimeMs: number | undefined;

  constructor(
    private readonly videos: Runner,
    private readonly combines: Runner,
  ) {
    const limits = [videos.maxRuntimeMs, combines.maxRuntimeMs].filter((ms): ms is number => ms !== undefined);
    this.maxRuntimeMs = limits.length ? Math.max(...limits) : undefined;
  }

  private runnerOf(job: Job): Runner {
    return isCombine(job) ? this.combines : this.videos;
  }

  submit(job: Job): Promise<{ ref: string }> {
    return this.runnerOf(job).submit(job);
  }

  cancel(job: Job): Promise<void> {
    return this.runnerOf(job).cancel(job);
  }

  describe(job: Job): Promise<RunnerStatus> {
    return this.runnerOf(job).describe(job);
  }

  async start(onEvent: (event: RunnerEvent) => Promise<void>): Promise<void> {
    await this.combines.start(onEvent);
    await this.videos.start(onEvent);
  }

  async stop(): Promise<void> {
    await Promise.all([this.videos.stop(), this.combines.stop()]);
  }
}

/** One message of the shared queue: a Processing job's state change or an endpoint's notification. */
export type QueueEvent = { readonly kind: 'processing'; readonly change: ProcessingJobStateChange } | { readonly kind: 'async'; readonly notification: AsyncNotification };

export function parseQueueEvent(body: string): QueueEvent | undefined {
  const notification = parseAsyncNotification(body);
  if (notification) return { kind: 'async', notification };
  const change = parseStateChange(body);
  return change ? { kind: 'processing', change } : undefined;
}

/** What consumes the queue: SqsEventConsumer<QueueEvent> with parseQueueEvent, in production. */
export interface QueueEventSource {
  start(handler: (event: QueueEvent) => Promise<void>): void;
  stop(): Promise<void>;
}

/**
 * Splits one queue consumer into the two sources the runners take. The consumer starts once both runners listen, so no
 * event is taken before its runner can handle it; stopping either stops the consumer (the runners stop together).
 */
export function splitQueue(queue: QueueEventSource): { notifications: NotificationSource; stateChanges: StateChangeSource } {
  let onNotification: ((n: AsyncNotification) => Promise<void>) | undefined;
  let onChange: ((c: ProcessingJobStateChange) => Promise<void>) | undefined;
  let started = false;
  const startWhenBoth = (): void => {
    if (started || !onNotification || !onChange) return;
    started = true;
    const notifications = onNotification;
    const changes = onChange;
    queue.start((event) => (event.kind === 'async' ? notifications(event.notification) : changes(event.change)));
  };
  const stop = async (): Promise<void> => {
    if (!started) return;
    started = false;
    await queue.stop();
  };
  return {
    notifications: { start: (handler) => ((onNotification = handler), startWhenBoth()), stop },
    stateChanges: { start: (handler) => ((onChange = handler), startWhenBoth()), stop },
  };
}
