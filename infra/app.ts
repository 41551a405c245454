// The CDK app entry (cdk.json runs it with tsx): reads context once, checks it, builds both stacks under cdk-nag.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { InfraConfigError, contextSchema, parseAppConfig } from './config.js';
import { addVideobotStacks } from './videobot.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const app = new App();

// Context is the only configuration source: `-c key=value` or cdk.json. The region falls back to
// the CLI's profile region, then us-east-1, so `cdk synth` works with no AWS configuration at all.
const context: Record<string, unknown> = {};
for (const key of Object.keys(contextSchema.shape)) {
  const value: unknown = app.node.tryGetContext(key);
  if (value !== undefined) context[key] = value;
}
context.region ??= process.env.CDK_DEFAULT_REGION ?? 'us-east-1';

try {
  const config = parseAppConfig(context, {
    botImageDirectory: repoRoot,
    processingImageDirectory: resolve(repoRoot, 'processing'),
  });
  addVideobotStacks(app, config);
} catch (err) {
  if (err instanceof InfraConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

// Errors fail the synth; warnings are printed. Acknowledgements sit next to what they excuse.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
