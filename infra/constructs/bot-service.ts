// The bot as one Fargate service: cluster, task definition from the repository's Dockerfile, logs, health check.
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgeWildcardResources } from '../nag.js';

export const BOT_CONTAINER = 'bot';

export interface BotServiceProps {
  readonly vpc: ec2.IVpc;
  /** Docker build context holding the bot's Dockerfile (the repository root). */
  readonly imageDirectory: string;
  readonly environment: Record<string, string>;
  readonly secrets: Record<string, ecs.Secret>;
  /** The bot's /healthz port. */
  readonly healthPort: number;
  /** Slack HTTP mode: the port the load balancer forwards to. Unset: no port is exposed at all. */
  readonly ingressPort?: number;
  readonly logRetention: logs.RetentionDays;
  readonly retainLogs: boolean;
}

/**
 * One task: the bot keeps a Socket Mode / gateway connection and long-polls SQS, so it needs no
 * inbound port unless Slack HTTP mode puts a load balancer in front. A rolling deploy briefly runs
 * two tasks; that is safe because every job transition is a conditional write.
 */
export class BotService extends Construct {
  readonly cluster: ecs.Cluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly service: ecs.FargateService;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: BotServiceProps) {
    super(scope, id);
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: 512,
      memoryLimitMiB: 1024,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    const logGroup = (this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.retainLogs ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    }));
    this.container = this.taskDefinition.addContainer(BOT_CONTAINER, {
      image: ecs.ContainerImage.fromAsset(props.imageDirectory, { file: 'Dockerfile', platform: Platform.LINUX_AMD64 }),
      environment: props.environment,
      secrets: props.secrets,
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'bot', mode: ecs.AwsLogDriverMode.NON_BLOCKING }),
      healthCheck: {
        // node:22-slim has no curl; Node's fetch does the probe.
        command: [
          'CMD',
          'node',
          '-e',
          `fetch('http://127.0.0.1:${props.healthPort}/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`,
        ],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(60),
      },
      stopTimeout: Duration.seconds(30),
      // An init process forwards SIGTERM and reaps the ffmpeg children of the Discord video shrinker.
      linuxParameters: new ecs.LinuxParameters(this, 'LinuxParameters', { initProcessEnabled: true }),
      portMappings: props.ingressPort === undefined ? [] : [{ containerPort: props.ingressPort }, { containerPort: props.healthPort }],
    });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The plain variables are resource names, ARNs and allow-lists the bot reads at start (bot/config.ts); every credential is injected from Secrets Manager as an ECS secret.',
    });

    acknowledgeWildcardResources(
      this.taskDefinition.obtainExecutionRole(),
      ['*'],
      'ecr:GetAuthorizationToken has no resource-level permissions; the image pull itself is limited to the bot image repository.',
    );

    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: 1,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      assignPublicIp: false,
      propagateTags: ecs.PropagatedTagSource.SERVICE,
      enableExecuteCommand: false,
    });
  }
}
