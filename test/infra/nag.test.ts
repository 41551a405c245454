// cdk-nag's AwsSolutions pack over the whole app, as `cdk synth` runs it: no unacknowledged finding, no stale or vague acknowledgement.
import { type App, type CfnResource, Validations } from 'aws-cdk-lib';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { TEST_CERTIFICATE_ARN, synthesize } from './stacks.js';

const DEPLOYMENTS = {
  'Slack Socket Mode (default)': {},
  'Asynchronous endpoints (runner=async), one with weights and one built in code': {
    runner: 'async',
    asyncPresets: 'cogvideox-5b,tiny-random',
    alarmEmail: 'ops@example.com',
  },
  'Slack HTTP + Discord, dev destroy, guardrail': {
    chat: 'slack,discord',
    slackMode: 'http',
    certificateArn: TEST_CERTIFICATE_ARN,
    removalPolicy: 'destroy',
    bedrockGuardrailId: 'gr-1',
    bedrockGuardrailVersion: '1',
    alarmEmail: 'ops@example.com',
  },
  'Discord only, foundation-model id, pinned account and AZs': {
    chat: 'discord',
    account: '111122223333',
    azs: 'eu-west-1a,eu-west-1b',
    bedrockModelId: 'anthropic.claude-3-haiku-20240307-v1:0',
  },
} as const;

function acknowledgementsOf(construct: IConstruct): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of construct.node.metadata) {
    if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
    for (const [raw, reason] of Object.entries(entry.data as Record<string, string>)) {
      const id = raw.replace(/^annotation::/i, '');
      // CDK acknowledges some of its own CloudFormation-Validate findings; only ours are checked here.
      if (id.startsWith('AwsSolutions-')) out[id] = reason;
    }
  }
  return out;
}

/** Runs the pack and records which acknowledgement (construct path + rule) silenced each finding. */
function check(app: App) {
  const pack = new AwsSolutionsChecks();
  const used = new Set<string>();
  const hook = pack as unknown as { isAcknowledged(resource: CfnResource, ruleId: string): boolean };
  const isAcknowledged = hook.isAcknowledged.bind(pack);
  hook.isAcknowledged = (resource, ruleId) => {
    const acknowledged = isAcknowledged(resource, ruleId);
    for (let c: IConstruct | undefined = resource; acknowledged && c; c = c.node.scope) {
      if (ruleId in acknowledgementsOf(c)) {
        used.add(`${c.node.path} ${ruleId}`);
        break;
      }
    }
    return acknowledged;
  };
  const report = pack.validateScope(app);
  const given = app.node
    .findAll()
    .flatMap((c) => Object.entries(acknowledgementsOf(c)).map(([id, reason]) => ({ key: `${c.node.path} ${id}`, id, reason })));
  return { report, used, given };
}

describe.each(Object.entries(DEPLOYMENTS))('AwsSolutions: %s', (_name, context) => {
  let app: App;
  let result: ReturnType<typeof check>;

  beforeAll(() => {
    const stacks = synthesize(context, { cloudFormationValidation: true });
    app = stacks.app;
    // Synthesising runs CloudFormation's own template validation (errors, with cdk.json's flags).
    Template.fromStack(stacks.stateful);
    Template.fromStack(stacks.service);
    result = check(app);
  }, 60_000);

  it('needs no context lookup (synth works offline)', () => {
    expect(app.synth().manifest.missing ?? []).toEqual([]);
  });

  it('has no unacknowledged error or warning', () => {
    const findings = result.report.violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
    expect(findings).toEqual([]);
  });

  it('gives every acknowledgement a specific reason', () => {
    expect(result.given.length).toBeGreaterThan(0);
    for (const { key, id, reason } of result.given) {
      expect(id, key).toMatch(/^AwsSolutions-[A-Z]+\d+/);
      if (id.startsWith('AwsSolutions-IAM5')) expect(id, `${key}: IAM5 must name its finding`).toMatch(/\[(Action|Resource)::.+\]$/);
      expect(reason.length, `${key}: reason too short`).toBeGreaterThanOrEqual(60);
    }
  });

  it('has no stale acknowledgement (each one silences a real finding)', () => {
    expect(result.given.map((g) => g.key).filter((key) => !result.used.has(key))).toEqual([]);
  });
});

describe('the pack itself', () => {
  it('still reports what it should (a test that can fail)', () => {
    const { app, stateful } = synthesize();
    const bucket = stateful.node.findChild('Buckets').node.findChild('Input').node.defaultChild as CfnBucket;
    bucket.loggingConfiguration = undefined;
    const { report } = check(app);
    expect(report.violations.map((v) => v.ruleName)).toContain('AwsSolutions-S1');
  });
});
