// Stages a preset's weights into the S3 model cache with a one-off processing job that may use the internet.
import { CreateProcessingJobCommand, type SageMakerClient } from '@aws-sdk/client-sagemaker';
import { getPreset, PRESET_IDS } from '../core/presets.js';
import { asPrefixUri } from './clients.js';
import { CONTAINER, instanceTypeFor, type ProcessingSettings } from './sagemaker.js';

/** A download-only staging job (`onCpu`): no GPU, a large disk. */
export const CPU_STAGING_INSTANCE_TYPE = 'ml.m5.2xlarge';

export interface StageModelDeps {
  readonly sagemaker: SageMakerClient;
  readonly settings: ProcessingSettings;
  /** For the job name's timestamp; a second staging run of the same preset gets a new job. */
  readonly now?: () => number;
}

export interface StageModelOptions {
  /**
   * Where the staging job runs. By default on the GPU instance type the preset's generation jobs use: after the
   * download, `stage` compiles the preset's transformer block there and saves the compile cache next to the
   * weights, keyed by GPU name and torch version, so every later job on that type skips the compile (about 5 s
   * of its loading; docs/performance.md). Downloading alone needs no GPU: `onCpu` stages on a CPU instance
   * (cheaper, no compile cache); `instanceType` names any other type.
   */
  readonly instanceType?: string;
  readonly onCpu?: boolean;
  readonly volumeGb?: number;
  readonly maxRuntimeSeconds?: number;
}

export type StageModelResult =
  | { readonly staged: false; readonly reason: string }
  | { readonly staged: true; readonly jobName: string; readonly destination: string; readonly instanceType: string };

/**
 * Starts `python -m processing stage --model <preset> --dest /opt/ml/processing/output`. The job writes the
 * weights to <dest>/<preset>/, which is uploaded to `<model-cache-uri><preset>/`, the folder generation jobs
 * mount read-only at /opt/ml/processing/models/<preset>. Network isolation is off and no VPC is attached, so
 * the job can reach the Hugging Face Hub; generation jobs never can.
 */
export async function stageModel(deps: StageModelDeps, preset: string, options: StageModelOptions = {}): Promise<StageModelResult> {
  const info = getPreset(preset);
  if (!info) throw new Error(`unknown model "${preset}"; choose one of: ${PRESET_IDS.join(', ')}`);
  if (info.hfId === null) return { staged: false, reason: `${preset} is built in code; there are no weights to stage` };
  const { settings } = deps;
  const destination = `${asPrefixUri(settings.modelCacheUri)}${preset}/`;
  const stamp = new Date((deps.now ?? Date.now)()).toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const slug = preset.replace(/[^a-zA-Z0-9]+/g, '-');
  const jobName = `${settings.jobPrefix}-stage-${slug}-${stamp}`.slice(0, 63).replace(/-+$/, '');
  const instanceType = stagingInstanceType(settings, preset, options);
  await deps.sagemaker.send(
    new CreateProcessingJobCommand({
      ProcessingJobName: jobName,
      RoleArn: settings.roleArn,
      AppSpecification: {
        ImageUri: settings.imageUri,
        ContainerArguments: ['stage', '--model', preset, '--dest', CONTAINER.output],
      },
      ProcessingResources: {
        ClusterConfig: {
          InstanceCount: 1,
          InstanceType: instanceType as never,
          VolumeSizeInGB: options.volumeGb ?? Math.max(settings.volumeGb, 100),
          // No VolumeKmsKeyId, as for generation jobs (sagemaker.ts): an instanceType override with NVMe
          // storage (g5, g6, p5...) would reject it, and the execution role holds no kms:CreateGrant.
        },
      },
      StoppingCondition: { MaxRuntimeInSeconds: options.maxRuntimeSeconds ?? 4 * 3600 },
      ProcessingOutputConfig: {
        // The stage command writes <dest>/<preset>/; uploading that folder puts the files right under <uri><preset>/.
        Outputs: [{ OutputName: 'weights', S3Output: { S3Uri: destination, LocalPath: `${CONTAINER.output}/${preset}`, S3UploadMode: 'EndOfJob' } }],
        ...(settings.kmsKeyId ? { KmsKeyId: settings.kmsKeyId } : {}),
      },
      NetworkConfig: { EnableNetworkIsolation: false },
      Tags: [{ Key: 'videobot:model-stage', Value: preset }],
    }),
  );
  return { staged: true, jobName, destination, instanceType };
}

/** The instance type a staging job of `preset` runs on (see StageModelOptions). */
export function stagingInstanceType(settings: ProcessingSettings, preset: string, options: StageModelOptions = {}): string {
  return options.instanceType ?? (options.onCpu ? CPU_STAGING_INSTANCE_TYPE : instanceTypeFor(settings, preset));
}
