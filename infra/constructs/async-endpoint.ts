// One SageMaker Asynchronous Inference endpoint serving one preset with the resident worker (processing/serve_http.py):
// model, endpoint config, endpoint, its SNS notifications into the bot's queue, scaling on the backlog down to zero
// instances and back up from zero, alarms for a stuck backlog, and the least the bot and the endpoint may do.
import { Arn, ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sagemaker from 'aws-cdk-lib/aws-sagemaker';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledgeWildcardActions, acknowledgeWildcardResources } from '../nag.js';

/** Where SageMaker stores each invocation's answer and failure, in the output bucket. */
export const ASYNC_RESULTS_PREFIX = 'async/results/';
export const ASYNC_FAILURES_PREFIX = 'async/failures/';
const VARIANT = 'AllTraffic';
/** SageMaker's limits: up to 3600 s to copy the model data and to answer the first /ping. */
const MODEL_DATA_DOWNLOAD_TIMEOUT_S = 3600;
const STARTUP_HEALTH_CHECK_TIMEOUT_S = 3600;

export interface AsyncEndpointProps {
  /** The preset this endpoint serves; its staged weights (`<modelPrefix><preset>/`) are the model data. */
  readonly preset: string;
  /** False for presets built in code (tiny-random): no model data. */
  readonly hasWeights: boolean;
  readonly instanceType: string;
  readonly maxInstances: number;
  readonly imageUri: string;
  readonly imageRepository: ecr.IRepository;
  readonly modelBucket: s3.IBucket;
  readonly modelPrefix: string;
  readonly inputBucket: s3.IBucket;
  readonly outputBucket: s3.IBucket;
  /** `jobs/`: each job's files live under `<jobPrefix><job id>/input|output/`. */
  readonly jobPrefix: string;
  /** The job data key (buckets). */
  readonly dataKey: kms.IKey;
  /** The bot's job-event queue: notifications arrive there in SNS envelopes. */
  readonly queue: sqs.IQueue;
  readonly vpc: ec2.IVpc;
  /** The bot's task role: may invoke this endpoint only, and read its answers. */
  readonly botRole: iam.IRole;
  /** Where the backlog alarms go. */
  readonly alarmTopic?: sns.ITopic;
  /** Backlog per instance the target-tracking policy aims at (1: one waiting video per GPU). */
  readonly backlogPerInstance?: number;
  /** Idle minutes before the last instance is removed. */
  readonly scaleInCooldown?: Duration;
  /** How long work may wait with instances running before the stuck-backlog alarm fires. */
  readonly stuckBacklogAfter?: Duration;
}

export class AsyncEndpoint extends Construct {
  readonly preset: string;
  readonly endpointName: string;
  readonly role: iam.Role;
  readonly notificationKey: kms.Key;
  readonly successTopic: sns.Topic;
  readonly errorTopic: sns.Topic;
  readonly endpoint: sagemaker.CfnEndpoint;
  readonly endpointConfig: sagemaker.CfnEndpointConfig;
  readonly model: sagemaker.CfnModel;
  readonly scaling: appscaling.ScalableTarget;
  readonly stuckBacklogAlarm: cloudwatch.Alarm;
  readonly noCapacityAlarm: cloudwatch.Alarm;
  readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: AsyncEndpointProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.preset = props.preset;
    // Endpoint names: 1-63 letters, digits and dashes. Fixed, so the bot's setting and the IAM policy can name it.
    this.endpointName = `${stack.stackName}-${props.preset}`.replace(/[^a-zA-Z0-9-]/g, '-').slice(0, 63).replace(/-+$/, '');

    // The topics get a key of their own: the queue's key admits each topic by ARN, so one key for both would make
    // the key and the topics depend on each other.
    this.notificationKey = new kms.Key(this, 'NotificationKey', {
      description: `videobot notifications of ${this.endpointName}`,
      enableKeyRotation: true,
      pendingWindow: Duration.days(7),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.successTopic = new sns.Topic(this, 'SuccessTopic', { masterKey: this.notificationKey, enforceSSL: true });
    this.errorTopic = new sns.Topic(this, 'ErrorTopic', { masterKey: this.notificationKey, enforceSSL: true });
    for (const topic of [this.successTopic, this.errorTopic]) topic.addSubscription(new subscriptions.SqsSubscription(props.queue));

    // The endpoint's execution role: pull the image, read the weights and the job's inputs, write the job's outputs
    // and SageMaker's answers, publish the notifications, log, and place its network interfaces in the VPC.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com'),
      description: `videobot asynchronous endpoint ${this.endpointName}`,
    });
    props.imageRepository.grantPull(this.role);
    const jobFiles = `${props.jobPrefix}*`;
    if (props.hasWeights) props.modelBucket.grantRead(this.role, `${props.modelPrefix}${props.preset}/*`);
    props.inputBucket.grantRead(this.role, jobFiles);
    props.outputBucket.grantReadWrite(this.role, jobFiles);
    props.outputBucket.grantPut(this.role, 'async/*');
    props.dataKey.grantEncryptDecrypt(this.role);
    this.successTopic.grantPublish(this.role);
    this.errorTopic.grantPublish(this.role);
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'EndpointLogs',
        actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: [
          Arn.format({ service: 'logs', resource: 'log-group', resourceName: `/aws/sagemaker/Endpoints/${this.endpointName}:*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME }, stack),
        ],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'EndpointMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': ['/aws/sagemaker/Endpoints', 'AWS/SageMaker'] } },
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'EndpointNetwork',
        actions: [
          'ec2:CreateNetworkInterface',
          'ec2:CreateNetworkInterfacePermission',
          'ec2:DeleteNetworkInterface',
          'ec2:DeleteNetworkInterfacePermission',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeVpcs',
          'ec2:DescribeDhcpOptions',
          'ec2:DescribeSubnets',
          'ec2:DescribeSecurityGroups',
        ],
        resources: ['*'],
      }),
    );

    // Only outbound HTTPS: S3 (through the VPC's gateway endpoint) and the AWS APIs above.
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `videobot asynchronous endpoint ${this.endpointName}`,
      allowAllOutbound: false,
    });
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to S3 and the AWS APIs');
    const subnets = props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds;

    this.model = new sagemaker.CfnModel(this, 'Model', {
      executionRoleArn: this.role.roleArn,
      primaryContainer: {
        image: props.imageUri,
        environment: {
          // SageMaker starts the container as `<image> serve`; this makes it the HTTP worker (processing/cli.py).
          VIDEOBOT_SERVE_TRANSPORT: 'http',
          ...(props.hasWeights ? { VIDEOBOT_MODEL_DATA_PRESET: props.preset } : {}),
          VIDEOBOT_KMS_KEY_ID: props.dataKey.keyArn,
        },
        ...(props.hasWeights
          ? {
              modelDataSource: {
                s3DataSource: {
                  s3Uri: props.modelBucket.s3UrlForObject(`${props.modelPrefix}${props.preset}/`),
                  s3DataType: 'S3Prefix',
                  compressionType: 'None',
                },
              },
            }
          : {}),
      },
      vpcConfig: { subnets, securityGroupIds: [this.securityGroup.securityGroupId] },
      // The worker reads and writes the job's S3 prefixes itself (boto3), so the container needs the network.
      enableNetworkIsolation: false,
    });
    this.model.node.addDependency(this.role);

    this.endpointConfig = new sagemaker.CfnEndpointConfig(this, 'Config', {
      productionVariants: [
        {
          variantName: VARIANT,
          modelName: this.model.attrModelName,
          instanceType: props.instanceType,
          initialInstanceCount: 1,
          modelDataDownloadTimeoutInSeconds: MODEL_DATA_DOWNLOAD_TIMEOUT_S,
          containerStartupHealthCheckTimeoutInSeconds: STARTUP_HEALTH_CHECK_TIMEOUT_S,
        },
      ],
      asyncInferenceConfig: {
        clientConfig: { maxConcurrentInvocationsPerInstance: 1 },
        outputConfig: {
          s3OutputPath: props.outputBucket.s3UrlForObject(ASYNC_RESULTS_PREFIX),
          s3FailurePath: props.outputBucket.s3UrlForObject(ASYNC_FAILURES_PREFIX),
          kmsKeyId: props.dataKey.keyArn,
          notificationConfig: { successTopic: this.successTopic.topicArn, errorTopic: this.errorTopic.topicArn },
        },
      },
    });
    this.endpoint = new sagemaker.CfnEndpoint(this, 'Endpoint', {
      endpointName: this.endpointName,
      endpointConfigName: this.endpointConfig.attrEndpointConfigName,
    });

    // The bot: invoke this endpoint only; read SageMaker's answers and failures; write a job's cancel marker.
    props.botRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: `InvokeAsync${props.preset.replace(/[^a-zA-Z0-9]/g, '')}`,
        actions: ['sagemaker:InvokeEndpointAsync'],
        resources: [Arn.format({ service: 'sagemaker', resource: 'endpoint', resourceName: this.endpointName.toLowerCase() }, stack)],
      }),
    );
    props.outputBucket.grantRead(props.botRole, 'async/*');
    props.outputBucket.grantPut(props.botRole, `${props.jobPrefix}*/output/cancel`);
    acknowledgeWildcardResources(
      props.botRole,
      [props.outputBucket.arnForObjects('async/*'), props.outputBucket.arnForObjects(`${props.jobPrefix}*/output/cancel`)],
      'SageMaker names each stored answer after its inference id (async/results|failures/<id>.out); the bot writes only the cancel marker of a job, whose id is minted at run time.',
    );

    // Scaling: target tracking on the backlog per instance (in to zero when idle), plus the step policy AWS
    // documents for leaving zero: target tracking cannot divide a backlog by zero instances, so a request that
    // arrives at an empty endpoint would otherwise wait until the backlog crossed the target.
    const dimensionsMap = { EndpointName: this.endpointName };
    this.scaling = new appscaling.ScalableTarget(this, 'Scaling', {
      serviceNamespace: appscaling.ServiceNamespace.SAGEMAKER,
      resourceId: `endpoint/${this.endpointName}/variant/${VARIANT}`,
      scalableDimension: 'sagemaker:variant:DesiredInstanceCount',
      minCapacity: 0,
      maxCapacity: props.maxInstances,
    });
    this.scaling.node.addDependency(this.endpoint);
    this.scaling.scaleToTrackMetric('Backlog', {
      targetValue: props.backlogPerInstance ?? 1,
      customMetric: new cloudwatch.Metric({
        namespace: 'AWS/SageMaker',
        metricName: 'ApproximateBacklogSizePerInstance',
        dimensionsMap,
        statistic: 'Average',
        period: Duration.minutes(1),
      }),
      scaleInCooldown: props.scaleInCooldown ?? Duration.minutes(15),
      scaleOutCooldown: Duration.minutes(5),
    });
    const fromZero = new appscaling.StepScalingAction(this, 'FromZero', {
      scalingTarget: this.scaling,
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      cooldown: Duration.minutes(5),
    });
    fromZero.addAdjustment({ adjustment: 1, lowerBound: 0 });
    const hasBacklogWithoutCapacity = new cloudwatch.Metric({
      namespace: 'AWS/SageMaker',
      metricName: 'HasBacklogWithoutCapacity',
      dimensionsMap,
      statistic: 'Average',
      period: Duration.minutes(1),
    });
    new cloudwatch.Alarm(this, 'ScaleOutFromZero', {
      alarmDescription: `Work waits at ${this.endpointName} and no instance runs: add one`,
      metric: hasBacklogWithoutCapacity,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(new cwActions.ApplicationScalingAction(fromZero));

    // Alarms: no capacity for 20 minutes (the scale-out failed: quota, capacity, an image that does not start), and
    // a backlog that stays while instances run (a worker that no longer takes work).
    this.noCapacityAlarm = new cloudwatch.Alarm(this, 'NoCapacity', {
      alarmDescription: `${this.endpointName}: videos waited 20 minutes with no instance; check its scaling activity and GPU quota`,
      metric: hasBacklogWithoutCapacity,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 20,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const stuckMinutes = Math.max(5, Math.round((props.stuckBacklogAfter ?? Duration.hours(1)).toMinutes()));
    this.stuckBacklogAlarm = new cloudwatch.Alarm(this, 'StuckBacklog', {
      alarmDescription: `${this.endpointName}: a backlog stayed for ${stuckMinutes} minutes; check the endpoint's logs`,
      metric: new cloudwatch.Metric({
        namespace: 'AWS/SageMaker',
        metricName: 'ApproximateBacklogSize',
        dimensionsMap,
        statistic: 'Minimum',
        period: Duration.minutes(5),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: Math.ceil(stuckMinutes / 5),
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic) {
      for (const alarm of [this.noCapacityAlarm, this.stuckBacklogAlarm]) alarm.addAlarmAction(new cwActions.SnsAction(props.alarmTopic));
    }

    acknowledgeWildcardResources(
      this.role,
      ['*'],
      'cloudwatch:PutMetricData has no resource type (limited to the SageMaker namespaces by condition); the EC2 network-interface actions SageMaker needs to place the endpoint in the VPC take no resource-level scoping for Describe* and are created by SageMaker per instance.',
    );
    acknowledgeWildcardActions(
      this.role,
      ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'],
      'Action groups of the CDK grants (grantRead, grantReadWrite, grantPut, grantEncryptDecrypt): reads incl. versions, listing so a missing key reads as 404, the worker\'s own multipart uploads, data-key calls; all limited to our buckets and key.',
    );
    acknowledgeWildcardResources(
      this.role,
      [
        props.inputBucket.arnForObjects(jobFiles),
        props.outputBucket.arnForObjects(jobFiles),
        props.outputBucket.arnForObjects('async/*'),
        ...(props.hasWeights ? [props.modelBucket.arnForObjects(`${props.modelPrefix}${props.preset}/*`)] : []),
      ],
      'Job files (jobs/<job id>/input|output/, ids minted at run time), SageMaker\'s per-request answers under async/, and this preset\'s staged weights (many files).',
    );
    acknowledgeWildcardResources(
      this.role,
      [Arn.format({ service: 'logs', resource: 'log-group', resourceName: `/aws/sagemaker/Endpoints/${this.endpointName}:*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME }, stack)],
      'The endpoint\'s own log group; SageMaker names one log stream per instance and container at run time.',
    );
  }
}
