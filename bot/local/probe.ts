// Asks the processing job what hardware this machine has (`python -m processing probe`).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { UserFacingError } from '../core/errors.js';
import { PRESETS, getPreset } from '../core/presets.js';

export interface DeviceProbe {
  readonly cuda: boolean;
  readonly deviceName: string | null;
  readonly freeGib: number | null;
  readonly totalGib: number | null;
}

export class ProcessingUnavailableError extends Error {
  readonly code = 'PROCESSING_UNAVAILABLE';
}

export async function probeDevice(python: string, cwd: string, env: Record<string, string>): Promise<DeviceProbe> {
  try {
    const { stdout } = await promisify(execFile)(python, ['-m', 'processing', 'probe'], { cwd, timeout: 120_000, env });
    const line = stdout.trim().split('\n').pop() ?? '{}';
    const p = JSON.parse(line) as { cuda?: boolean; device_name?: string | null; free_gib?: number | null; total_gib?: number | null };
    return { cuda: Boolean(p.cuda), deviceName: p.device_name ?? null, freeGib: p.free_gib ?? null, totalGib: p.total_gib ?? null };
  } catch (err) {
    throw new ProcessingUnavailableError(
      `The Python processing job could not run (${python} -m processing probe): ${(err as Error).message.split('\n')[0]}. Run \`npm run setup\` to install it.`,
      { cause: err },
    );
  }
}

/** The models that run without a GPU (the test model), for messages. */
export function cpuModels(): string[] {
  return [...PRESETS.values()].filter((p) => p.minGpuGib === 0).map((p) => (p.testOnly ? `${p.id} (a test model that makes random noise)` : p.id));
}

/**
 * For a machine without a usable GPU (none found, or VIDEOBOT_DEVICE=cpu): refuses GPU models when they are asked
 * for, instead of queueing a job that can only fail.
 */
export function refuseGpuModels(reason: string): (model: string) => void {
  return (model) => {
    const preset = getPreset(model);
    if (!preset || preset.minGpuGib === 0) return;
    throw new UserFacingError(
      'MODEL_NOT_AVAILABLE',
      `${preset.label} needs an NVIDIA GPU with at least ${preset.minGpuGib} GiB of memory, and ${reason}; the model that runs here is ${cpuModels().join(', ')}.`,
    );
  };
}
