// What the bot's task role may do: exactly the calls bot/aws/* makes, on our resources only.
import { Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledgeWildcardActions, acknowledgeWildcardResources } from '../nag.js';

export interface BotPermissionsProps {
  readonly role: iam.IRole;
  readonly inputBucket: s3.IBucket;
  readonly outputBucket: s3.IBucket;
  readonly table: dynamodb.ITable;
  readonly eventsQueue: sqs.IQueue;
  /** The SageMaker execution role the bot passes to CreateProcessingJob. */
  readonly processingRole: iam.IRole;
  readonly jobPrefix: string;
  /** What every processing job the bot starts must look like; anything else is denied by IAM. */
  readonly processingJobs: ProcessingJobLimits;
  /** Prefix of the job files inside the input and output buckets, e.g. "jobs/". */
  readonly jobFilesPrefix: string;
  readonly bedrock?: { readonly modelId: string };
  /** The Bedrock guardrail that screens prompts (bot/aws/guardrail.ts), with or without the Bedrock enhancer. */
  readonly guardrailId?: string;
}

/**
 * The shape of the processing jobs the bot may create (bot/aws/sagemaker.ts buildProcessingJobRequest), held by
 * SageMaker's condition keys for CreateProcessingJob, so that stolen task credentials cannot start a job with
 * network access, on another instance type, for longer, or with outputs under another key.
 */
export interface ProcessingJobLimits {
  /** SAGEMAKER_INSTANCE_TYPE and the SAGEMAKER_INSTANCE_TYPES overrides. */
  readonly instanceTypes: readonly string[];
  /** The key of ProcessingOutputConfig.KmsKeyId (VIDEOBOT_KMS_KEY_ID, a key ARN). */
  readonly outputKey: kms.IKey;
  /** SAGEMAKER_MAX_RUNTIME_SECONDS: the longest StoppingCondition the bot may ask for. */
  readonly maxRuntimeSeconds: number;
  /** The tag keys the bot puts on a job. */
  readonly tagKeys: readonly string[];
}

/** Geography prefixes of Bedrock's system-defined cross-Region inference profiles. */
const INFERENCE_PROFILE_GEO = /^(us|eu|apac|jp|au|ca|us-gov|global)\.(.+)$/;

export class BotPermissions extends Construct {
  constructor(scope: Construct, id: string, props: BotPermissionsProps) {
    super(scope, id);
    const { role } = props;
    const stack = Stack.of(this);

    // S3ObjectStore: put and read a job's inputs; read, list (HeadObject must see 404, not 403),
    // presign and clear a job's outputs. The buckets' key comes with each grant.
    const jobFiles = `${props.jobFilesPrefix}*`;
    props.inputBucket.grantPut(role, jobFiles);
    props.inputBucket.grantRead(role, jobFiles);
    props.outputBucket.grantRead(role, jobFiles);
    props.outputBucket.grantDelete(role, jobFiles);
    // DynamoJobStore: conditional writes, transactions, queries on the byUser index.
    props.table.grantReadWriteData(role);
    // SqsEventConsumer.
    props.eventsQueue.grantConsumeMessages(role);

    // SageMakerRunner: only jobs carrying our prefix (SageMaker lower-cases names inside ARNs), and only created
    // in the one shape the runner sends. The condition keys are CreateProcessingJob's (Service Authorization
    // Reference); none exists for the image, which the execution role can only pull from our repository.
    const jobs = processingJobArn(stack, props.jobPrefix);
    const limits = props.processingJobs;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'CreateProcessingJobs',
        actions: ['sagemaker:CreateProcessingJob'],
        resources: [jobs],
        conditions: {
          Bool: { 'sagemaker:NetworkIsolation': 'true' },
          // Multivalued key: every type in the request must be ours, and the request must name one.
          'ForAllValues:StringEquals': { 'sagemaker:InstanceTypes': [...limits.instanceTypes], 'aws:TagKeys': [...limits.tagKeys] },
          Null: { 'sagemaker:InstanceTypes': 'false' },
          ArnEquals: { 'sagemaker:OutputKmsKeyArn': limits.outputKey.keyArn },
          NumericLessThanEquals: { 'sagemaker:MaxRuntimeInSeconds': String(limits.maxRuntimeSeconds) },
        },
      }),
    );
    // Tags given to CreateProcessingJob are authorised as AddTags on the new job too.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TagProcessingJobs',
        actions: ['sagemaker:AddTags'],
        resources: [jobs],
        conditions: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [...limits.tagKeys] } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WatchProcessingJobs',
        actions: ['sagemaker:DescribeProcessingJob', 'sagemaker:StopProcessingJob'],
        resources: [jobs],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PassProcessingRole',
        actions: ['iam:PassRole'],
        resources: [props.processingRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
      }),
    );

    acknowledgeWildcardActions(
      role,
      ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:Abort*', 's3:DeleteObject*', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'],
      'Action groups of the CDK grants (grantRead, grantPut, grantDelete, DynamoDB/SQS grants): object reads incl. versions, listing so a missing key reads as 404, aborting its own multipart uploads, deleting a retried job\'s old outputs, data-key calls; all limited to our buckets and our key.',
    );
    acknowledgeWildcardResources(
      role,
      [props.inputBucket.arnForObjects(jobFiles), props.outputBucket.arnForObjects(jobFiles)],
      'Job files in the two job buckets, jobs/<job id>/input/ and jobs/<job id>/output/; job ids are minted at run time.',
    );
    acknowledgeWildcardResources(
      role,
      [`${props.table.tableArn}/index/*`],
      'The job table\'s indexes (byUser), as Table.grantReadWriteData grants them.',
    );
    acknowledgeWildcardResources(
      role,
      [processingJobArn(stack, props.jobPrefix)],
      'Processing jobs named <prefix>-<job id>: the prefix is the whole point, the job id is minted at run time.',
    );

    if (props.bedrock) {
      // The Converse API is authorised as bedrock:InvokeModel.
      for (const statement of bedrockInvokeStatements(stack, props.bedrock.modelId)) role.addToPrincipalPolicy(statement);
      const profile = INFERENCE_PROFILE_GEO.exec(props.bedrock.modelId);
      if (profile) {
        acknowledgeWildcardResources(
          role,
          [foundationModelInAnyRegion(stack, profile[2]!)],
          'A cross-Region inference profile runs the model in whichever Region of its geography has capacity; the statement is only usable through our profile (bedrock:InferenceProfileArn condition).',
        );
      }
    }
    if (props.guardrailId) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'BedrockGuardrail',
          actions: ['bedrock:ApplyGuardrail'],
          resources: [stack.formatArn({ service: 'bedrock', resource: 'guardrail', resourceName: props.guardrailId })],
        }),
      );
    }
  }
}

/** `arn:…:processing-job/<prefix>-*`, the only jobs the bot may create, describe, stop or tag. */
export function processingJobArn(stack: Stack, jobPrefix: string): string {
  return stack.formatArn({ service: 'sagemaker', resource: 'processing-job', resourceName: `${jobPrefix.toLowerCase()}-*` });
}

/**
 * A foundation model id gets its own ARN. A cross-Region inference profile id ("us.anthropic…") gets
 * the profile's ARN plus the underlying model in any Region, usable only through that profile (the
 * profile routes to Regions of its geography, which change as Bedrock adds capacity).
 */
export function bedrockInvokeStatements(stack: Stack, modelId: string): iam.PolicyStatement[] {
  if (modelId.startsWith('arn:')) {
    return [new iam.PolicyStatement({ sid: 'BedrockInvoke', actions: ['bedrock:InvokeModel'], resources: [modelId] })];
  }
  const profile = INFERENCE_PROFILE_GEO.exec(modelId);
  if (!profile) {
    return [
      new iam.PolicyStatement({
        sid: 'BedrockInvoke',
        actions: ['bedrock:InvokeModel'],
        resources: [stack.formatArn({ service: 'bedrock', account: '', resource: 'foundation-model', resourceName: modelId })],
      }),
    ];
  }
  const profileArn = stack.formatArn({ service: 'bedrock', resource: 'inference-profile', resourceName: modelId });
  return [
    new iam.PolicyStatement({ sid: 'BedrockInvokeProfile', actions: ['bedrock:InvokeModel'], resources: [profileArn] }),
    new iam.PolicyStatement({
      sid: 'BedrockInvokeProfileModel',
      actions: ['bedrock:InvokeModel'],
      resources: [foundationModelInAnyRegion(stack, profile[2]!)],
      conditions: { StringEquals: { 'bedrock:InferenceProfileArn': profileArn } },
    }),
  ];
}

function foundationModelInAnyRegion(stack: Stack, modelId: string): string {
  return stack.formatArn({ service: 'bedrock', region: '*', account: '', resource: 'foundation-model', resourceName: modelId });
}
