// The Processing instance types the bot checks settings against are the installed SDK's, kept as data (no SDK load at start).
import { ProcessingInstanceType } from '@aws-sdk/client-sagemaker';
import { describe, expect, it } from 'vitest';
import { PROCESSING_INSTANCE_TYPES, isProcessingInstanceType, parseInstanceTypes } from '../../bot/aws/instance-types.js';

describe('Processing instance types', () => {
  it('are exactly the ones the installed AWS SDK lists for CreateProcessingJob', () => {
    // On a failure after an SDK upgrade, regenerate bot/aws/processing-instance-types.json:
    // node --input-type=module -e 'import { ProcessingInstanceType as T } from "@aws-sdk/client-sagemaker";
    //   console.log(JSON.stringify(Object.values(T).sort(), null, 2))' > bot/aws/processing-instance-types.json
    expect(PROCESSING_INSTANCE_TYPES).toEqual(Object.values(ProcessingInstanceType).sort());
    expect(isProcessingInstanceType('ml.p5.4xlarge')).toBe(true);
    expect(isProcessingInstanceType('ml.p5.48xlarge')).toBe(false);
  });

  it('reads SAGEMAKER_INSTANCE_TYPES pairs', () => {
    expect(parseInstanceTypes([' cogvideox-2b = ml.g6.2xlarge ', 'cogvideox-5b=ml.g6e.2xlarge'])).toEqual({ 'cogvideox-2b': 'ml.g6.2xlarge', 'cogvideox-5b': 'ml.g6e.2xlarge' });
    expect(() => parseInstanceTypes(['=ml.g6.2xlarge'])).toThrow(/expected preset=instance-type/);
  });
});
