// `cdk synth -c runner=async`: one asynchronous endpoint per preset, scaling from and to zero, notifications into the
// bot's queue, backlog alarms, and IAM that lets the bot invoke those endpoints and nothing else.
import type { CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AsyncEndpoint } from '../../infra/constructs/async-endpoint.js';
import type { VideobotStacks } from '../../infra/videobot.js';
import { actionsOf, flat, iamStatements, resourcesOf, synthesize } from './stacks.js';

let stacks: VideobotStacks;
let template: Template;
const id = (construct: { node: { defaultChild?: unknown } }) => stacks.service.getLogicalId(construct.node.defaultChild as CfnElement);
const endpointOf = (preset: string): AsyncEndpoint => stacks.service.asyncEndpoints.find((e) => e.preset === preset)!;

beforeAll(() => {
  stacks = synthesize({
    runner: 'async',
    asyncPresets: 'cogvideox-5b,tiny-random',
    asyncMaxInstances: '2',
    instanceTypes: 'tiny-random=ml.g6.xlarge',
    alarmEmail: 'ops@example.com',
  });
  template = Template.fromStack(stacks.service);
}, 60_000);

describe('the default deployment', () => {
  it('has no endpoint and leaves the bot on Processing jobs', () => {
    const plain = Template.fromStack(synthesize({}).service);
    plain.resourceCountIs('AWS::SageMaker::Endpoint', 0);
    plain.resourceCountIs('AWS::SageMaker::Model', 0);
    const env = plain.findResources('AWS::ECS::TaskDefinition');
    expect(JSON.stringify(env)).not.toContain('VIDEOBOT_AWS_RUNNER');
  });

  it('refuses an unknown preset by name', () => {
    expect(() => synthesize({ runner: 'async', asyncPresets: 'cogvideox-9b' })).toThrow(/asyncPresets: unknown preset "cogvideox-9b"/);
  });
});

describe('runner=async', () => {
  it('serves each preset from the processing image in HTTP mode, with only its own weights as model data', () => {
    template.resourceCountIs('AWS::SageMaker::Model', 2);
    const models = Object.values(template.findResources('AWS::SageMaker::Model')).map((m) => m.Properties);
    const big = models.find((m) => m.PrimaryContainer.Environment.VIDEOBOT_MODEL_DATA_PRESET === 'cogvideox-5b')!;
    expect(big.PrimaryContainer.Environment.VIDEOBOT_SERVE_TRANSPORT).toBe('http');
    expect(big.PrimaryContainer.ModelDataSource.S3DataSource).toMatchObject({ S3DataType: 'S3Prefix', CompressionType: 'None' });
    expect(flat(big.PrimaryContainer.ModelDataSource.S3DataSource.S3Uri)).toMatch(/^s3:\/\/.*\/models\/cogvideox-5b\/$/);
    expect(big.VpcConfig.Subnets).toBeDefined();
    const tiny = models.find((m) => m.PrimaryContainer.Environment.VIDEOBOT_MODEL_DATA_PRESET === undefined)!;
    expect(tiny.PrimaryContainer.ModelDataSource).toBeUndefined(); // built in code: nothing to copy
    expect(flat(tiny.PrimaryContainer.Image)).toBe(flat(big.PrimaryContainer.Image));
  });

  it('runs one video per instance, stores answers in the output bucket and notifies both topics', () => {
    const endpoint = endpointOf('cogvideox-5b');
    template.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
      ProductionVariants: [Match.objectLike({ InstanceType: 'ml.g6e.2xlarge', InitialInstanceCount: 1, VariantName: 'AllTraffic' })],
      AsyncInferenceConfig: {
        ClientConfig: { MaxConcurrentInvocationsPerInstance: 1 },
        OutputConfig: Match.objectLike({
          NotificationConfig: { SuccessTopic: { Ref: id(endpoint.successTopic) }, ErrorTopic: { Ref: id(endpoint.errorTopic) } },
        }),
      },
    });
    template.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
      ProductionVariants: [Match.objectLike({ InstanceType: 'ml.g6.xlarge' })], // tiny-random's own type
    });
    const config = template.findResources('AWS::SageMaker::EndpointConfig')[stacks.service.getLogicalId(endpoint.endpointConfig)]!;
    const output = config.Properties.AsyncInferenceConfig.OutputConfig;
    expect(flat(output.S3OutputPath)).toMatch(/\/async\/results\/$/);
    expect(flat(output.S3FailurePath)).toMatch(/\/async\/failures\/$/);
    template.hasResourceProperties('AWS::SageMaker::Endpoint', { EndpointName: endpoint.endpointName });
    expect(endpoint.endpointName).toMatch(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/);
  });

  it('delivers the notifications to the bot\'s queue through encrypted topics that refuse plain HTTP', () => {
    const endpoint = endpointOf('cogvideox-5b');
    for (const topic of [endpoint.successTopic, endpoint.errorTopic]) {
      template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'sqs',
        TopicArn: { Ref: id(topic) },
        Endpoint: { 'Fn::GetAtt': [id(stacks.service.events.queue), 'Arn'] },
      });
      expect(template.findResources('AWS::SNS::Topic')[id(topic)]!.Properties.KmsMasterKeyId).toBeDefined();
      template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        Topics: [{ Ref: id(topic) }],
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
      });
    }
    // The queue admits both topics (SqsSubscription writes the queue policy).
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'sqs:SendMessage', Principal: { Service: 'sns.amazonaws.com' } })]) },
    });
  });

  it('scales on the backlog per instance down to zero, and out of zero with the HasBacklogWithoutCapacity step policy', () => {
    const endpoint = endpointOf('cogvideox-5b');
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      ServiceNamespace: 'sagemaker',
      ScalableDimension: 'sagemaker:variant:DesiredInstanceCount',
      ResourceId: `endpoint/${endpoint.endpointName}/variant/AllTraffic`,
      MinCapacity: 0,
      MaxCapacity: 2,
    });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        TargetValue: 1,
        CustomizedMetricSpecification: Match.objectLike({
          MetricName: 'ApproximateBacklogSizePerInstance',
          Namespace: 'AWS/SageMaker',
          Dimensions: [{ Name: 'EndpointName', Value: endpoint.endpointName }],
        }),
      }),
    });
    const steps = Object.entries(template.findResources('AWS::ApplicationAutoScaling::ScalingPolicy', { Properties: { PolicyType: 'StepScaling' } }));
    expect(steps).toHaveLength(2); // one per endpoint
    const fromZero = Object.entries(template.findResources('AWS::CloudWatch::Alarm', {
      Properties: { MetricName: 'HasBacklogWithoutCapacity', EvaluationPeriods: 1, Dimensions: [{ Name: 'EndpointName', Value: endpoint.endpointName }] },
    }));
    expect(fromZero).toHaveLength(1);
    const [[, alarm]] = fromZero as [[string, { Properties: { AlarmActions: unknown[]; Threshold: number; ComparisonOperator: string } }]];
    expect(alarm.Properties).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    expect(steps.map(([logicalId]) => logicalId)).toContain((alarm.Properties.AlarmActions[0] as { Ref: string }).Ref);
    const [, step] = steps.find(([logicalId]) => logicalId === (alarm.Properties.AlarmActions[0] as { Ref: string }).Ref)!;
    expect(step.Properties.StepScalingPolicyConfiguration).toMatchObject({
      AdjustmentType: 'ChangeInCapacity',
      StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }],
    });
  });

  it('alarms, to the alarm topic, when work waits with no capacity or a backlog stays', () => {
    const endpoint = endpointOf('cogvideox-5b');
    const alarmTopic = { Ref: id(stacks.service.alarms.topic) };
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'HasBacklogWithoutCapacity',
      Dimensions: [{ Name: 'EndpointName', Value: endpoint.endpointName }],
      EvaluationPeriods: 20,
      AlarmActions: [alarmTopic],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateBacklogSize',
      Statistic: 'Minimum',
      Dimensions: [{ Name: 'EndpointName', Value: endpoint.endpointName }],
      AlarmActions: [alarmTopic],
    });
  });

  it('lets the bot invoke exactly these endpoints, read their answers and write only cancel markers', () => {
    const botPolicies = iamStatements(template).filter(({ statement }) => actionsOf(statement).includes('sagemaker:InvokeEndpointAsync'));
    const resources = botPolicies.flatMap(({ statement }) => resourcesOf(statement).map(flat));
    expect(resources.sort()).toEqual(
      stacks.service.asyncEndpoints.map((e) => `arn:aws:sagemaker:${stacks.service.region}:{AWS::AccountId}:endpoint/${e.endpointName.toLowerCase()}`).sort(),
    );
    const puts = iamStatements(template).filter(({ statement }) =>
      resourcesOf(statement).some((r) => flat(r).endsWith('/jobs/*/output/cancel')));
    expect(puts.length).toBeGreaterThan(0);
    expect(actionsOf(puts[0]!.statement)).toContain('s3:PutObject');
  });

  it('gives the endpoint role its topics, its preset\'s weights and the job files, and passes the bot the endpoints', () => {
    const endpoint = endpointOf('cogvideox-5b');
    const roleStatements = iamStatements(template).filter(({ policy }) => policy.startsWith(id(endpoint.role).replace(/[A-F0-9]{8}$/, '')));
    const text = JSON.stringify(roleStatements.map(({ statement }) => ({ a: actionsOf(statement), r: resourcesOf(statement).map(flat) })));
    expect(text).toContain('sns:Publish');
    expect(text).toContain('/models/cogvideox-5b/*');
    expect(text).not.toContain('/models/*"');
    const task = Object.values(template.findResources('AWS::ECS::TaskDefinition'))[0]!;
    const env = (task.Properties.ContainerDefinitions[0].Environment as { Name: string; Value: unknown }[]);
    expect(env).toContainEqual({ Name: 'VIDEOBOT_AWS_RUNNER', Value: 'async' });
    expect(env).toContainEqual({
      Name: 'VIDEOBOT_ASYNC_ENDPOINTS',
      Value: `cogvideox-5b=${endpointOf('cogvideox-5b').endpointName},tiny-random=${endpointOf('tiny-random').endpointName}`,
    });
  });
});
