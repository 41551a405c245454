// Reading a running job's outputs in S3, shared by both SageMaker runners.
import type { JobProgress } from '../core/job.js';
import { OUTPUT_FILES, parseProgress } from '../core/contract.js';
import type { S3ObjectStore } from './s3.js';

/** What was last read of one job's progress.json. */
export interface ProgressSeen {
  last?: string;
}

/** The job's progress.json when it changed since `seen.last` (remembered there); undefined when absent, unchanged or unreadable as progress. */
export async function readNewProgress(objects: S3ObjectStore, jobId: string, seen: ProgressSeen): Promise<JobProgress | undefined> {
  const bytes = await objects.getOutput(jobId, OUTPUT_FILES.progress);
  if (!bytes) return undefined;
  const raw = new TextDecoder().decode(bytes);
  if (raw === seen.last) return undefined;
  seen.last = raw;
  return parseProgress(raw);
}
