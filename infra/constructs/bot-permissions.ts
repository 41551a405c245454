// What the bot's task role may do: exactly the calls bot/aws/* makes, on our resources only.
import { Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
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
  /** Prefix of the job files inside the input and output buckets, e.g. "jobs/". */
  readonly jobFilesPrefix: string;
  readonly bedrock?: { readonly modelId: string; readonly guardrailId?: string };
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

    // SageMakerRunner: only jobs carrying our prefix. SageMaker lower-cases names inside ARNs.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ProcessingJobs',
        actions: ['sagemaker:CreateProcessingJob', 'sagemaker:DescribeProcessingJob', 'sagemaker:StopProcessingJob', 'sagemaker:AddTags'],
        resources: [processingJobArn(stack, props.jobPrefix)],
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
      if (props.bedrock.guardrailId) {
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            sid: 'BedrockGuardrail',
            actions: ['bedrock:ApplyGuardrail'],
            resources: [stack.formatArn({ service: 'bedrock', resource: 'guardrail', resourceName: props.bedrock.guardrailId })],
          }),
        );
      }
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
