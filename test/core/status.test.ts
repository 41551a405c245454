import { describe, expect, it } from 'vitest';
import type { JobState } from '../../bot/core/job.js';
import type { StatusView } from '../../bot/core/ports.js';
import { formatBytes, statusActions } from '../../bot/core/status.js';

const view = (state: JobState, over: Partial<StatusView> = {}): StatusView => ({
  jobId: 'j1',
  state,
  headline: state,
  final: ['delivered', 'failed', 'cancelled'].includes(state),
  canCancel: false,
  canRetry: false,
  ...over,
});

describe('statusActions', () => {
  it('offers Cancel only while the job can be cancelled, and Details always', () => {
    expect(statusActions(view('running', { canCancel: true }))).toEqual(['cancel', 'details']);
    expect(statusActions(view('uploading'))).toEqual(['details']);
  });

  it('offers Regenerate after a delivery and Retry only where retrying can help', () => {
    expect(statusActions(view('delivered'))).toEqual(['regenerate', 'editPrompt', 'extend', 'details']);
    expect(statusActions(view('failed', { canRetry: true }))).toEqual(['retry', 'editPrompt', 'details']);
    expect(statusActions(view('failed', { canRetry: false }))).toEqual(['editPrompt', 'details']);
    expect(statusActions(view('cancelled', { canRetry: true }))).toEqual(['retry', 'editPrompt', 'details']);
  });

  it('offers a joined (combined) video only Retry after a failure, and Details', () => {
    expect(statusActions(view('delivered', { builtFrom: 'combine' }))).toEqual(['details']);
    expect(statusActions(view('failed', { canRetry: true, builtFrom: 'combine' }))).toEqual(['retry', 'details']);
    expect(statusActions(view('delivered', { builtFrom: 'extend' }))).toEqual(['regenerate', 'editPrompt', 'extend', 'details']);
  });
});

describe('formatBytes', () => {
  it('never shows a size just over a limit as the limit itself', () => {
    const limit = 10 * 1024 * 1024;
    expect(formatBytes(limit)).toBe('10 MiB');
    expect(formatBytes(limit + 4096)).toBe('10.01 MiB');
    expect(formatBytes(1024)).toBe('1 KiB');
    expect(formatBytes(1025)).toBe('2 KiB');
    expect(formatBytes(4096)).toBe('4 KiB');
    expect(formatBytes(20.5 * 1024 * 1024)).toBe('20.5 MiB');
  });
});
