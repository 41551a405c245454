// Builds the videobot stacks for tests: cdk.json's feature flags, typed config, tiny image contexts.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
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

/**
 * The app as `cdk synth` builds it, with `context` as `-c` flags. CloudFormation's own template
 * validation (seconds per synth) runs only where a test asks for it: the cdk-nag suite, which
 * stands in for `cdk synth`.
 */
export function synthesize(
  context: Record<string, unknown> = {},
  options: { readonly cloudFormationValidation?: boolean } = {},
): VideobotStacks & { app: App; config: AppConfig } {
  const app = new App({ context: cdkJson.context, builtinCloudFormationValidation: options.cloudFormationValidation ?? false });
  const config = testConfig(context);
  return { app, config, ...addVideobotStacks(app, config) };
}

/** A CloudFormation value as one readable string: Fn::Join joined, Ref → {Name}, GetAtt → {Id.Attr}. */
export function flat(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(flat).join(' | ');
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if ('Fn::Join' in v) {
      const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
      return parts.map(flat).join(sep);
    }
    if ('Ref' in v) return `{${String(v.Ref)}}`;
    if ('Fn::GetAtt' in v) return `{${(v['Fn::GetAtt'] as string[]).join('.')}}`;
    if ('Fn::GetStackOutput' in v) return `{output:${(v['Fn::GetStackOutput'] as { OutputName: string }).OutputName}}`;
    if ('Fn::Sub' in v) return String(v['Fn::Sub']);
  }
  return JSON.stringify(value);
}

export interface PolicyStatementJson {
  readonly Sid?: string;
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

/** Every statement of every AWS::IAM::Policy in a template, with the policy's logical id. */
export function iamStatements(template: Template): { policy: string; statement: PolicyStatementJson }[] {
  return Object.entries(template.findResources('AWS::IAM::Policy')).flatMap(([policy, resource]) =>
    (resource.Properties.PolicyDocument as { Statement: PolicyStatementJson[] }).Statement.map((statement) => ({ policy, statement })),
  );
}

export const actionsOf = (s: PolicyStatementJson): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
export const resourcesOf = (s: PolicyStatementJson): unknown[] => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);
