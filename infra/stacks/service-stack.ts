// The service stack: network, the bot's Fargate service, the processing image and role, job events, alarms.
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { instanceTypesInUse } from '../../bot/aws/instance-types.js';
import { getPreset } from '../../bot/core/presets.js';
import { HEALTH_PORT, JOB_MAX_RUNTIME_SECONDS, SLACK_HTTP_PORT, botEnvironment, botSecretKeys } from '../bot-environment.js';
import type { AppConfig } from '../config.js';
import { Alarms } from '../constructs/alarms.js';
import { AsyncEndpoint } from '../constructs/async-endpoint.js';
import { BOT_CONTAINER, BotService } from '../constructs/bot-service.js';
import { BotPermissions } from '../constructs/bot-permissions.js';
import { JobEvents } from '../constructs/job-events.js';
import { JOB_PREFIX, MODEL_PREFIX } from '../constructs/job-buckets.js';
import { Network } from '../constructs/network.js';
import { ProcessingRole } from '../constructs/processing-role.js';
import { SlackIngress } from '../constructs/slack-ingress.js';
import { StatefulImports } from '../stateful-outputs.js';
import { LOAD_BALANCER_LOG_PREFIX } from './stateful-stack.js';

export type ServiceConfig = Pick<
  AppConfig,
  | 'availabilityZones'
  | 'retainData'
  | 'chat'
  | 'slackMode'
  | 'certificateArn'
  | 'allowedUsers'
  | 'allowedChannels'
  | 'admins'
  | 'logLevel'
  | 'jobPrefix'
  | 'instanceType'
  | 'instanceTypes'
  | 'asyncEndpoints'
  | 'bedrock'
  | 'guardrail'
  | 'retention'
  | 'alarmEmail'
  | 'botImageDirectory'
  | 'processingImageDirectory'
>;

export interface ServiceStackProps extends StackProps {
  readonly config: ServiceConfig;
  /** The stateful stack (same account and region) whose outputs this stack reads. */
  readonly statefulStackName: string;
}

/** The tags the bot puts on each processing job (bot/aws/sagemaker.ts); its IAM policy allows no others. */
export const PROCESSING_JOB_TAG_KEYS = ['videobot:job-id', 'videobot:user'] as const;

/** Python caches and virtualenvs never belong in the processing image's build context. */
const PROCESSING_CONTEXT_EXCLUDES = ['.venv', '**/__pycache__', '.pytest_cache', '**/*.pyc', 'var'];

export class ServiceStack extends Stack {
  readonly bot: BotService;
  readonly events: JobEvents;
  readonly processingRole: ProcessingRole;
  /** Passed by an administrator to the model-staging job; the bot may not pass it. */
  readonly stagingRole: ProcessingRole;
  readonly processingImage: ecrAssets.DockerImageAsset;
  readonly ingress?: SlackIngress;
  readonly alarms: Alarms;
  /** One per preset when the bot runs videos on asynchronous endpoints (`-c runner=async`). */
  readonly asyncEndpoints: AsyncEndpoint[] = [];

  constructor(scope: Construct, id: string, props: ServiceStackProps) {
    super(scope, id, props);
    const { config } = props;
    const data = new StatefulImports(this, 'Stateful', { stackName: props.statefulStackName, chat: config.chat });
    const logRetention = retentionDays(config.retention.logDays);

    // Queues and the alarm topic get a key of their own: its policy must admit EventBridge and
    // CloudWatch, which the job data key has no reason to trust.
    const messagingKey = new kms.Key(this, 'MessagingKey', {
      description: `videobot job events and alarms (${id})`,
      enableKeyRotation: true,
      pendingWindow: Duration.days(7),
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const network = new Network(this, 'Network', {
      availabilityZones: config.availabilityZones,
      logRetention,
      retainLogs: config.retainData,
    });

    this.processingImage = new ecrAssets.DockerImageAsset(this, 'ProcessingImage', {
      directory: config.processingImageDirectory,
      platform: ecrAssets.Platform.LINUX_AMD64,
      exclude: PROCESSING_CONTEXT_EXCLUDES,
    });
    const jobData = {
      inputBucket: data.inputBucket,
      outputBucket: data.outputBucket,
      modelBucket: data.modelBucket,
      modelPrefix: MODEL_PREFIX,
      jobPrefix: JOB_PREFIX,
      key: data.key,
      imageRepository: this.processingImage.repository,
    };
    this.processingRole = new ProcessingRole(this, 'Processing', { purpose: 'generate', ...jobData });
    this.stagingRole = new ProcessingRole(this, 'Staging', { purpose: 'stage', ...jobData });

    this.events = new JobEvents(this, 'JobEvents', {
      jobPrefix: config.jobPrefix,
      key: messagingKey,
      logRetention,
      retainLogs: config.retainData,
    });

    const keys = botSecretKeys(config.chat, config.slackMode);
    const secrets: Record<string, ecs.Secret> = {};
    for (const [platform, variables] of keys) {
      for (const [name, field] of Object.entries(variables)) secrets[name] = ecs.Secret.fromSecretsManager(data.chatSecrets[platform]!, field);
    }

    const httpMode = config.chat.includes('slack') && config.slackMode === 'http';
    this.bot = new BotService(this, 'Bot', {
      vpc: network.vpc,
      imageDirectory: config.botImageDirectory,
      environment: botEnvironment({
        region: this.region,
        chat: config.chat,
        ...(config.slackMode ? { slackMode: config.slackMode } : {}),
        allowedUsers: config.allowedUsers,
        allowedChannels: config.allowedChannels,
        admins: config.admins,
        logLevel: config.logLevel,
        inputBucket: data.inputBucket.bucketName,
        outputBucket: data.outputBucket.bucketName,
        modelCacheUri: `s3://${data.modelBucket.bucketName}/${MODEL_PREFIX}`,
        kmsKeyArn: data.key.keyArn,
        jobTable: data.jobTable.tableName,
        eventsQueueUrl: this.events.queue.queueUrl,
        sagemakerRoleArn: this.processingRole.role.roleArn,
        sagemakerImageUri: this.processingImage.imageUri,
        jobPrefix: config.jobPrefix,
        instanceType: config.instanceType,
        instanceTypes: config.instanceTypes,
        ...(config.bedrock ? { bedrockModelId: config.bedrock.modelId } : {}),
        ...(config.guardrail ? { bedrockGuardrail: config.guardrail } : {}),
      }),
      secrets,
      healthPort: HEALTH_PORT,
      ...(httpMode ? { ingressPort: SLACK_HTTP_PORT } : {}),
      logRetention,
      retainLogs: config.retainData,
    });

    new BotPermissions(this, 'BotPermissions', {
      role: this.bot.taskDefinition.taskRole,
      inputBucket: data.inputBucket,
      outputBucket: data.outputBucket,
      table: data.jobTable,
      eventsQueue: this.events.queue,
      processingRole: this.processingRole.role,
      jobPrefix: config.jobPrefix,
      processingJobs: {
        instanceTypes: instanceTypesInUse(config.instanceType, config.instanceTypes),
        outputKey: data.key,
        maxRuntimeSeconds: JOB_MAX_RUNTIME_SECONDS,
        tagKeys: PROCESSING_JOB_TAG_KEYS,
      },
      jobFilesPrefix: JOB_PREFIX,
      ...(config.bedrock ? { bedrock: { modelId: config.bedrock.modelId } } : {}),
      ...(config.guardrail ? { guardrailId: config.guardrail.id } : {}),
    });

    if (httpMode) {
      if (!config.certificateArn) throw new Error('Slack HTTP mode needs certificateArn');
      this.ingress = new SlackIngress(this, 'SlackIngress', {
        vpc: network.vpc,
        service: this.bot.service,
        containerName: BOT_CONTAINER,
        containerPort: SLACK_HTTP_PORT,
        healthPort: HEALTH_PORT,
        certificateArn: config.certificateArn,
        accessLogBucket: data.accessLogBucket,
        accessLogPrefix: LOAD_BALANCER_LOG_PREFIX,
      });
      new CfnOutput(this, 'SlackRequestUrlTarget', {
        value: this.ingress.loadBalancer.loadBalancerDnsName,
        description: "Point your certificate's DNS name at this (CNAME/alias); Slack's Request URL is https://<that name>/slack/events",
      });
    }

    this.alarms = new Alarms(this, 'Alarms', {
      key: messagingKey,
      ...(config.alarmEmail ? { email: config.alarmEmail } : {}),
      deadLetterQueue: this.events.deadLetterQueue,
      eventsQueue: this.events.queue,
      failedJobs: this.events.failedJobsMetric,
      cluster: this.bot.cluster,
      service: this.bot.service,
      botLogGroup: this.bot.logGroup,
      ...(this.ingress ? { targetGroup: this.ingress.targetGroup } : {}),
    });

    for (const preset of config.asyncEndpoints?.presets ?? []) {
      const endpoint = new AsyncEndpoint(this, `AsyncEndpoint-${preset}`, {
        preset,
        hasWeights: (getPreset(preset)?.hfId ?? null) !== null,
        instanceType: config.instanceTypes.find((pair) => pair.split('=')[0]?.trim() === preset)?.split('=')[1]?.trim() ?? config.instanceType,
        maxInstances: config.asyncEndpoints!.maxInstances,
        imageUri: this.processingImage.imageUri,
        imageRepository: this.processingImage.repository,
        modelBucket: data.modelBucket,
        modelPrefix: MODEL_PREFIX,
        inputBucket: data.inputBucket,
        outputBucket: data.outputBucket,
        jobPrefix: JOB_PREFIX,
        dataKey: data.key,
        queue: this.events.queue,
        vpc: network.vpc,
        botRole: this.bot.taskDefinition.taskRole,
        alarmTopic: this.alarms.topic,
      });
      this.asyncEndpoints.push(endpoint);
    }
    if (this.asyncEndpoints.length > 0) {
      const container = this.bot.taskDefinition.defaultContainer!;
      container.addEnvironment('VIDEOBOT_AWS_RUNNER', 'async');
      container.addEnvironment('VIDEOBOT_ASYNC_ENDPOINTS', this.asyncEndpoints.map((e) => `${e.preset}=${e.endpointName}`).join(','));
      new CfnOutput(this, 'AsyncEndpointNames', { value: this.asyncEndpoints.map((e) => e.endpointName).join(',') });
    }

    new CfnOutput(this, 'ProcessingImageUri', { value: this.processingImage.imageUri });
    new CfnOutput(this, 'ProcessingRoleArn', { value: this.processingRole.role.roleArn });
    new CfnOutput(this, 'StagingRoleArn', {
      value: this.stagingRole.role.roleArn,
      description: 'SAGEMAKER_ROLE_ARN for `videobot models stage` (run with administrator credentials)',
    });
    new CfnOutput(this, 'EventsQueueUrl', { value: this.events.queue.queueUrl });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarms.topic.topicArn });
    new CfnOutput(this, 'BotLogGroupName', { value: this.bot.logGroup.logGroupName });
    new CfnOutput(this, 'BotClusterName', { value: this.bot.cluster.clusterName });
    new CfnOutput(this, 'BotServiceName', { value: this.bot.service.serviceName });
    new CfnOutput(this, 'FailedJobsLogGroupName', { value: this.events.failedJobsLog.logGroupName });
  }
}

/** CloudWatch Logs accepts only certain retention periods: the smallest allowed one ≥ the wish. */
export function retentionDays(days: number): logs.RetentionDays {
  const allowed = Object.values(logs.RetentionDays)
    .filter((v): v is number => typeof v === 'number' && v > 0 && v !== logs.RetentionDays.INFINITE)
    .sort((a, b) => a - b);
  return (allowed.find((d) => d >= days) ?? allowed[allowed.length - 1]) as logs.RetentionDays;
}
