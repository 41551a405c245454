// The service stack: job events, queues, alarms, IAM scoping, the bot's task (env, secrets, health), Slack HTTP mode.
import type { CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CreateProcessingJobCommandInput, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { stageModel } from '../../bot/aws/model-cache.js';
import { buildProcessingJobRequest, processingJobName } from '../../bot/aws/sagemaker.js';
import { awsSettings } from '../../bot/main.js';
import { configSchema, loadConfig } from '../../bot/config.js';
import { retentionDays } from '../../infra/stacks/service-stack.js';
import type { VideobotStacks } from '../../infra/videobot.js';
import { sampleJob } from '../support/fixtures.js';
import { allows, createProcessingJobContext } from './iam-conditions.js';
import { TEST_CERTIFICATE_ARN, actionsOf, flat, iamStatements, resourcesOf, synthesize, type PolicyStatementJson } from './stacks.js';

interface Synth {
  stacks: VideobotStacks;
  template: Template;
  stateful: Template;
  id: (construct: { node: { defaultChild?: unknown } }) => string;
}

function build(context: Record<string, unknown>): Synth {
  const stacks = synthesize(context);
  return {
    stacks,
    template: Template.fromStack(stacks.service),
    stateful: Template.fromStack(stacks.stateful),
    id: (construct) => stacks.service.getLogicalId(construct.node.defaultChild as CfnElement),
  };
}

let socket: Synth;
let http: Synth;

beforeAll(() => {
  // Default deployment: Slack Socket Mode.
  socket = build({});
  // Slack HTTP mode + Discord, an upper-case job prefix, a guardrail, an alarm e-mail.
  http = build({
    chat: 'slack,discord',
    slackMode: 'http',
    certificateArn: TEST_CERTIFICATE_ARN,
    jobPrefix: 'Studio',
    bedrockGuardrailId: 'gr-123',
    bedrockGuardrailVersion: '2',
    alarmEmail: 'ops@example.com',
    allowedUsers: 'U1,U2',
    instanceTypes: 'cogvideox1.5-5b=ml.p5.4xlarge',
  });
});

function container(s: Synth) {
  const definitions = Object.values(s.template.findResources('AWS::ECS::TaskDefinition'));
  expect(definitions).toHaveLength(1);
  return definitions[0]!.Properties.ContainerDefinitions[0] as {
    Environment: { Name: string; Value: unknown }[];
    Secrets: { Name: string; ValueFrom: unknown }[];
    HealthCheck: { Command: string[] };
    PortMappings?: { ContainerPort: number }[];
  };
}

const env = (s: Synth) => Object.fromEntries(container(s).Environment.map((e) => [e.Name, flat(e.Value)]));

function taskRoleStatements(s: Synth): PolicyStatementJson[] {
  const role = s.id(s.stacks.service.bot.taskDefinition.taskRole);
  return iamStatements(s.template)
    .filter(({ policy }) => (s.template.toJSON().Resources[policy].Properties.Roles as { Ref: string }[]).some((r) => r.Ref === role))
    .map(({ statement }) => statement);
}

describe('job events', () => {
  it('routes only our processing jobs’ state changes to the queue, with the DLQ for failed deliveries', () => {
    const { events } = socket.stacks.service;
    socket.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.sagemaker'],
        'detail-type': ['SageMaker Processing Job State Change'],
        detail: { ProcessingJobName: [{ prefix: 'videobot-' }] },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [socket.id(events.queue), 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [socket.id(events.deadLetterQueue), 'Arn'] } },
        }),
      ],
    });
  });

  it('uses the configured prefix as given (event names keep their case)', () => {
    http.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ detail: { ProcessingJobName: [{ prefix: 'Studio-' }] } }),
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [http.id(http.stacks.service.events.queue), 'Arn'] } })],
    });
  });

  it('moves a message the bot failed on five times to the DLQ; both queues use the messaging key', () => {
    const { events } = socket.stacks.service;
    const key = socket.id(socket.stacks.service.node.findChild('MessagingKey'));
    socket.template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [socket.id(events.deadLetterQueue), 'Arn'] }, maxReceiveCount: 5 },
      KmsMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] },
    });
    const dlq = socket.template.toJSON().Resources[socket.id(events.deadLetterQueue)];
    expect(dlq.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [key, 'Arn'] });
    expect(dlq.Properties.RedrivePolicy).toBeUndefined();
    socket.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it.each(['queue', 'deadLetterQueue'] as const)('the %s refuses requests without TLS', (which) => {
    socket.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: socket.id(socket.stacks.service.events[which]) }],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });

  it('lets EventBridge use the messaging key to write the encrypted queues', () => {
    const key = socket.template.toJSON().Resources[socket.id(socket.stacks.service.node.findChild('MessagingKey'))];
    const principals = (key.Properties.KeyPolicy.Statement as { Principal: { Service?: string } }[]).map((s) => s.Principal.Service);
    expect(principals).toContain('events.amazonaws.com');
    expect(principals).toContain('cloudwatch.amazonaws.com');
  });

  it('logs and counts failed jobs through a second rule', () => {
    const { events } = socket.stacks.service;
    socket.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ detail: { ProcessingJobName: [{ prefix: 'videobot-' }], ProcessingJobStatus: ['Failed'] } }),
      Targets: [Match.objectLike({ Arn: Match.anyValue() })],
    });
    socket.template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: socket.id(events.failedJobsLog) },
      FilterPattern: '{ $.detail.ProcessingJobStatus = "Failed" }',
      MetricTransformations: [Match.objectLike({ MetricName: 'FailedProcessingJobs', MetricValue: '1' })],
    });
    const [policy] = Object.values(socket.template.findResources('AWS::Logs::ResourcePolicy'));
    const document = JSON.parse(flat(policy!.Properties.PolicyDocument)) as { Statement: Record<string, unknown>[] };
    expect(document.Statement).toEqual([
      {
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Resource: `{${socket.id(events.failedJobsLog)}.Arn}`,
      },
    ]);
  });
});

describe('alarms', () => {
  const alarmsOf = (s: Synth) => Object.values(s.template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);

  it('watch the DLQ, the event backlog, failed jobs and the running task count, all notifying the topic', () => {
    const alarms = alarmsOf(socket);
    const topic = socket.id(socket.stacks.service.alarms.topic);
    expect(alarms.map((a) => a.MetricName).sort()).toEqual([
      'ApproximateAgeOfOldestMessage',
      'ApproximateNumberOfMessagesVisible',
      'FailedProcessingJobs',
      'RefusedProcessingJobSubmits',
      'RunningTaskCount',
    ]);
    for (const alarm of alarms) expect(alarm.AlarmActions).toEqual([{ Ref: topic }]);
    socket.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [socket.id(socket.stacks.service.events.deadLetterQueue), 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    socket.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'ECS/ContainerInsights',
      MetricName: 'RunningTaskCount',
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'breaching',
    });
  });

  it('count the bot log lines of refused submits (alert SUBMIT_PERMANENT) and alarm on the first', () => {
    socket.template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: socket.id(socket.stacks.service.bot.logGroup) },
      FilterPattern: '{ $.alert = "SUBMIT_PERMANENT" }',
      MetricTransformations: [Match.objectLike({ MetricName: 'RefusedProcessingJobSubmits', MetricNamespace: 'videobot', MetricValue: '1' })],
    });
    socket.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'RefusedProcessingJobSubmits',
      Namespace: 'videobot',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it('notify an encrypted, TLS-only topic; e-mail only when configured', () => {
    socket.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    socket.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    socket.template.resourceCountIs('AWS::SNS::Subscription', 0);
    http.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });

  it('add a healthy-target alarm in Slack HTTP mode', () => {
    expect(alarmsOf(http).map((a) => a.MetricName)).toContain('HealthyHostCount');
  });
});

describe('IAM', () => {
  // Statements with Resource "*" exist only for actions that have no resource-level permissions.
  const STAR_ALLOWED: Record<string, (s: PolicyStatementJson) => boolean> = {
    'ecr:GetAuthorizationToken': () => true,
    'cloudwatch:PutMetricData': (s) => s.Condition?.StringEquals?.['cloudwatch:namespace'] === '/aws/sagemaker/ProcessingJobs',
  };

  it.each(['socket', 'http'] as const)('no %s-mode policy grants anything on "*" except acknowledged actions', (mode) => {
    const s = mode === 'socket' ? socket : http;
    const all = [...iamStatements(s.template), ...iamStatements(s.stateful)];
    expect(all.length).toBeGreaterThan(10);
    for (const { policy, statement } of all) {
      if (!resourcesOf(statement).includes('*')) continue;
      for (const action of actionsOf(statement)) {
        expect(STAR_ALLOWED[action]?.(statement), `${policy}: ${action} on "*"`).toBe(true);
      }
    }
  });

  it('no policy allows a whole service ("svc:*") or a bare "*" action', () => {
    for (const { policy, statement } of [...iamStatements(socket.template), ...iamStatements(http.template)]) {
      for (const action of actionsOf(statement)) expect(action, policy).not.toMatch(/^(\*|[a-z0-9-]+:\*)$/);
    }
  });

  it('scopes the bot’s SageMaker calls to jobs with our prefix (lower-cased, as SageMaker writes ARNs)', () => {
    const sagemaker = taskRoleStatements(socket).filter((s) => actionsOf(s).some((a) => a.startsWith('sagemaker:')));
    expect(sagemaker.map((s) => [s.Sid, actionsOf(s).sort()])).toEqual([
      ['CreateProcessingJobs', ['sagemaker:CreateProcessingJob']],
      ['TagProcessingJobs', ['sagemaker:AddTags']],
      ['WatchProcessingJobs', ['sagemaker:DescribeProcessingJob', 'sagemaker:StopProcessingJob']],
    ]);
    for (const s of sagemaker) expect(resourcesOf(s).map(flat)).toEqual(['arn:aws:sagemaker:eu-west-1:{AWS::AccountId}:processing-job/videobot-*']);
    for (const s of taskRoleStatements(http).filter((st) => actionsOf(st).some((a) => a.startsWith('sagemaker:')))) {
      expect(flat(s.Resource)).toBe('arn:aws:sagemaker:eu-west-1:{AWS::AccountId}:processing-job/studio-*');
    }
    // Describe and Stop carry no condition: none of CreateProcessingJob's keys exists in their requests.
    expect(sagemaker[2]!.Condition).toBeUndefined();
  });

  it('lets the bot pass only the processing role, and only to SageMaker', () => {
    const pass = taskRoleStatements(socket).filter((s) => actionsOf(s).includes('iam:PassRole'));
    expect(pass).toEqual([
      expect.objectContaining({
        Resource: { 'Fn::GetAtt': [socket.id(socket.stacks.service.processingRole.role), 'Arn'] },
        Condition: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
      }),
    ]);
  });

  it('gives the bot exactly its data calls: put/read inputs, read/delete outputs, the table, the queue', () => {
    const statements = taskRoleStatements(socket);
    const on = (action: string) => statements.filter((s) => actionsOf(s).includes(action)).flatMap((s) => resourcesOf(s).map(flat));
    expect(on('s3:PutObject')).toEqual(['arn:aws:s3:::{output:InputBucketName}/jobs/*']);
    expect(on('s3:DeleteObject*')).toEqual(['arn:aws:s3:::{output:OutputBucketName}/jobs/*']);
    expect(on('s3:GetObject*').sort()).toEqual([
      'arn:aws:s3:::{output:InputBucketName}',
      'arn:aws:s3:::{output:InputBucketName}/jobs/*',
      'arn:aws:s3:::{output:OutputBucketName}',
      'arn:aws:s3:::{output:OutputBucketName}/jobs/*',
    ]);
    expect(on('dynamodb:PutItem').sort()).toEqual([
      'arn:aws:dynamodb:eu-west-1:{AWS::AccountId}:table/{output:JobTableName}',
      'arn:aws:dynamodb:eu-west-1:{AWS::AccountId}:table/{output:JobTableName}/index/*',
    ]);
    expect(on('sqs:ReceiveMessage')).toEqual([`{${socket.id(socket.stacks.service.events.queue)}.Arn}`]);
    expect(on('kms:Decrypt').sort()).toEqual([`{${socket.id(socket.stacks.service.node.findChild('MessagingKey'))}.Arn}`, '{output:DataKeyArn}'].sort());
    expect(statements.flatMap((s) => resourcesOf(s).map(flat)).some((r) => r.includes('ModelBucketName'))).toBe(false);
  });

  it('lets the bot invoke only the configured Bedrock profile (and its model through it), plus the guardrail', () => {
    const bedrock = taskRoleStatements(socket).filter((s) => actionsOf(s).some((a) => a.startsWith('bedrock:')));
    expect(bedrock.map((s) => [actionsOf(s), flat(s.Resource)])).toEqual([
      [['bedrock:InvokeModel'], 'arn:aws:bedrock:eu-west-1:{AWS::AccountId}:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0'],
      [['bedrock:InvokeModel'], 'arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0'],
    ]);
    expect(flat(bedrock[1]!.Condition!.StringEquals!['bedrock:InferenceProfileArn'])).toBe(flat(bedrock[0]!.Resource));
    const guardrail = taskRoleStatements(http).find((s) => s.Sid === 'BedrockGuardrail')!;
    expect(actionsOf(guardrail)).toEqual(['bedrock:ApplyGuardrail']);
    expect(flat(guardrail.Resource)).toBe('arn:aws:bedrock:eu-west-1:{AWS::AccountId}:guardrail/gr-123');
  });

  it('has no Bedrock permission when the enhancer is off', () => {
    const off = build({ enhancer: 'off' });
    expect(taskRoleStatements(off).some((s) => actionsOf(s).some((a) => a.startsWith('bedrock:')))).toBe(false);
    expect(env(off).VIDEOBOT_ENHANCER).toBe('off');
  });

  it('grants ApplyGuardrail for a configured guardrail even with the enhancer off (moderation screens every prompt)', () => {
    const off = build({ enhancer: 'off', bedrockGuardrailId: 'gr-9', bedrockGuardrailVersion: '3' });
    const bedrock = taskRoleStatements(off).filter((s) => actionsOf(s).some((a) => a.startsWith('bedrock:')));
    expect(bedrock.map((s) => [actionsOf(s), flat(s.Resource)])).toEqual([
      [['bedrock:ApplyGuardrail'], 'arn:aws:bedrock:eu-west-1:{AWS::AccountId}:guardrail/gr-9'],
    ]);
    expect(env(off).BEDROCK_GUARDRAIL_ID).toBe('gr-9');
    expect(env(off).BEDROCK_GUARDRAIL_VERSION).toBe('3');
  });

  /** Statements of the policies attached to one role. */
  function roleStatements(role: { node: { defaultChild?: unknown } }): PolicyStatementJson[] {
    const id = socket.id(role);
    return iamStatements(socket.template)
      .filter(({ policy }) => (socket.template.toJSON().Resources[policy].Properties.Roles as { Ref: string }[]).some((r) => r.Ref === id))
      .map(({ statement }) => statement);
  }
  const resourcesFor = (statements: PolicyStatementJson[], action: string) =>
    statements.filter((s) => actionsOf(s).includes(action)).flatMap((s) => resourcesOf(s).map(flat));

  it('lets SageMaker (only) assume the processing roles', () => {
    for (const role of [socket.stacks.service.processingRole.role, socket.stacks.service.stagingRole.role]) {
      expect(socket.template.toJSON().Resources[socket.id(role)].Properties.AssumeRolePolicyDocument.Statement).toEqual([
        {
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'sagemaker.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
        },
      ]);
    }
  });

  it('lets generation jobs read inputs and weights and write outputs, but never write the model cache', () => {
    const on = (action: string) => resourcesFor(roleStatements(socket.stacks.service.processingRole.role), action);
    expect(on('s3:PutObject')).toEqual(['arn:aws:s3:::{output:OutputBucketName}/jobs/*']);
    expect(on('s3:GetObject*').sort()).toEqual([
      'arn:aws:s3:::{output:InputBucketName}',
      'arn:aws:s3:::{output:InputBucketName}/jobs/*',
      'arn:aws:s3:::{output:ModelBucketName}',
      'arn:aws:s3:::{output:ModelBucketName}/models/*',
    ]);
    expect(on('logs:PutLogEvents')).toEqual([
      'arn:aws:logs:eu-west-1:{AWS::AccountId}:log-group:/aws/sagemaker/ProcessingJobs',
      'arn:aws:logs:eu-west-1:{AWS::AccountId}:log-group:/aws/sagemaker/ProcessingJobs:*',
    ]);
    expect(on('ecr:BatchGetImage')).toHaveLength(1);
    expect(on('sagemaker:CreateProcessingJob')).toEqual([]);
  });

  it('gives the model cache’s only writer, the staging role, no job data; the bot cannot pass it', () => {
    const staging = socket.stacks.service.stagingRole.role;
    const on = (action: string) => resourcesFor(roleStatements(staging), action);
    expect(on('s3:PutObject')).toEqual(['arn:aws:s3:::{output:ModelBucketName}/models/*']);
    expect(on('s3:GetObject*').sort()).toEqual(['arn:aws:s3:::{output:ModelBucketName}', 'arn:aws:s3:::{output:ModelBucketName}/models/*']);
    expect(on('ecr:BatchGetImage')).toHaveLength(1);
    const stagingArn = `{${socket.id(staging)}.Arn}`;
    const toSageMaker = { 'iam:PassedToService': 'sagemaker.amazonaws.com' };
    expect(allows(taskRoleStatements(socket), 'iam:PassRole', `{${socket.id(socket.stacks.service.processingRole.role)}.Arn}`, toSageMaker)).toBe(true);
    expect(allows(taskRoleStatements(socket), 'iam:PassRole', stagingArn, toSageMaker)).toBe(false);
    const outputs = socket.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(flat(outputs.StagingRoleArn!.Value)).toBe(stagingArn);
  });
});

/** The bot's processing settings, from the environment the stack gives its container (secrets as stand-ins). */
function botSettings(s: Synth) {
  const secrets = Object.fromEntries(container(s).Secrets.map((e) => [e.Name, 'from-secrets-manager']));
  return awsSettings(loadConfig({ ...env(s), ...secrets })).processing;
}

/** What SageMakerRunner sends to start attempt 1 of a job of `preset`. */
function botRequest(s: Synth, preset = 'cogvideox-5b'): CreateProcessingJobCommandInput {
  const job = sampleJob('j0m1abcd1234');
  return buildProcessingJobRequest({ ...job, params: { ...job.params, model: preset } }, 1, botSettings(s), {
    input: 's3://in/jobs/j0m1abcd1234/input/',
    output: 's3://out/jobs/j0m1abcd1234/output/',
  });
}

/** Whether the bot's task role may send this CreateProcessingJob request. */
function mayCreate(s: Synth, request: CreateProcessingJobCommandInput): boolean {
  const arn = `arn:aws:sagemaker:eu-west-1:{AWS::AccountId}:processing-job/${request.ProcessingJobName!.toLowerCase()}`;
  return allows(taskRoleStatements(s), 'sagemaker:CreateProcessingJob', arn, createProcessingJobContext(request));
}

describe('processing jobs the bot may start (CreateProcessingJob conditions)', () => {
  it('allows exactly the request the bot sends, for every configured instance type', () => {
    expect(mayCreate(socket, botRequest(socket))).toBe(true);
    expect(mayCreate(http, botRequest(http))).toBe(true);
    const big = botRequest(http, 'cogvideox1.5-5b');
    expect(big.ProcessingResources!.ClusterConfig!.InstanceType).toBe('ml.p5.4xlarge');
    expect(mayCreate(http, big)).toBe(true);
    const create = taskRoleStatements(http).find((st) => st.Sid === 'CreateProcessingJobs')!;
    expect(create.Condition!['ForAllValues:StringEquals']!['sagemaker:InstanceTypes']).toEqual(['ml.g6e.2xlarge', 'ml.m5.xlarge', 'ml.p5.4xlarge']);
  });

  it('lets the bot start a Combine on a small CPU instance, with no model input', () => {
    const job = sampleJob('j0m1abcd1234');
    const combine = { ...job, params: { ...job.params, model: 'cogvideox-5b', clips: ['clip-0.mp4', 'clip-1.mp4'] } };
    const request = buildProcessingJobRequest(combine, 1, botSettings(socket), { input: 's3://in/jobs/j0m1abcd1234/input/', output: 's3://out/jobs/j0m1abcd1234/output/' });
    expect(request.ProcessingResources!.ClusterConfig!.InstanceType).toBe('ml.m5.xlarge');
    expect(request.ProcessingInputs!.map((i) => i.InputName)).toEqual(['job']);
    expect(mayCreate(socket, request)).toBe(true);
  });

  it.each<[string, (r: CreateProcessingJobCommandInput) => CreateProcessingJobCommandInput]>([
    ['network access (isolation off)', (r) => ({ ...r, NetworkConfig: { ...r.NetworkConfig, EnableNetworkIsolation: false } })],
    ['no network setting at all', (r) => ({ ...r, NetworkConfig: undefined })],
    ['another instance type', (r) => ({ ...r, ProcessingResources: { ClusterConfig: { ...r.ProcessingResources!.ClusterConfig!, InstanceType: 'ml.p5.4xlarge' } } })],
    ['outputs under another key', (r) => ({ ...r, ProcessingOutputConfig: { ...r.ProcessingOutputConfig!, KmsKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/other' } })],
    ['unencrypted outputs', (r) => ({ ...r, ProcessingOutputConfig: { Outputs: r.ProcessingOutputConfig!.Outputs } })],
    ['a longer run', (r) => ({ ...r, StoppingCondition: { MaxRuntimeInSeconds: 3601 } })],
    ['another tag', (r) => ({ ...r, Tags: [...r.Tags!, { Key: 'owner', Value: 'x' }] })],
    ['a name without our prefix', (r) => ({ ...r, ProcessingJobName: 'other-j0m1abcd1234' })],
  ])('denies a job with %s', (_what, change) => {
    const request = botRequest(socket);
    expect(mayCreate(socket, request)).toBe(true);
    expect(mayCreate(socket, change(request))).toBe(false);
  });

  it('denies the model-staging job (internet on): that one runs with an administrator’s credentials', async () => {
    let sent: CreateProcessingJobCommandInput | undefined;
    const sagemaker = { send: async (command: { input: CreateProcessingJobCommandInput }) => void (sent = command.input) } as unknown as SageMakerClient;
    await stageModel({ sagemaker, settings: botSettings(socket) }, 'cogvideox-5b');
    expect(sent!.ProcessingJobName).toMatch(/^videobot-stage-/);
    expect(mayCreate(socket, sent!)).toBe(false);
  });

  it('lets the bot tag only with its own tag keys, and describe or stop only its own jobs', () => {
    const statements = taskRoleStatements(socket);
    const ours = 'arn:aws:sagemaker:eu-west-1:{AWS::AccountId}:processing-job/videobot-j0m1abcd1234';
    const theirs = 'arn:aws:sagemaker:eu-west-1:{AWS::AccountId}:processing-job/training-42';
    const tagKeys = botRequest(socket).Tags!.map((t) => t.Key!);
    expect(allows(statements, 'sagemaker:AddTags', ours, { 'aws:TagKeys': tagKeys })).toBe(true);
    expect(allows(statements, 'sagemaker:AddTags', ours, { 'aws:TagKeys': [...tagKeys, 'cost-center'] })).toBe(false);
    expect(allows(statements, 'sagemaker:AddTags', theirs, { 'aws:TagKeys': tagKeys })).toBe(false);
    for (const action of ['sagemaker:DescribeProcessingJob', 'sagemaker:StopProcessingJob']) {
      expect(allows(statements, action, ours), action).toBe(true);
      expect(allows(statements, action, theirs), action).toBe(false);
    }
    expect(allows(statements, 'sagemaker:CreateTrainingJob', ours, createProcessingJobContext(botRequest(socket)))).toBe(false);
  });
});

describe('bot service', () => {
  it('sets only variables the bot’s config schema knows, with the AWS backend wired to this deployment', () => {
    const known = new Set([...Object.keys(configSchema.shape), 'NODE_ENV']);
    for (const s of [socket, http]) for (const name of Object.keys(env(s))) expect(known, name).toContain(name);
    expect(env(socket)).toEqual({
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      VIDEOBOT_BACKEND: 'aws',
      VIDEOBOT_CHAT: 'slack',
      VIDEOBOT_HEALTH_PORT: '8080',
      VIDEOBOT_ALLOWED_USERS: '',
      VIDEOBOT_ALLOWED_CHANNELS: '',
      VIDEOBOT_ADMINS: '',
      AWS_REGION: 'eu-west-1',
      VIDEOBOT_INPUT_BUCKET: '{output:InputBucketName}',
      VIDEOBOT_OUTPUT_BUCKET: '{output:OutputBucketName}',
      VIDEOBOT_MODEL_CACHE_URI: 's3://{output:ModelBucketName}/models/',
      VIDEOBOT_KMS_KEY_ID: '{output:DataKeyArn}',
      VIDEOBOT_JOB_TABLE: '{output:JobTableName}',
      VIDEOBOT_EVENTS_QUEUE_URL: `{${socket.id(socket.stacks.service.events.queue)}}`,
      SAGEMAKER_ROLE_ARN: `{${socket.id(socket.stacks.service.processingRole.role)}.Arn}`,
      SAGEMAKER_IMAGE_URI: expect.stringMatching(/^\$\{AWS::AccountId\}\.dkr\.ecr\.eu-west-1\.\$\{AWS::URLSuffix\}\/cdk-[a-z0-9]+-container-assets-/),
      SAGEMAKER_JOB_PREFIX: 'videobot',
      SAGEMAKER_INSTANCE_TYPE: 'ml.g6e.2xlarge',
      SAGEMAKER_INSTANCE_TYPES: '',
      SAGEMAKER_MAX_RUNTIME_SECONDS: '3600',
      VIDEOBOT_ENHANCER: 'bedrock',
      BEDROCK_MODEL_ID: 'eu.anthropic.claude-sonnet-4-5-20250929-v1:0',
      SLACK_MODE: 'socket',
    });
    expect(env(http)).toMatchObject({
      VIDEOBOT_CHAT: 'slack,discord',
      SLACK_MODE: 'http',
      SLACK_PORT: '3000',
      SAGEMAKER_JOB_PREFIX: 'Studio',
      VIDEOBOT_ALLOWED_USERS: 'U1,U2',
      SAGEMAKER_INSTANCE_TYPES: 'cogvideox1.5-5b=ml.p5.4xlarge',
      BEDROCK_GUARDRAIL_ID: 'gr-123',
      BEDROCK_GUARDRAIL_VERSION: '2',
    });
  });

  it('gives the bot an environment its config accepts, whose job names the rule and the IAM policy both match', () => {
    for (const s of [socket, http]) {
      // The secrets arrive as variables too; any non-empty value will do for parsing.
      const secrets = Object.fromEntries(container(s).Secrets.map((e) => [e.Name, 'from-secrets-manager']));
      const config = loadConfig({ ...env(s), ...secrets });
      expect(config.VIDEOBOT_BACKEND).toBe('aws');
      expect(config.VIDEOBOT_HEALTH_PORT).toBe(8080);
      const settings = awsSettings(config).processing;
      const name = processingJobName(settings.jobPrefix, 'j0m1abcd1234', 2);
      const rule = Object.values(s.template.findResources('AWS::Events::Rule')).find(
        (r) => !('ProcessingJobStatus' in r.Properties.EventPattern.detail),
      )!;
      const [{ prefix }] = rule.Properties.EventPattern.detail.ProcessingJobName as [{ prefix: string }];
      expect(name.startsWith(prefix), `${name} vs rule prefix ${prefix}`).toBe(true);
      const arnPattern = flat(taskRoleStatements(s).find((st) => st.Sid === 'CreateProcessingJobs')!.Resource);
      const arn = `arn:aws:sagemaker:eu-west-1:{AWS::AccountId}:processing-job/${name.toLowerCase()}`;
      expect(new RegExp(`^${arnPattern.replace(/[.{}:]/g, '\\$&').replace(/\*/g, '.*')}$`).test(arn), `${arn} vs ${arnPattern}`).toBe(true);
    }
    expect(awsSettings(loadConfig({ ...env(http), SLACK_BOT_TOKEN: 'x', SLACK_SIGNING_SECRET: 'x', DISCORD_TOKEN: 'x' })).processing.instanceTypes).toEqual({
      'cogvideox1.5-5b': 'ml.p5.4xlarge',
    });
  });

  it('injects the tokens as ECS secrets from the JSON keys the chosen mode needs', () => {
    const secrets = (s: Synth) => Object.fromEntries(container(s).Secrets.map((e) => [e.Name, flat(e.ValueFrom)]));
    expect(secrets(socket)).toEqual({
      SLACK_BOT_TOKEN: '{output:SlackSecretArn}:botToken::',
      SLACK_APP_TOKEN: '{output:SlackSecretArn}:appToken::',
    });
    expect(secrets(http)).toEqual({
      SLACK_BOT_TOKEN: '{output:SlackSecretArn}:botToken::',
      SLACK_SIGNING_SECRET: '{output:SlackSecretArn}:signingSecret::',
      DISCORD_TOKEN: '{output:DiscordSecretArn}:token::',
      DISCORD_APPLICATION_ID: '{output:DiscordSecretArn}:applicationId::',
    });
  });

  it('runs one task with a health check, a rolling-back circuit breaker and Container Insights', () => {
    expect(container(socket).HealthCheck.Command.join(' ')).toContain('http://127.0.0.1:8080/healthz');
    socket.template.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 1,
      LaunchType: 'FARGATE',
      DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true }, MinimumHealthyPercent: 100 }),
      NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
    });
    socket.template.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
    socket.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }) })],
    });
    socket.template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: Match.absent(), RetentionInDays: 30 });
  });

  it('runs in a two-AZ VPC with one NAT gateway and flow logs', () => {
    socket.template.resourceCountIs('AWS::EC2::Subnet', 4);
    socket.template.resourceCountIs('AWS::EC2::NatGateway', 1);
    socket.template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL', LogDestinationType: 'cloud-watch-logs' });
  });
});

describe('Socket Mode / Discord: no inbound port', () => {
  it('has no load balancer, no ingress rule and no port mapping', () => {
    socket.template.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 0);
    socket.template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
    for (const sg of Object.values(socket.template.findResources('AWS::EC2::SecurityGroup'))) {
      expect(sg.Properties.SecurityGroupIngress).toBeUndefined();
    }
    expect(container(socket).PortMappings ?? []).toEqual([]);
  });

  it('also holds for a Discord-only bot', () => {
    const discord = build({ chat: 'discord', slackMode: 'http' });
    discord.template.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 0);
    discord.template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
  });
});

describe('Slack HTTP mode', () => {
  it('adds one internet-facing ALB that drops invalid headers and logs to the access-log bucket', () => {
    http.template.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 1);
    http.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      LoadBalancerAttributes: Match.arrayWith([
        { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
        { Key: 'access_logs.s3.enabled', Value: 'true' },
        { Key: 'access_logs.s3.bucket', Value: { 'Fn::GetStackOutput': { StackName: 'VideobotStateful', OutputName: 'AccessLogBucketName' } } },
        { Key: 'access_logs.s3.prefix', Value: 'slack-alb' },
      ]),
    });
  });

  it('listens on 443 only, with the certificate and a current TLS policy, forwarding to the bot on 3000', () => {
    const listeners = Object.values(http.template.findResources('AWS::ElasticLoadBalancingV2::Listener')).map((l) => l.Properties);
    expect(listeners).toHaveLength(1);
    expect(listeners[0]).toMatchObject({
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: TEST_CERTIFICATE_ARN }],
      SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-PQ-2025-09',
    });
    http.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 3000,
      Protocol: 'HTTP',
      TargetType: 'ip',
      HealthCheckPath: '/healthz',
      HealthCheckPort: '8080',
    });
    expect(container(http).PortMappings?.map((p) => p.ContainerPort)).toEqual([3000, 8080]);
  });

  it('opens 443 to the internet on the ALB, and the bot only to the ALB', () => {
    const ingress = Object.values(http.template.findResources('AWS::EC2::SecurityGroup')).flatMap(
      (sg) => (sg.Properties.SecurityGroupIngress ?? []) as { CidrIp?: string; FromPort: number }[],
    );
    expect(ingress).toEqual([expect.objectContaining({ CidrIp: '0.0.0.0/0', FromPort: 443, ToPort: 443 })]);
    const toBot = Object.values(http.template.findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    expect(toBot.map((r) => r.FromPort).sort()).toEqual([3000, 8080]);
    for (const rule of toBot) expect(rule.SourceSecurityGroupId).toBeDefined();
  });

  it('lets Elastic Load Balancing write its logs into the stateful stack’s log bucket', () => {
    http.stateful.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: 'AccessLogBucket' },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Sid: 'LoadBalancerAccessLogs', Action: 's3:PutObject', Principal: { AWS: 'arn:aws:iam::156460612806:root' } }),
        ]),
      },
    });
    const socketPolicy = JSON.stringify(socket.stateful.toJSON());
    expect(socketPolicy).not.toContain('LoadBalancerAccessLogs');
  });
});

describe('retentionDays', () => {
  it('rounds up to a retention CloudWatch Logs accepts', () => {
    expect(retentionDays(30)).toBe(30);
    expect(retentionDays(31)).toBe(60);
    expect(retentionDays(100000)).toBe(3653);
  });
});
