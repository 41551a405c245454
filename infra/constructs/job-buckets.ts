// The job data buckets: inputs, outputs, the model-weight cache, and the access-log bucket they all log to.
import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { RegionInfo } from 'aws-cdk-lib/region-info';
import { Construct } from 'constructs';

export interface JobBucketsProps {
  readonly key: kms.IKey;
  /** Job inputs (job.json, the source image) are deleted this many days after upload. */
  readonly inputDays: number;
  /** Job outputs (video.mp4, poster.jpg, progress.json, ...) are deleted this many days after upload. */
  readonly outputDays: number;
  /** Overwritten or deleted versions linger this long (an undo window), then go. */
  readonly noncurrentVersionDays: number;
  readonly accessLogDays: number;
  /** Slack HTTP mode: let Elastic Load Balancing deliver access logs under this prefix of the log bucket. */
  readonly loadBalancerLogPrefix?: string;
  /** false: buckets and their objects are deleted with the stack (dev only). */
  readonly retainData: boolean;
}

/** Where the model weights live inside the model bucket: `s3://<modelBucket>/models/<preset>/`. */
export const MODEL_PREFIX = 'models/';
/** Where job files live in the input and output buckets: `jobs/<id>/input/`, `jobs/<id>/output/` (bot/aws/s3.ts). */
export const JOB_PREFIX = 'jobs/';

/**
 * Four buckets, all private, TLS-only and versioned where the data matters:
 * - input: what the bot uploads for a job (`jobs/<id>/input/`), read by the processing job;
 * - output: what the processing job writes (`jobs/<id>/output/`), read and presigned by the bot;
 * - models: the staged model weights (`models/<preset>/`), read by the processing job, never expired.
 *   A bucket of its own rather than a prefix of the input bucket, so the input bucket's lifecycle can
 *   expire every object without a prefix contract, and the bot's role can be left without access to it;
 * - access logs: S3 server access logs of the three (and the load balancer's, in Slack HTTP mode).
 *   S3-managed keys, because S3 log delivery cannot write to a bucket encrypted with a customer key.
 */
export class JobBuckets extends Construct {
  readonly accessLogs: s3.Bucket;
  readonly input: s3.Bucket;
  readonly output: s3.Bucket;
  readonly models: s3.Bucket;

  constructor(scope: Construct, id: string, props: JobBucketsProps) {
    super(scope, id);
    const removal = props.retainData
      ? { removalPolicy: RemovalPolicy.RETAIN }
      : { removalPolicy: RemovalPolicy.DESTROY, autoDeleteObjects: true };
    const common = {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      ...removal,
    } as const;
    const noncurrent = Duration.days(props.noncurrentVersionDays);
    const housekeeping: s3.LifecycleRule[] = [
      { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      { id: 'drop-expired-delete-markers', expiredObjectDeleteMarker: true },
    ];

    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      ...common,
      encryption: s3.BucketEncryption.S3_MANAGED,
      lifecycleRules: [{ id: 'expire-logs', expiration: Duration.days(props.accessLogDays) }, housekeeping[0]!],
    });
    if (props.loadBalancerLogPrefix) this.allowLoadBalancerLogs(props.loadBalancerLogPrefix);

    const encrypted = {
      ...common,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: props.key,
      bucketKeyEnabled: true,
      versioned: true,
      serverAccessLogsBucket: this.accessLogs,
    } as const;

    this.input = new s3.Bucket(this, 'Input', {
      ...encrypted,
      serverAccessLogsPrefix: 'input/',
      lifecycleRules: [
        {
          id: 'expire-inputs',
          expiration: Duration.days(props.inputDays),
          noncurrentVersionExpiration: noncurrent,
        },
        ...housekeeping,
      ],
    });

    this.output = new s3.Bucket(this, 'Output', {
      ...encrypted,
      serverAccessLogsPrefix: 'output/',
      lifecycleRules: [
        {
          id: 'expire-outputs',
          expiration: Duration.days(props.outputDays),
          noncurrentVersionExpiration: noncurrent,
        },
        ...housekeeping,
      ],
    });

    // No expiration: restaging CogVideoX weights means tens of GB from Hugging Face. Old versions
    // (a re-staged preset) go after a week, leaving time to roll back a bad upload.
    this.models = new s3.Bucket(this, 'Models', {
      ...encrypted,
      serverAccessLogsPrefix: 'models/',
      lifecycleRules: [
        { id: 'expire-replaced-weights', noncurrentVersionExpiration: Duration.days(Math.max(7, props.noncurrentVersionDays)) },
        ...housekeeping,
      ],
    });
  }

  /**
   * The bucket policy ALB access logging needs (what ApplicationLoadBalancer.logAccessLogs would add,
   * which it cannot do on a bucket imported into another stack): the Region's ELB account, or the
   * log-delivery service in Regions opened after August 2022.
   */
  private allowLoadBalancerLogs(prefix: string): void {
    const stack = Stack.of(this);
    if (Token.isUnresolved(stack.region)) throw new Error('Load balancer access logs need a concrete region');
    const elbAccount = RegionInfo.get(stack.region).elbv2Account;
    this.accessLogs.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'LoadBalancerAccessLogs',
        actions: ['s3:PutObject'],
        principals: [elbAccount ? new iam.AccountPrincipal(elbAccount) : new iam.ServicePrincipal('logdelivery.elasticloadbalancing.amazonaws.com')],
        resources: [this.accessLogs.arnForObjects(`${prefix}/AWSLogs/${stack.account}/*`)],
      }),
    );
  }
}
