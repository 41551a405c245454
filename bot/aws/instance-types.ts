// The instance types SageMaker offers for Processing jobs, as the AWS SDK lists them, and the check every setting naming one goes through.
import offered from './processing-instance-types.json' with { type: 'json' };
import { PRESET_IDS } from '../core/presets.js';

/**
 * Every `ml.*` type CreateProcessingJob accepts: the SDK's `ProcessingInstanceType` (the service model), kept as data so
 * that checking a setting does not load the SageMaker client at every start (~0.25 s). test/aws/instance-types.test.ts
 * fails when the installed SDK lists other types; regenerate the file as that test says.
 * Processing offers fewer types than training or hosting: among H100s only `ml.p5.4xlarge`, no `ml.p5.48xlarge`.
 */
export const PROCESSING_INSTANCE_TYPES: readonly string[] = Object.freeze([...offered].sort());

const OFFERED = new Set(PROCESSING_INSTANCE_TYPES);

export function isProcessingInstanceType(type: string): boolean {
  return OFFERED.has(type);
}

/**
 * Up to `count` offered types closest to `type`: the same family first, nearest size first (ml.p5.48xlarge →
 * ml.p5.4xlarge); then GPU types for a GPU type (CPU types for a CPU type); within each, the smallest edit distance
 * (typos, other generations).
 */
export function nearestProcessingInstanceTypes(type: string, count = 3): string[] {
  const wanted = type.trim().toLowerCase();
  const [, family, size] = /^(?:ml\.)?([a-z0-9-]+)\.([a-z0-9]+)$/.exec(wanted) ?? [];
  const score = (t: string): [number, number, number] => {
    const [, f, s] = t.split('.') as [string, string, string];
    const sameFamily = f === family;
    const distance = sameFamily && sizeRank(size!) !== undefined ? Math.abs(Math.log2(sizeRank(s)! / sizeRank(size!)!)) : editDistance(t, wanted);
    return [sameFamily ? 0 : 1, family !== undefined && isAccelerated(f) === isAccelerated(family) ? 0 : 1, distance];
  };
  return PROCESSING_INSTANCE_TYPES.map((t) => ({ t, s: score(t) }))
    .sort((a, b) => a.s[0] - b.s[0] || a.s[1] - b.s[1] || a.s[2] - b.s[2] || a.t.localeCompare(b.t))
    .slice(0, count)
    .map(({ t }) => t);
}

/**
 * Why `type` cannot be used, or undefined when SageMaker Processing offers it. The caller names the setting;
 * `what` adds context, e.g. `for cogvideox1.5-5b`.
 */
export function processingInstanceTypeProblem(type: string, what?: string): string | undefined {
  if (isProcessingInstanceType(type)) return undefined;
  return (
    `"${type}"${what ? ` (${what})` : ''} is not an instance type SageMaker offers for Processing jobs; ` +
    `nearest valid choices: ${nearestProcessingInstanceTypes(type).join(', ')}`
  );
}

/**
 * What is wrong with per-preset overrides, `["cogvideox-2b=ml.g6.2xlarge", …]` (SAGEMAKER_INSTANCE_TYPES, and the CDK
 * app's instanceTypes): one sentence per bad pair; empty when every pair names a preset and a type Processing offers.
 */
export function presetInstanceTypeProblems(pairs: readonly string[]): string[] {
  return pairs.flatMap((pair) => {
    const [preset = '', type = '', ...rest] = pair.split('=').map((s) => s.trim());
    if (!preset || !type || rest.length > 0) return [`expected preset=instance-type pairs, e.g. cogvideox-2b=ml.g6.2xlarge; got "${pair}"`];
    if (!PRESET_IDS.includes(preset)) return [`unknown preset "${preset}"; presets: ${PRESET_IDS.join(', ')}`];
    return processingInstanceTypeProblem(type, `for ${preset}`) ?? [];
  });
}

/** Where Combine jobs run: they join clips with ffmpeg (stream copy), no GPU; a type with a default Processing quota. */
export const COMBINE_INSTANCE_TYPE = 'ml.m5.xlarge';

/** Every type a configuration may start jobs on: the default, each per-preset override and Combine's, sorted, once each. */
export function instanceTypesInUse(defaultType: string, pairs: readonly string[]): string[] {
  const overrides = pairs.map((pair) => pair.slice(pair.indexOf('=') + 1).trim());
  return [...new Set([defaultType.trim(), ...overrides, COMBINE_INSTANCE_TYPE])].sort();
}

/** GPU (g, p) and other accelerator families (inf, trn). */
function isAccelerated(family: string): boolean {
  return /^(g|p|inf|trn)\d/.test(family);
}

/** medium = 0.25, large = 0.5, xlarge = 1, 2xlarge = 2, …; undefined for anything else. */
function sizeRank(size: string): number | undefined {
  if (size === 'medium') return 0.25;
  if (size === 'large') return 0.5;
  const m = /^(\d*)xlarge$/.exec(size);
  return m ? Number(m[1] || 1) : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** `["cogvideox-2b=ml.g6.2xlarge", ...]` → { 'cogvideox-2b': 'ml.g6.2xlarge' } (SAGEMAKER_INSTANCE_TYPES). */
export function parseInstanceTypes(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const preset = pair.slice(0, at).trim();
    const type = pair.slice(at + 1).trim();
    if (at <= 0 || !type) throw new Error(`SAGEMAKER_INSTANCE_TYPES: expected preset=instance-type, got "${pair}"`);
    out[preset] = type;
  }
  return out;
}
