// The stateful stack: what must survive a redeploy of the service — key, buckets, job table, chat secrets.
import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { chatPlatform } from '../chat-platforms.js';
import type { AppConfig } from '../config.js';
import { ChatSecrets } from '../constructs/chat-secrets.js';
import { JobBuckets } from '../constructs/job-buckets.js';
import { JobTable } from '../constructs/job-table.js';
import { pinLogicalId } from '../logical-ids.js';
import { OUTPUT, addOutput, chatSecretOutput } from '../stateful-outputs.js';

export interface StatefulStackProps extends StackProps {
  readonly config: Pick<AppConfig, 'chat' | 'slackMode' | 'retainData' | 'retention'>;
}

/**
 * Logical ids are pinned (see logical-ids.ts): moving a construct must never make CloudFormation
 * replace a bucket or the table. Data is retained on stack deletion unless `removalPolicy=destroy`.
 */
export class StatefulStack extends Stack {
  readonly key: kms.Key;
  readonly buckets: JobBuckets;
  readonly jobTable: JobTable;
  readonly secrets: ChatSecrets;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.key = new kms.Key(this, 'DataKey', {
      description: `videobot job data (${id}): S3 objects and the job table`,
      enableKeyRotation: true,
      pendingWindow: Duration.days(config.retainData ? 30 : 7),
      removalPolicy: config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.buckets = new JobBuckets(this, 'Buckets', {
      key: this.key,
      inputDays: config.retention.inputDays,
      outputDays: config.retention.outputDays,
      noncurrentVersionDays: config.retention.noncurrentVersionDays,
      accessLogDays: config.retention.accessLogDays,
      retainData: config.retainData,
      ...(config.chat.includes('slack') && config.slackMode === 'http' ? { loadBalancerLogPrefix: LOAD_BALANCER_LOG_PREFIX } : {}),
    });
    this.jobTable = new JobTable(this, 'Jobs', { key: this.key, retainData: config.retainData });
    this.secrets = new ChatSecrets(this, 'ChatSecrets', { platforms: config.chat, retainData: config.retainData });

    pinLogicalId(this.key, 'DataKey');
    pinLogicalId(this.buckets.accessLogs, 'AccessLogBucket');
    pinLogicalId(this.buckets.input, 'InputBucket');
    pinLogicalId(this.buckets.output, 'OutputBucket');
    pinLogicalId(this.buckets.models, 'ModelBucket');
    pinLogicalId(this.jobTable.table, 'JobTable');
    for (const { platform, secret } of this.secrets.secrets) pinLogicalId(secret, `${chatPlatform(platform).secret.name}Secret`);

    // The service stack reads these by name (stateful-outputs.ts), as do the commands in docs/deploy.md.
    addOutput(this, OUTPUT.dataKeyArn, this.key.keyArn);
    addOutput(this, OUTPUT.inputBucket, this.buckets.input.bucketName);
    addOutput(this, OUTPUT.outputBucket, this.buckets.output.bucketName);
    addOutput(this, OUTPUT.modelBucket, this.buckets.models.bucketName, 'Model weights go under models/<preset>/: npx videobot models stage <preset>');
    addOutput(this, OUTPUT.accessLogBucket, this.buckets.accessLogs.bucketName);
    addOutput(this, OUTPUT.jobTable, this.jobTable.table.tableName);
    for (const { platform, secret } of this.secrets.secrets) {
      addOutput(this, chatSecretOutput(platform), secret.secretArn, 'Set with: aws secretsmanager put-secret-value (docs/deploy.md)');
    }
  }
}

/** Where the Slack load balancer writes its access logs in the access-log bucket. */
export const LOAD_BALANCER_LOG_PREFIX = 'slack-alb';
