// Builds the videobot stacks for tests: cdk.json's feature flags, typed config, tiny image contexts.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { type AppConfig, parseAppConfig } from '../../infra/config.js';
import { type VideobotStacks, addVideobotStacks } from '../../infra/videobot.js';

const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context: Record<string, unknown> };

/** The image build contexts are stand-ins: DockerImageAsset only hashes and stages them at synth. */
export const FIXTURE_DIRECTORIES = {
  botImageDirectory: fileURLToPath(new URL('./fixtures/bot-image', import.meta.url)),
  processingImageDirectory: fileURLToPath(new URL('./fixtures/processing-image', import.meta.url)),
};

export const TEST_CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:111122223333:certificate/00000000-0000-4000-8000-000000000000';

/** Context as `-c key=value` would give it (strings), on top of the defaults. */
export function testConfig(context: Record<string, unknown> = {}): AppConfig {
  return parseAppConfig({ region: 'eu-west-1', ...context }, FIXTURE_DIRECTORIES);
}

export function synthesize(context: Record<string, unknown> = {}): VideobotStacks & { app: App; config: AppConfig } {
  const app = new App({ context: cdkJson.context });
  const config = testConfig(context);
  return { app, config, ...addVideobotStacks(app, config) };
}
