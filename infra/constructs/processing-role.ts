// A SageMaker execution role of the processing jobs: generation (read inputs and weights, write outputs) or staging (write weights); both log and pull the image.
import { ArnFormat, Stack } from 'aws-cdk-lib';
import type * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgeWildcardActions, acknowledgeWildcardResources } from '../nag.js';

/**
 * `generate`: the role the bot passes to every video job. `stage`: the role an administrator passes to the
 * model-staging job, the only one that may write the model cache, so the bot (and any job it starts) cannot
 * change the weights every later job loads.
 */
export type ProcessingPurpose = 'generate' | 'stage';

export interface ProcessingRoleProps {
  readonly purpose: ProcessingPurpose;
  readonly inputBucket: s3.IBucket;
  readonly outputBucket: s3.IBucket;
  readonly modelBucket: s3.IBucket;
  /** Prefix of the weights inside modelBucket, e.g. "models/". */
  readonly modelPrefix: string;
  /** Prefix of the job files inside the input and output buckets, e.g. "jobs/". */
  readonly jobPrefix: string;
  readonly key: kms.IKey;
  /** The ECR repository the processing image asset is pushed to. */
  readonly imageRepository: ecr.IRepository;
}

/** SageMaker writes every processing job's logs to this group (one stream per job and instance). */
const PROCESSING_LOG_GROUP = '/aws/sagemaker/ProcessingJobs';

/**
 * Assumed only by SageMaker (for jobs in this account). Generation jobs run with network isolation:
 * SageMaker copies their S3 channels in and out with this role, pulls the image and writes logs and
 * metrics. The model-staging job (internet on, to reach Hugging Face) fills the model cache with a
 * role of its own that reads no job data.
 */
export class ProcessingRole extends Construct {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: ProcessingRoleProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const generate = props.purpose === 'generate';
    this.role = new iam.Role(this, 'Role', {
      description: generate ? 'videobot SageMaker processing jobs' : 'videobot model-staging job (writes the model cache)',
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    });

    if (generate) {
      props.inputBucket.grantRead(this.role, `${props.jobPrefix}*`);
      props.modelBucket.grantRead(this.role, `${props.modelPrefix}*`);
      props.outputBucket.grantPut(this.role, `${props.jobPrefix}*`);
    } else {
      // `videobot models stage <preset>` (bot/aws/model-cache.ts): the job's output is the model cache. Reading
      // it too keeps what the staging job could do when it shared the generation role (bucket location, listing).
      props.modelBucket.grantRead(this.role, `${props.modelPrefix}*`);
      props.modelBucket.grantPut(this.role, `${props.modelPrefix}*`);
    }
    // Continuous-mode outputs are multipart uploads, whose parts S3 decrypts to assemble.
    props.key.grantEncryptDecrypt(this.role);
    props.imageRepository.grantPull(this.role);

    const logGroupArn = stack.formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: PROCESSING_LOG_GROUP,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ProcessingJobLogs',
        actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
        resources: [logGroupArn, `${logGroupArn}:*`],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ProcessingJobMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': '/aws/sagemaker/ProcessingJobs' } },
      }),
    );

    acknowledgeWildcardActions(
      this.role,
      ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:Abort*', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'],
      'Action groups of the CDK grants (grantRead, grantPut, grantEncryptDecrypt): object reads incl. versions and tags, bucket location/listing for S3Prefix inputs, aborting its own multipart uploads, and data-key calls, all limited to our buckets and our key.',
    );
    if (generate) {
      acknowledgeWildcardResources(
        this.role,
        [props.inputBucket.arnForObjects(`${props.jobPrefix}*`), props.outputBucket.arnForObjects(`${props.jobPrefix}*`)],
        'Job files in the input and output buckets (jobs/<job id>/input/, jobs/<job id>/output/): SageMaker copies one job\'s folders per run, and job ids are minted at run time.',
      );
    }
    acknowledgeWildcardResources(
      this.role,
      [props.modelBucket.arnForObjects(`${props.modelPrefix}*`)],
      generate
        ? 'Only the model-weight prefix of the model bucket, read-only: a generation job reads the preset it runs, chosen per job.'
        : 'Only the model-weight prefix of the model bucket: the staging job writes one preset folder, chosen per run by an administrator.',
    );
    acknowledgeWildcardResources(
      this.role,
      [`${logGroupArn}:*`],
      'The log streams of the shared /aws/sagemaker/ProcessingJobs log group, one per job and instance, named by SageMaker at run time.',
    );
    acknowledgeWildcardResources(
      this.role,
      ['*'],
      'Two actions that have no resource-level permissions: ecr:GetAuthorizationToken (image pull login; the pull itself is limited to the asset repository) and cloudwatch:PutMetricData, held to the /aws/sagemaker/ProcessingJobs namespace by a condition.',
    );
  }
}
