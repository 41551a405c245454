// Builds the AWS SDK clients for one region and endpoint; the only place the AWS backend constructs clients.
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { SQSClient } from '@aws-sdk/client-sqs';

export type AwsService = 's3' | 'dynamodb' | 'sqs' | 'sagemaker' | 'sagemakerRuntime' | 'bedrock';

export interface AwsClientSettings {
  readonly region: string;
  /** AWS_ENDPOINT_URL: one endpoint for every service (LocalStack, moto, a VPC endpoint proxy). */
  readonly endpoint?: string;
  /** Per-service endpoints; win over `endpoint` (tests put moto and the fakes on different ports). */
  readonly endpoints?: Partial<Record<AwsService, string>>;
  /** SDK attempts per call, including the first (the SDK's default is 3). */
  readonly maxAttempts?: number;
}

export interface AwsClients {
  readonly s3: S3Client;
  readonly dynamo: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  readonly sagemaker: SageMakerClient;
  /** InvokeEndpointAsync (the asynchronous-endpoint runner). */
  readonly sagemakerRuntime: SageMakerRuntimeClient;
  readonly bedrock: BedrockRuntimeClient;
  destroy(): void;
}

/** Region, endpoint and retry settings for one service; credentials come from the SDK's default chain. */
export function clientConfig(settings: AwsClientSettings, service: AwsService) {
  const endpoint = settings.endpoints?.[service] ?? settings.endpoint;
  return {
    region: settings.region,
    ...(endpoint ? { endpoint } : {}),
    ...(settings.maxAttempts ? { maxAttempts: settings.maxAttempts } : {}),
  };
}

export function createAwsClients(settings: AwsClientSettings): AwsClients {
  const s3Config = clientConfig(settings, 's3');
  // A custom endpoint (moto, LocalStack, MinIO) rarely serves virtual-hosted bucket names.
  const s3 = new S3Client({ ...s3Config, forcePathStyle: s3Config.endpoint !== undefined });
  const dynamoBase = new DynamoDBClient(clientConfig(settings, 'dynamodb'));
  const dynamo = DynamoDBDocumentClient.from(dynamoBase, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
  const sqs = new SQSClient(clientConfig(settings, 'sqs'));
  const sagemaker = new SageMakerClient(clientConfig(settings, 'sagemaker'));
  const sagemakerRuntime = new SageMakerRuntimeClient(clientConfig(settings, 'sagemakerRuntime'));
  const bedrock = new BedrockRuntimeClient(clientConfig(settings, 'bedrock'));
  return {
    s3,
    dynamo,
    sqs,
    sagemaker,
    sagemakerRuntime,
    bedrock,
    destroy() {
      for (const c of [s3, dynamoBase, sqs, sagemaker, sagemakerRuntime, bedrock]) c.destroy();
    },
  };
}

/** `s3://bucket/some/prefix/` → { bucket, key: 'some/prefix/' }. */
export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!m) throw new Error(`not an s3:// URI: ${uri}`);
  return { bucket: m[1]!, key: m[2]! };
}

/** Ensures a prefix URI ends with one slash, so `<uri><preset>/` is a folder below it. */
export function asPrefixUri(uri: string): string {
  return uri.endsWith('/') ? uri : `${uri}/`;
}

/** The SDK's error name (ResourceInUse, ConditionalCheckFailedException, NoSuchKey, ...). */
export function awsErrorName(err: unknown): string | undefined {
  return err && typeof err === 'object' && 'name' in err ? String((err as { name: unknown }).name) : undefined;
}

export function httpStatusOf(err: unknown): number | undefined {
  const meta = (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata;
  return meta?.httpStatusCode;
}
