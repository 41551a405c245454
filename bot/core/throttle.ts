// Status edits for all jobs through shared budgets, so a busy channel or workspace stays inside the platform's
// edit limits: per job only the newest view is kept (older ones are dropped, never sent late), each edit takes one
// token from every budget it draws on (a channel's, a workspace's), and when tokens are short final views go
// first, then urgent ones, then whoever has waited longest. A slow edit never blocks callers.

import type { CancelTimer, Clock, EditBudget } from './ports.js';

export type { EditBudget };

/** The budgets one edit draws on, by key (e.g. "discord:channel:123"). */
export type BudgetLanes = readonly { readonly key: string; readonly budget: EditBudget }[];

export interface ThrottleOptions<T> {
  /** Least time between two edits of one job (progress); final and urgent views skip it. */
  readonly minIntervalMs: number;
  /** Edits are paced, and the next one is timed, by this clock. */
  readonly clock: Clock;
  readonly onError: (key: string, error: unknown) => void;
  /** The shared budgets an edit of this value draws on; none: only the per-job interval applies. */
  readonly lanesOf?: (value: T) => BudgetLanes;
  /** Final views go before all others and end the job's slot. */
  readonly isFinal?: (value: T) => boolean;
  /** Called once a final view was sent, with the number of edits the job made (for the logs). */
  readonly onSettled?: (key: string, edits: number) => void;
}

interface Slot<T> {
  last: number;
  pending?: T;
  urgent: boolean;
  /** When the oldest view not yet sent was pushed: who has waited longest goes first. */
  waitingSince: number;
  inFlight?: Promise<void>;
  /** A final view was pushed: it is pending or on its way, and no later non-final view may replace or follow it. */
  ending: boolean;
  edits: number;
  /** Resolved when nothing is pending any more (flush). */
  waiters: (() => void)[];
}

/** One edit counted against a lane: when it was sent, then when it was answered. */
interface Token {
  at: number;
  answered: boolean;
}

/** Keys of settled jobs remembered, so a late non-final view cannot reopen (and overwrite) a final one. */
const SETTLED_MEMORY = 10_000;

/**
 * A job's slot ends with its final view. One that sent nothing for this long most likely ended in another process
 * (a replica that took its events posted the final view), so its slot is dropped rather than kept for ever; should the
 * job show a view again, it starts a new slot (and its edit count in the log starts again).
 */
const IDLE_SLOT_MS = 30 * 60_000;

export class EditThrottle<T> {
  private readonly slots = new Map<string, Slot<T>>();
  /** Per lane, when its recent edits were sent (updated to when each was answered: see start). */
  private readonly sent = new Map<string, Token[]>();
  private readonly settled = new Set<string>();
  private cancelTimer: CancelTimer | undefined;
  private timerAt = Infinity;

  constructor(
    private readonly send: (key: string, value: T) => Promise<void>,
    private readonly options: ThrottleOptions<T>,
  ) {}

  /**
   * Queues `value` for `key`, replacing what was waiting (except a final view, which only a final view replaces).
   * Returns at once; `urgent` values skip the per-job interval.
   */
  push(key: string, value: T, urgent = false): Promise<void> {
    const final = this.options.isFinal?.(value) ?? false;
    if (this.settled.has(key)) return Promise.resolve();
    let slot = this.slots.get(key);
    if (!slot) {
      slot = { last: -Infinity, urgent: false, waitingSince: this.now(), ending: false, edits: 0, waiters: [] };
      this.slots.set(key, slot);
    }
    // A view read before the job ended can arrive after its final one (a queue listing, a late event): it is stale.
    if (slot.ending && !final) return Promise.resolve();
    slot.ending ||= final;
    if (slot.pending === undefined) slot.waitingSince = this.now();
    slot.pending = value;
    slot.urgent = slot.urgent || urgent || final;
    this.drain();
    return Promise.resolve();
  }

  /** Resolves when what is pending for `key` now has been sent (as its turn and the budgets allow). */
  flush(key: string): Promise<void> {
    const slot = this.slots.get(key);
    if (!slot || (slot.pending === undefined && !slot.inFlight)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      slot.waiters.push(resolve);
      this.drain();
    });
  }

  /** Jobs with a slot (pending, in flight or between edits): for tests and metrics. */
  get size(): number {
    return this.slots.size;
  }

  private now(): number {
    return this.options.clock.now();
  }

  /** Sends every pending view whose turn it is and whose budgets have a token; sets one timer for the next. */
  private drain(): void {
    const now = this.now();
    let next = Infinity;
    for (const [key, slot] of this.slots) {
      if (slot.pending === undefined && !slot.inFlight && now - slot.last >= IDLE_SLOT_MS) this.slots.delete(key);
    }
    const ready = [...this.slots.entries()].filter(([, s]) => s.pending !== undefined && !s.inFlight);
    ready.sort(([, a], [, b]) => rank(this.options, a) - rank(this.options, b) || a.waitingSince - b.waitingSince);
    for (const [key, slot] of ready) {
      const value = slot.pending as T;
      const due = slot.urgent ? now : slot.last + this.options.minIntervalMs;
      if (due > now) {
        next = Math.min(next, due);
        continue;
      }
      const lanes = this.options.lanesOf?.(value) ?? [];
      const free = Math.max(now, ...lanes.map((l) => this.freeAt(l.key, l.budget, now)));
      if (free > now) {
        next = Math.min(next, free);
        continue;
      }
      const tokens = lanes.map((lane) => this.take(lane.key, lane.budget, now));
      this.start(key, slot, value, tokens);
    }
    this.arm(next);
  }

  private start(key: string, slot: Slot<T>, value: T, tokens: Token[]): void {
    const final = this.options.isFinal?.(value) ?? false;
    slot.pending = undefined;
    slot.urgent = false;
    slot.last = this.now();
    slot.edits++;
    slot.inFlight = this.send(key, value)
      .catch((error) => this.options.onError(key, error))
      .finally(() => {
        // The platform counted the edit when it arrived, somewhere between sending and the answer (a client may
        // queue it first): count it from the answer, so the next window cannot overlap this one at the platform.
        for (const token of tokens) {
          token.at = this.now();
          token.answered = true;
        }
        slot.inFlight = undefined;
        if (slot.pending === undefined) for (const w of slot.waiters.splice(0)) w();
        if (final && slot.pending === undefined) this.settle(key, slot);
        this.drain();
      });
  }

  private settle(key: string, slot: Slot<T>): void {
    this.slots.delete(key);
    this.settled.add(key);
    if (this.settled.size > SETTLED_MEMORY) this.settled.delete(this.settled.values().next().value as string);
    this.options.onSettled?.(key, slot.edits);
  }

  /** When the lane has a token again (sliding window over the edits it sent). */
  private freeAt(key: string, budget: EditBudget, now: number): number {
    // An edit still unanswered counts as arriving now.
    const times = (this.sent.get(key) ?? []).filter((t) => !t.answered || t.at > now - budget.windowMs);
    this.sent.set(key, times);
    const ats = times.map((t) => (t.answered ? t.at : now)).sort((a, b) => a - b);
    return ats.length < budget.edits ? now : ats[ats.length - budget.edits]! + budget.windowMs;
  }

  private take(key: string, _budget: EditBudget, now: number): Token {
    const times = this.sent.get(key) ?? [];
    const token: Token = { at: now, answered: false };
    times.push(token);
    this.sent.set(key, times);
    return token;
  }

  private arm(at: number): void {
    if (at === Infinity || at >= this.timerAt) return;
    this.cancelTimer?.();
    this.timerAt = at;
    this.cancelTimer = this.options.clock.setTimeout(() => {
      this.cancelTimer = undefined;
      this.timerAt = Infinity;
      this.drain();
    }, Math.max(0, at - this.now()));
  }
}

/** Final views first, then urgent ones, then the rest. */
function rank<T>(options: ThrottleOptions<T>, slot: Slot<T>): number {
  if (slot.pending !== undefined && options.isFinal?.(slot.pending)) return 0;
  return slot.urgent ? 1 : 2;
}
