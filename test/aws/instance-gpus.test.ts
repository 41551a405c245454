// GPUs per Processing instance type, and the start-up notes for types on which a job leaves GPUs idle.
import { describe, expect, it } from 'vitest';
import { GPUS_PER_INSTANCE, JOB_MAX_GPUS, fullyUsedMultiGpuTypes, gpusOf, gpusUsedByJob, idleGpuNotes } from '../../bot/aws/instance-gpus.js';
import { PROCESSING_INSTANCE_TYPES } from '../../bot/aws/instance-types.js';

describe('GPUs per Processing instance type', () => {
  it('has a count for every GPU type the SDK lists for Processing, and for nothing else', () => {
    const gpuTypes = PROCESSING_INSTANCE_TYPES.filter((t) => /^ml\.(g|p)\d/.test(t));
    expect(Object.keys(GPUS_PER_INSTANCE).sort()).toEqual([...gpuTypes].sort());
  });

  it('counts the multi-GPU sizes', () => {
    expect(gpusOf('ml.g6e.12xlarge')).toBe(4);
    expect(gpusOf('ml.g5.48xlarge')).toBe(8);
    expect(gpusOf('ml.g6e.2xlarge')).toBe(1);
    expect(gpusOf('ml.p5.4xlarge')).toBe(1);
    expect(gpusOf('ml.m5.xlarge')).toBe(0);
    expect(gpusOf('ml.g99.xlarge')).toBeUndefined();
  });

  it('a job uses at most two of them (classifier-free-guidance parallel)', () => {
    expect(JOB_MAX_GPUS).toBe(2);
    expect(gpusUsedByJob('ml.g6e.12xlarge')).toBe(2);
    expect(gpusUsedByJob('ml.g7e.12xlarge')).toBe(2);
    expect(gpusUsedByJob('ml.g6e.2xlarge')).toBe(1);
    expect(gpusUsedByJob('ml.m5.xlarge')).toBe(0);
    expect(fullyUsedMultiGpuTypes()).toEqual(['ml.g7.8xlarge', 'ml.g7e.12xlarge']);
  });
});

describe('idleGpuNotes', () => {
  it('says nothing when every configured type has one or two GPUs', () => {
    expect(idleGpuNotes('ml.g6e.2xlarge', ['cogvideox1.5-5b=ml.g7e.12xlarge', 'cogvideox-2b=ml.g6.2xlarge'])).toEqual([]);
  });

  it('names each type with idle GPUs once, with every setting that uses it', () => {
    expect(idleGpuNotes('ml.g6e.12xlarge', ['cogvideox1.5-5b=ml.g6e.12xlarge', 'cogvideox-5b=ml.g5.48xlarge'])).toEqual([
      'ml.g6e.12xlarge (SAGEMAKER_INSTANCE_TYPE, cogvideox1.5-5b in SAGEMAKER_INSTANCE_TYPES) has 4 GPUs; a job uses 2 ' +
        '(classifier-free-guidance parallel), so 2 stay idle: ml.g7.8xlarge or ml.g7e.12xlarge has exactly 2.',
      'ml.g5.48xlarge (cogvideox-5b in SAGEMAKER_INSTANCE_TYPES) has 8 GPUs; a job uses 2 (classifier-free-guidance ' +
        'parallel), so 6 stay idle: ml.g7.8xlarge or ml.g7e.12xlarge has exactly 2.',
    ]);
  });
});
