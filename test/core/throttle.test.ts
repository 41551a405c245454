// The shared edit budget (issue 13 item 5): every job's status edits in one channel share that channel's budget,
// final views go first, only the newest view of a job is sent, and a job's slot ends with its final view.
import { describe, expect, it } from 'vitest';
import { EditThrottle } from '../../bot/core/throttle.js';
import { FakeClock } from '../support/fake-clock.js';

interface View {
  readonly job: string;
  readonly channel: string;
  readonly label: string;
  readonly final?: boolean;
}

/** A throttle on a fake clock, recording what it sends and when (ms since the start). */
function rig(budget = { edits: 5, windowMs: 5000 }) {
  const clock = new FakeClock(0);
  const sent: { at: number; view: View }[] = [];
  const settled: [string, number][] = [];
  const throttle = new EditThrottle<View>(
    async (_key, view) => {
      sent.push({ at: clock.now(), view });
    },
    {
      minIntervalMs: 1000,
      clock,
      onError: (_key, err) => {
        throw err;
      },
      lanesOf: (view) => [{ key: `channel:${view.channel}`, budget }],
      isFinal: (view) => view.final === true,
      onSettled: (key, edits) => settled.push([key, edits]),
    },
  );
  /** Moves the clock to `to`, firing due timers in order. */
  const advanceTo = (to: number) => clock.advance(to - clock.now());
  return { throttle, sent, settled, advanceTo, clock };
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
  it('never lets a late non-final view replace a final one that waits for the budget', async () => {
    const r = rig({ edits: 1, windowMs: 5000 });
    void r.throttle.push('other', { job: 'other', channel: 'C', label: 'step 1' }, true);
    await r.advanceTo(0); // the channel's one edit is spent
    void r.throttle.push('j', { job: 'j', channel: 'C', label: 'cancelled', final: true });
    void r.throttle.push('j', { job: 'j', channel: 'C', label: 'queued' }, true); // read before the cancel, pushed after it
    await r.advanceTo(60_000);
    expect(r.sent.filter((s) => s.view.job === 'j').map((s) => s.view.label)).toEqual(['cancelled']);
    expect(r.settled.map(([key]) => key)).toEqual(['j']);
    expect(r.throttle.size).toBe(1); // only the job still running keeps its slot
  });

  it('never sends a non-final view after a final one that is on its way', async () => {
    const clock = new FakeClock(0);
    const sent: string[] = [];
    let answer!: () => void;
    const throttle = new EditThrottle<View>(
      async (_key, view) => {
        sent.push(view.label);
        if (view.final) await new Promise<void>((resolve) => (answer = resolve));
      },
      { minIntervalMs: 0, clock, onError: (_key, err) => { throw err; }, isFinal: (view) => view.final === true },
    );
    void throttle.push('j', { job: 'j', channel: 'C', label: 'done', final: true });
    void throttle.push('j', { job: 'j', channel: 'C', label: 'uploading' }, true); // while the final edit is on its way
    answer();
    await clock.advance(1000);
    expect(sent).toEqual(['done']);
    expect(throttle.size).toBe(0);
  });
  it('drops the slot of a job that has sent no view for 30 minutes (it ended in another process), and no other', async () => {
    const r = rig({ edits: 100, windowMs: 1000 });
    void r.throttle.push('a', { job: 'a', channel: 'C', label: 'starting' }, true);
    await r.advanceTo(29 * 60_000);
    void r.throttle.push('b', { job: 'b', channel: 'C', label: 'starting' }, true);
    await r.advanceTo(29 * 60_000);
    expect(r.throttle.size).toBe(2);
    await r.advanceTo(30 * 60_000);
    void r.throttle.push('c', { job: 'c', channel: 'C', label: 'starting' }, true);
    await r.advanceTo(30 * 60_000);
    expect(r.throttle.size).toBe(2); // b and c; a is gone
    void r.throttle.push('a', { job: 'a', channel: 'C', label: 'step 1' }); // a job quiet that long starts afresh
    await r.advanceTo(30 * 60_000);
    expect(r.sent.map((s) => `${s.view.job} ${s.view.label}`)).toEqual(['a starting', 'b starting', 'c starting', 'a step 1']);
  });
});
