// A Clock for tests: time stands still until the test moves it, and the timers it passes fire on the way.
import type { CancelTimer, Clock } from '../../bot/core/ports.js';

interface Timer {
  readonly id: number;
  at: number;
  /** Set for an interval: how far its next firing is from this one. */
  readonly every?: number;
  readonly fn: () => void;
}

/** Lets the promise callbacks a timer started run before time moves on. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

export class FakeClock implements Clock {
  private readonly timers = new Map<number, Timer>();
  private nextId = 0;

  constructor(private t = Date.UTC(2026, 10, 21, 12, 0, 0)) {}

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): CancelTimer {
    return this.add({ id: ++this.nextId, at: this.t + Math.max(0, ms), fn });
  }

  setInterval(fn: () => void, ms: number): CancelTimer {
    const every = Math.max(1, ms);
    return this.add({ id: ++this.nextId, at: this.t + every, every, fn });
  }

  /** Timers set and not yet fired or cancelled (an interval counts until it is cancelled). */
  get pending(): number {
    return this.timers.size;
  }

  /**
   * Moves time forward by `ms`. Every timer due on the way fires at its own time, earliest first, and what it
   * started runs as far as it can before time moves on; without due timers time moves at once, before the
   * first await. `advance(0)` fires what is due now.
   */
  async advance(ms: number): Promise<void> {
    const target = this.t + Math.max(0, ms);
    for (;;) {
      const next = this.nextDue(target);
      if (!next) break;
      this.t = Math.max(this.t, next.at);
      if (next.every === undefined) this.timers.delete(next.id);
      else next.at += next.every;
      next.fn();
      await settle();
    }
    this.t = Math.max(this.t, target);
    await settle();
  }

  private add(timer: Timer): CancelTimer {
    this.timers.set(timer.id, timer);
    return () => void this.timers.delete(timer.id);
  }

  /** The earliest timer due at or before `until` (the first set, among timers due at one time). */
  private nextDue(until: number): Timer | undefined {
    let next: Timer | undefined;
    for (const timer of this.timers.values()) if (timer.at <= until && (!next || timer.at < next.at)) next = timer;
    return next;
  }
}
