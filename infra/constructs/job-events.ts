// Processing-job state changes: EventBridge rule → SQS queue (+ DLQ) for the bot, and a failed-jobs log and metric.
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export const PROCESSING_JOB_STATE_CHANGE = 'SageMaker Processing Job State Change';

export interface JobEventsProps {
  /** The bot's SAGEMAKER_JOB_PREFIX; job names are `<prefix>-<job id>`. */
  readonly jobPrefix: string;
  /** Encrypts both queues; its policy must let EventBridge use it (the SQS target grants that). */
  readonly key: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly retainLogs: boolean;
  /** Receives before a message the bot keeps failing on moves to the DLQ. */
  readonly maxReceiveCount?: number;
}

/**
 * Only our jobs' events reach the queue (name prefix `<prefix>-`), so another workload's
 * processing jobs in the same account never wake the bot. Deliveries EventBridge cannot make
 * and messages the bot keeps failing on both land in the one DLQ, which has an alarm.
 */
export class JobEvents extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly rule: events.Rule;
  readonly failedJobsRule: events.Rule;
  readonly failedJobsLog: logs.LogGroup;
  readonly failedJobsMetric: cloudwatch.Metric;

  constructor(scope: Construct, id: string, props: JobEventsProps) {
    super(scope, id);
    const namePrefix = `${props.jobPrefix}-`;

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.key,
      // Data keys are reused for 5 minutes instead of one KMS call per message.
      dataKeyReuse: Duration.minutes(5),
      enforceSSL: true,
      // Handling "Completed" downloads the video and uploads it to the chat: minutes, not seconds.
      visibilityTimeout: Duration.minutes(5),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
    });

    this.rule = new events.Rule(this, 'StateChangeRule', {
      description: `State changes of SageMaker processing jobs named ${namePrefix}* → the bot's queue`,
      eventPattern: {
        source: ['aws.sagemaker'],
        detailType: [PROCESSING_JOB_STATE_CHANGE],
        detail: { ProcessingJobName: events.Match.prefix(namePrefix) },
      },
    });
    this.rule.addTarget(
      new targets.SqsQueue(this.queue, { deadLetterQueue: this.deadLetterQueue, maxEventAge: Duration.hours(24), retryAttempts: 185 }),
    );

    // A second rule keeps every failure (with SageMaker's FailureReason) in a log group; a metric
    // filter counts them for the failed-jobs alarm. A native resource policy lets EventBridge write,
    // avoiding the custom resource that the stock CloudWatchLogGroup target would deploy.
    this.failedJobsLog = new logs.LogGroup(this, 'FailedJobsLog', {
      logGroupName: `/aws/events/${Stack.of(this).stackName}/failed-processing-jobs`,
      retention: props.logRetention,
      removalPolicy: props.retainLogs ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.failedJobsLog.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.failedJobsLog.logGroupArn],
      }),
    );
    this.failedJobsRule = new events.Rule(this, 'FailedJobsRule', {
      description: `Failed SageMaker processing jobs named ${namePrefix}* → ${this.failedJobsLog.logGroupName}`,
      eventPattern: {
        source: ['aws.sagemaker'],
        detailType: [PROCESSING_JOB_STATE_CHANGE],
        detail: { ProcessingJobName: events.Match.prefix(namePrefix), ProcessingJobStatus: ['Failed'] },
      },
    });
    // EventBridge wants the log group's ARN without the ":*" that Fn::GetAtt adds.
    const targetArn = Stack.of(this).formatArn({
      service: 'logs',
      resource: 'log-group',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      resourceName: this.failedJobsLog.logGroupName,
    });
    this.failedJobsRule.addTarget({ bind: () => ({ arn: targetArn }) });

    const metricNamespace = `Videobot/${Stack.of(this).stackName}`;
    this.failedJobsLog.addMetricFilter('FailedJobsCount', {
      filterPattern: logs.FilterPattern.stringValue('$.detail.ProcessingJobStatus', '=', 'Failed'),
      metricNamespace,
      metricName: 'FailedProcessingJobs',
      metricValue: '1',
    });
    this.failedJobsMetric = new cloudwatch.Metric({
      namespace: metricNamespace,
      metricName: 'FailedProcessingJobs',
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
    });
  }
}
