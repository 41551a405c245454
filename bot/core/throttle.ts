// Coalesces status edits per key so chat edits stay inside the platform's rate limits.
// The latest view always wins; final views are sent without waiting; a slow edit never blocks callers.

export interface ThrottleOptions {
  readonly minIntervalMs: number;
  readonly now: () => number;
  readonly setTimer: (fn: () => void, ms: number) => unknown;
  readonly onError: (key: string, error: unknown) => void;
}

export class EditThrottle<T> {
  private readonly slots = new Map<string, { last: number; pending?: T; timer?: unknown; inFlight?: Promise<void> }>();

  constructor(
    private readonly send: (key: string, value: T) => Promise<void>,
    private readonly options: ThrottleOptions,
  ) {}

  /** Queues `value` for `key`. Returns at once; `urgent` values skip the interval (still after an edit in flight). */
  push(key: string, value: T, urgent = false): Promise<void> {
    const slot = this.slots.get(key) ?? { last: 0 };
    this.slots.set(key, slot);
    slot.pending = value;
    const wait = urgent ? 0 : Math.max(0, slot.last + this.options.minIntervalMs - this.options.now());
    if (slot.timer !== undefined && !urgent) return Promise.resolve();
    slot.timer = this.options.setTimer(() => void this.flush(key), wait);
    return Promise.resolve();
  }

  /** Sends what is pending for `key` now and waits for it. */
  async flush(key: string): Promise<void> {
    const slot = this.slots.get(key);
    if (!slot) return;
    if (slot.inFlight) await slot.inFlight;
    slot.timer = undefined;
    if (slot.pending === undefined) return;
    const value = slot.pending;
    slot.pending = undefined;
    slot.last = this.options.now();
    slot.inFlight = this.send(key, value)
      .catch((error) => this.options.onError(key, error))
      .finally(() => {
        slot.inFlight = undefined;
      });
    await slot.inFlight;
  }

  forget(key: string): void {
    this.slots.delete(key);
  }
}
