// Operations alarms and the encrypted SNS topic they notify (with an optional e-mail subscription).
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface AlarmsProps {
  /** Encrypts the topic; CloudWatch is granted use of it here, or alarms could not publish. */
  readonly key: kms.IKey;
  readonly email?: string;
  readonly deadLetterQueue: sqs.IQueue;
  readonly eventsQueue: sqs.IQueue;
  readonly failedJobs: cloudwatch.IMetric;
  readonly cluster: ecs.ICluster;
  readonly service: ecs.FargateService;
  /** The bot's JSON log lines; a line with `"alert":"SUBMIT_PERMANENT"` means SageMaker refused a job for good. */
  readonly botLogGroup: logs.ILogGroup;
  /** Slack HTTP mode only. */
  readonly targetGroup?: elbv2.ApplicationTargetGroup;
}

export class Alarms extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', { displayName: 'videobot alarms', masterKey: props.key, enforceSSL: true });
    props.key.grant(
      new iam.ServicePrincipal('cloudwatch.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } } }),
      'kms:Decrypt',
      'kms:GenerateDataKey*',
    );
    if (props.email) this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));

    this.add('DeadLetters', {
      alarmDescription: 'Job events the bot could not handle (or EventBridge could not deliver) are in the dead-letter queue. Inspect, fix, then redrive or purge.',
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.add('EventsBacklog', {
      alarmDescription: 'Job events have waited over 10 minutes: the bot is not consuming its queue.',
      metric: props.eventsQueue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 600,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.add('FailedProcessingJobs', {
      alarmDescription: 'A SageMaker processing job failed. The failed-processing-jobs log group has the FailureReason.',
      metric: props.failedJobs,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const refusedSubmits = new logs.MetricFilter(this, 'RefusedSubmitsFilter', {
      logGroup: props.botLogGroup,
      filterPattern: logs.FilterPattern.stringValue('$.alert', '=', 'SUBMIT_PERMANENT'),
      metricNamespace: 'videobot',
      metricName: 'RefusedProcessingJobSubmits',
      metricValue: '1',
      defaultValue: 0,
    });
    this.add('RefusedSubmits', {
      alarmDescription:
        'SageMaker refused to start a processing job (quota, validation or access): users see the reason, an admin must act. The bot log line with "alert":"SUBMIT_PERMANENT" has the API\'s words in "detail".',
      metric: refusedSubmits.metric({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.add('BotNotRunning', {
      alarmDescription: 'No bot task has been running for 3 minutes (crash loop, failed health check or failed deployment).',
      metric: new cloudwatch.Metric({
        namespace: 'ECS/ContainerInsights',
        metricName: 'RunningTaskCount',
        dimensionsMap: { ClusterName: props.cluster.clusterName, ServiceName: props.service.serviceName },
        statistic: 'Minimum',
        period: Duration.minutes(1),
      }),
      threshold: 1,
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      // No data means Container Insights sees no task either.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    if (props.targetGroup) {
      this.add('BotUnhealthy', {
        alarmDescription: "The load balancer has no healthy bot target: Slack's requests are failing.",
        metric: props.targetGroup.metrics.healthyHostCount({ period: Duration.minutes(1), statistic: 'Minimum' }),
        threshold: 1,
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
    }
  }

  private add(id: string, props: cloudwatch.AlarmProps): void {
    const alarm = new cloudwatch.Alarm(this, id, props);
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    alarm.addOkAction(new actions.SnsAction(this.topic));
    this.alarms.push(alarm);
  }
}
