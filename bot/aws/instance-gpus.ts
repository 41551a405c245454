// How many GPUs each SageMaker Processing GPU instance type has, and how many of them one job uses.
import { PROCESSING_INSTANCE_TYPES } from './instance-types.js';

/**
 * GPUs per instance, for every GPU type in the SDK's `ProcessingInstanceType` (test/aws/instance-gpus.test.ts checks
 * the two lists match). Sources: the EC2 accelerated-computing specifications and AWS Batch's "GPU jobs" table
 * (g4dn, g5, g6, g6e: 1 GPU up to 16xlarge, 4 at 12xlarge and 24xlarge, 8 at 48xlarge; g4dn.12xlarge 4); the P3 launch
 * post (p3.2xlarge 1, 8xlarge 4, 16xlarge 8 V100s); p2 (1 / 8 / 16 K80s) from the P2 specifications; ml.p5.4xlarge is
 * one H100; G7 (RTX PRO 4500 Blackwell) and G7e (RTX PRO 6000 Blackwell, 96 GB) from the EC2 tables as listed in
 * kubernetes/autoscaler#9854 and aws/sagemaker-hyperpod-cli#390 (g7.8xlarge and g7e.12xlarge carry 2).
 */
export const GPUS_PER_INSTANCE: Readonly<Record<string, number>> = Object.freeze({
  'ml.g4dn.xlarge': 1, 'ml.g4dn.2xlarge': 1, 'ml.g4dn.4xlarge': 1, 'ml.g4dn.8xlarge': 1, 'ml.g4dn.16xlarge': 1, 'ml.g4dn.12xlarge': 4,
  'ml.g5.xlarge': 1, 'ml.g5.2xlarge': 1, 'ml.g5.4xlarge': 1, 'ml.g5.8xlarge': 1, 'ml.g5.16xlarge': 1,
  'ml.g5.12xlarge': 4, 'ml.g5.24xlarge': 4, 'ml.g5.48xlarge': 8,
  'ml.g6.xlarge': 1, 'ml.g6.2xlarge': 1, 'ml.g6.4xlarge': 1, 'ml.g6.8xlarge': 1, 'ml.g6.16xlarge': 1,
  'ml.g6.12xlarge': 4, 'ml.g6.24xlarge': 4, 'ml.g6.48xlarge': 8,
  'ml.g6e.xlarge': 1, 'ml.g6e.2xlarge': 1, 'ml.g6e.4xlarge': 1, 'ml.g6e.8xlarge': 1, 'ml.g6e.16xlarge': 1,
  'ml.g6e.12xlarge': 4, 'ml.g6e.24xlarge': 4, 'ml.g6e.48xlarge': 8,
  'ml.g7.2xlarge': 1, 'ml.g7.4xlarge': 1, 'ml.g7.8xlarge': 2, 'ml.g7.12xlarge': 4, 'ml.g7.24xlarge': 4, 'ml.g7.48xlarge': 8,
  'ml.g7e.2xlarge': 1, 'ml.g7e.4xlarge': 1, 'ml.g7e.8xlarge': 1, 'ml.g7e.12xlarge': 2, 'ml.g7e.24xlarge': 4, 'ml.g7e.48xlarge': 8,
  'ml.p2.xlarge': 1, 'ml.p2.8xlarge': 8, 'ml.p2.16xlarge': 16,
  'ml.p3.2xlarge': 1, 'ml.p3.8xlarge': 4, 'ml.p3.16xlarge': 8,
  'ml.p5.4xlarge': 1,
});

/**
 * The most GPUs one job uses: classifier-free-guidance parallel puts the two halves of each step's batch on two GPUs
 * (processing/parallel.py); sequence parallel, which would use more, is not built (docs/performance.md).
 */
export const JOB_MAX_GPUS = 2;

/** GPUs on one instance of `type`: 0 for a CPU type (ml.m5.*), undefined for a GPU type missing from the table. */
export function gpusOf(type: string): number | undefined {
  const known = GPUS_PER_INSTANCE[type.trim()];
  if (known !== undefined) return known;
  return /^ml\.(g|p)\d/.test(type.trim()) ? undefined : 0;
}

/** GPUs a job on `type` uses (the job counts them itself: `--gpus auto`). */
export function gpusUsedByJob(type: string): number {
  return Math.min(gpusOf(type) ?? 1, JOB_MAX_GPUS);
}

/** Offered types whose every GPU a job uses, with more than one GPU: the types for a two-GPU job. */
export function fullyUsedMultiGpuTypes(): string[] {
  return PROCESSING_INSTANCE_TYPES.filter((t) => (GPUS_PER_INSTANCE[t] ?? 0) === JOB_MAX_GPUS);
}

/**
 * One sentence per configured type (the default and each preset's) on which a job leaves GPUs idle; empty when every
 * type's GPUs are used. The bot logs them at start-up: such a type still works, it only costs more than it gains.
 */
export function idleGpuNotes(defaultType: string, pairs: readonly string[]): string[] {
  const uses = new Map<string, string[]>();
  const add = (type: string, what: string) => uses.set(type, [...(uses.get(type) ?? []), what]);
  add(defaultType.trim(), 'SAGEMAKER_INSTANCE_TYPE');
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    add(pair.slice(at + 1).trim(), `${pair.slice(0, at).trim()} in SAGEMAKER_INSTANCE_TYPES`);
  }
  return [...uses].flatMap(([type, where]) => {
    const gpus = gpusOf(type) ?? 0;
    if (gpus <= JOB_MAX_GPUS) return [];
    return [
      `${type} (${where.join(', ')}) has ${gpus} GPUs; a job uses ${JOB_MAX_GPUS} (classifier-free-guidance parallel), ` +
        `so ${gpus - JOB_MAX_GPUS} stay idle: ${fullyUsedMultiGpuTypes().join(' or ')} has exactly ${JOB_MAX_GPUS}.`,
    ];
  });
}
