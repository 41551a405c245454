// The shared edit budget (issue 13 item 5): every job's status edits in one channel share that channel's budget,
// final views go first, only the newest view of a job is sent, and a job's slot ends with its final view.
import { describe, expect, it } from 'vitest';
import { EditThrottle } from '../../bot/core/throttle.js';

interface View {
  readonly job: string;
  readonly channel: string;
  readonly label: string;
  readonly final?: boolean;
}

/** A throttle on a hand-driven clock and timer list, recording what it sends and when. */
function rig(budget = { edits: 5, windowMs: 5000 }) {
  let now = 0;
  const timers: { at: number; fn: () => void }[] = [];
  const sent: { at: number; view: View }[] = [];
  const settled: [string, number][] = [];
  const throttle = new EditThrottle<View>(
    async (_key, view) => {
      sent.push({ at: now, view });
    },
    {
      minIntervalMs: 1000,
      now: () => now,
      setTimer: (fn, ms) => {
        const t = { at: now + ms, fn };
        timers.push(t);
        return t;
      },
      clearTimer: (t) => timers.splice(timers.indexOf(t as (typeof timers)[number]), 1),
      onError: (_key, err) => {
        throw err;
      },
      lanesOf: (view) => [{ key: `channel:${view.channel}`, budget }],
      isFinal: (view) => view.final === true,
      onSettled: (key, edits) => settled.push([key, edits]),
    },
  );
  const settle = () => new Promise((r) => setTimeout(r, 0));
  /** Moves the clock to `to`, firing due timers in order. */
  async function advanceTo(to: number): Promise<void> {
    await settle();
    for (;;) {
      timers.sort((a, b) => a.at - b.at);
      const t = timers[0];
      if (!t || t.at > to) break;
      timers.shift();
      now = Math.max(now, t.at);
      t.fn();
      await settle();
    }
    now = to;
  }
  return { throttle, sent, settled, advanceTo };
}

describe('EditThrottle with shared budgets', () => {
  it('keeps a channel to 5 edits in any 5 seconds however many jobs push, and sends every final view', async () => {
    const r = rig();
    for (let j = 0; j < 20; j++) void r.throttle.push(`j${j}`, { job: `j${j}`, channel: 'C', label: 'queued' }, true);
    for (let j = 0; j < 20; j++) void r.throttle.push(`j${j}`, { job: `j${j}`, channel: 'C', label: 'done', final: true });
    await r.advanceTo(60_000);
    const times = r.sent.map((s) => s.at);
    for (const t of times) expect(times.filter((u) => u >= t && u < t + 5000).length).toBeLessThanOrEqual(5);
    // The first five "queued" went out at once; the other fifteen were replaced by "done" before their turn.
    expect(r.sent.map((s) => s.view.label)).toEqual([...Array(5).fill('queued'), ...Array(20).fill('done')]);
    expect(r.throttle.size).toBe(0);
    expect(r.settled).toHaveLength(20);
  });

  it('sends final views before progress when the budget is short, and other channels are not held up', async () => {
    const r = rig();
    for (let j = 0; j < 5; j++) void r.throttle.push(`p${j}`, { job: `p${j}`, channel: 'C', label: 'step 1' }, true);
    await r.advanceTo(0);
    expect(r.sent).toHaveLength(5); // the budget of C is spent
    for (let j = 0; j < 5; j++) void r.throttle.push(`p${j}`, { job: `p${j}`, channel: 'C', label: 'step 2' });
    void r.throttle.push('f', { job: 'f', channel: 'C', label: 'done', final: true });
    void r.throttle.push('other', { job: 'other', channel: 'D', label: 'step 1' }, true);
    await r.advanceTo(100);
    expect(r.sent.at(-1)!.view.job).toBe('other');
    await r.advanceTo(5000);
    expect(r.sent[6]!.view).toMatchObject({ job: 'f', label: 'done' });
    expect(r.sent[6]!.at).toBe(5000);
  });

  it('reports the edits a job made when it settles, forgets it, and ignores a late view after its final one', async () => {
    const r = rig({ edits: 100, windowMs: 1000 });
    void r.throttle.push('j', { job: 'j', channel: 'C', label: 'queued' }, true);
    await r.advanceTo(0);
    void r.throttle.push('j', { job: 'j', channel: 'C', label: 'step 1' });
    await r.advanceTo(1000);
    void r.throttle.push('j', { job: 'j', channel: 'C', label: 'done', final: true });
    await r.advanceTo(1000);
    expect(r.settled).toEqual([['j', 3]]);
    expect(r.throttle.size).toBe(0);
    void r.throttle.push('j', { job: 'j', channel: 'C', label: 'queued' }, true);
    await r.advanceTo(5000);
    expect(r.sent.map((s) => s.view.label)).toEqual(['queued', 'step 1', 'done']);
    expect(r.throttle.size).toBe(0);
  });
});
