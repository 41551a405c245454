import { describe, expect, it } from 'vitest';
import { JOB_STATES, canTransition, isFinal } from '../../bot/core/job.js';

describe('job state machine', () => {
  it('follows the happy path', () => {
    const path = ['queued', 'enhancing', 'submitting', 'starting', 'running', 'encoding', 'uploading', 'delivered'] as const;
    for (let i = 1; i < path.length; i++) expect(canTransition(path[i - 1]!, path[i]!)).toBe(true);
  });

  it('allows failed and cancelled from every live state and nothing from a final one', () => {
    for (const s of JOB_STATES) {
      expect(canTransition(s, 'failed')).toBe(!isFinal(s));
      expect(canTransition(s, 'cancelled')).toBe(!isFinal(s));
      if (isFinal(s)) for (const t of JOB_STATES) expect(canTransition(s, t)).toBe(false);
    }
  });

  it('never goes backwards past the GPU or skips delivery', () => {
    expect(canTransition('running', 'starting')).toBe(false);
    expect(canTransition('uploading', 'queued')).toBe(false);
    expect(canTransition('running', 'delivered')).toBe(false);
    expect(canTransition('queued', 'running')).toBe(false);
  });
});
