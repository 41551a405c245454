// The stateful stack's outputs: the named contract the service stack (and docs/deploy.md) read.
import { CfnOutput, Fn, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { chatPlatform, type ChatPlatform } from './chat-platforms.js';
import { USER_INDEX } from './constructs/job-table.js';

/** Output names (and logical ids) of the stateful stack. Renaming one breaks deployed service stacks. */
export const OUTPUT = {
  dataKeyArn: 'DataKeyArn',
  inputBucket: 'InputBucketName',
  outputBucket: 'OutputBucketName',
  modelBucket: 'ModelBucketName',
  accessLogBucket: 'AccessLogBucketName',
  jobTable: 'JobTableName',
} as const;

/** The output holding a chat platform's secret ARN: `SlackSecretArn`, `DiscordSecretArn`. */
export function chatSecretOutput(platform: ChatPlatform): string {
  return `${chatPlatform(platform).secret.name}SecretArn`;
}

export function addOutput(stack: Stack, name: string, value: string, description?: string): CfnOutput {
  const output = new CfnOutput(stack, name, { value, ...(description ? { description } : {}) });
  output.overrideLogicalId(name);
  return output;
}

export interface StatefulImportsProps {
  /** The stateful stack's name (same account and region). */
  readonly stackName: string;
  readonly chat: readonly ChatPlatform[];
}

/**
 * The stateful resources as the service stack sees them, read with Fn::GetStackOutput from named
 * outputs. Explicit names rather than CDK's automatic cross-stack references keep the service
 * template readable, never lock the stateful stack's outputs with exports, and give IAM resources a
 * form known at synth time (the cdk-nag acknowledgements name them).
 */
export class StatefulImports extends Construct {
  readonly key: kms.IKey;
  readonly inputBucket: s3.IBucket;
  readonly outputBucket: s3.IBucket;
  readonly modelBucket: s3.IBucket;
  readonly accessLogBucket: s3.IBucket;
  readonly jobTable: dynamodb.ITable;
  /** The chosen chat platforms' secrets. */
  readonly chatSecrets: Partial<Record<ChatPlatform, secretsmanager.ISecret>> = {};

  constructor(scope: Construct, id: string, props: StatefulImportsProps) {
    super(scope, id);
    const get = (name: string) => Fn.getStackOutput(props.stackName, name);
    this.key = kms.Key.fromKeyArn(this, 'DataKey', get(OUTPUT.dataKeyArn));
    const bucket = (id: string, name: string, encrypted: boolean) =>
      s3.Bucket.fromBucketAttributes(this, id, { bucketName: get(name), ...(encrypted ? { encryptionKey: this.key } : {}) });
    this.inputBucket = bucket('InputBucket', OUTPUT.inputBucket, true);
    this.outputBucket = bucket('OutputBucket', OUTPUT.outputBucket, true);
    this.modelBucket = bucket('ModelBucket', OUTPUT.modelBucket, true);
    this.accessLogBucket = bucket('AccessLogBucket', OUTPUT.accessLogBucket, false);
    this.jobTable = dynamodb.Table.fromTableAttributes(this, 'JobTable', {
      tableName: get(OUTPUT.jobTable),
      encryptionKey: this.key,
      globalIndexes: [USER_INDEX],
    });
    for (const platform of props.chat) {
      const id = `${chatPlatform(platform).secret.name}Secret`;
      this.chatSecrets[platform] = secretsmanager.Secret.fromSecretCompleteArn(this, id, get(chatSecretOutput(platform)));
    }
  }
}
