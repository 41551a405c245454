// The stateful stack: encrypted, private, TLS-only buckets with access logs and lifecycles; the job table; secrets; stable ids.
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { JOB_TABLE } from '../../bot/aws/table-layout.js';
import { OUTPUT, chatSecretOutput } from '../../infra/stateful-outputs.js';
import { synthesize } from './stacks.js';

let template: Template;
let destroyable: Template;

beforeAll(() => {
  template = Template.fromStack(synthesize({ chat: 'slack,discord' }).stateful);
  destroyable = Template.fromStack(
    synthesize({ removalPolicy: 'destroy', inputRetentionDays: '3', outputRetentionDays: '14', noncurrentVersionDays: '2' }).stateful,
  );
});

const ENCRYPTED_BUCKETS = { InputBucket: 'input/', OutputBucket: 'output/', ModelBucket: 'models/' } as const;
const ALL_BUCKETS = [...Object.keys(ENCRYPTED_BUCKETS), 'AccessLogBucket'];

function bucket(t: Template, logicalId: string) {
  const resource = t.toJSON().Resources[logicalId];
  expect(resource?.Type, logicalId).toBe('AWS::S3::Bucket');
  return resource as { Properties: Record<string, any>; DeletionPolicy?: string };
}

function lifecycleRule(t: Template, logicalId: string, ruleId: string) {
  const rules = bucket(t, logicalId).Properties.LifecycleConfiguration.Rules as { Id: string }[];
  return rules.find((r) => r.Id === ruleId) as Record<string, any> | undefined;
}

describe('stable logical ids', () => {
  // Changing one of these makes CloudFormation replace the resource: new bucket, new table, lost data.
  it('pins the key, buckets, table and secrets', () => {
    const ids = (type: string) => Object.keys(template.findResources(type)).sort();
    expect(ids('AWS::KMS::Key')).toEqual(['DataKey']);
    expect(ids('AWS::S3::Bucket')).toEqual(['AccessLogBucket', 'InputBucket', 'ModelBucket', 'OutputBucket']);
    expect(ids('AWS::DynamoDB::Table')).toEqual(['JobTable']);
    expect(ids('AWS::SecretsManager::Secret')).toEqual(['DiscordSecret', 'SlackSecret']);
  });

  it('publishes the named outputs the service stack reads', () => {
    // Renaming one breaks deployed service stacks and the commands in docs/deploy.md.
    expect(Object.keys(template.toJSON().Outputs).sort()).toEqual([...Object.values(OUTPUT), 'SlackSecretArn', 'DiscordSecretArn'].sort());
    expect(['slack', 'discord'].map((p) => chatSecretOutput(p as 'slack' | 'discord'))).toEqual(['SlackSecretArn', 'DiscordSecretArn']);
  });
});

describe('key', () => {
  it('rotates and is retained', () => {
    template.hasResource('AWS::KMS::Key', { Properties: { EnableKeyRotation: true }, DeletionPolicy: 'Retain' });
  });
});

describe('buckets', () => {
  it.each(Object.entries(ENCRYPTED_BUCKETS))('%s is encrypted with the data key, versioned and logged under %s', (id, prefix) => {
    const { Properties } = bucket(template, id);
    expect(Properties.BucketEncryption.ServerSideEncryptionConfiguration).toEqual([
      {
        BucketKeyEnabled: true,
        ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': ['DataKey', 'Arn'] } },
      },
    ]);
    expect(Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(Properties.LoggingConfiguration).toEqual({ DestinationBucketName: { Ref: 'AccessLogBucket' }, LogFilePrefix: prefix });
  });

  it('the access-log bucket uses S3-managed keys (S3 log delivery cannot use a customer key) and logs nowhere', () => {
    const { Properties } = bucket(template, 'AccessLogBucket');
    expect(Properties.BucketEncryption.ServerSideEncryptionConfiguration).toEqual([
      { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
    ]);
    expect(Properties.LoggingConfiguration).toBeUndefined();
  });

  it.each(ALL_BUCKETS)('%s blocks all public access and is retained', (id) => {
    const resource = bucket(template, id);
    expect(resource.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(resource.Properties.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    expect(resource.DeletionPolicy).toBe('Retain');
  });

  it.each(ALL_BUCKETS)('%s denies every request without TLS (1.2 or newer)', (id) => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: id },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Principal: { AWS: '*' }, Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      },
    });
  });

  it('lets S3 log delivery write each bucket’s logs, and only under its prefix', () => {
    const policy = Object.values(template.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: { Ref: 'AccessLogBucket' } } }))[0]!;
    const delivery = (policy.Properties.PolicyDocument.Statement as any[]).filter((s) => s.Principal?.Service === 'logging.s3.amazonaws.com');
    expect(delivery.map((s) => s.Condition.ArnLike['aws:SourceArn']['Fn::GetAtt'][0]).sort()).toEqual(['InputBucket', 'ModelBucket', 'OutputBucket']);
    for (const s of delivery) expect(s.Action).toBe('s3:PutObject');
  });

  it('expires inputs and outputs after the configured days, old versions sooner', () => {
    expect(lifecycleRule(template, 'InputBucket', 'expire-inputs')).toMatchObject({
      Status: 'Enabled',
      ExpirationInDays: 7,
      NoncurrentVersionExpiration: { NoncurrentDays: 1 },
    });
    expect(lifecycleRule(template, 'OutputBucket', 'expire-outputs')).toMatchObject({
      ExpirationInDays: 30,
      NoncurrentVersionExpiration: { NoncurrentDays: 1 },
    });
    expect(lifecycleRule(destroyable, 'InputBucket', 'expire-inputs')).toMatchObject({
      ExpirationInDays: 3,
      NoncurrentVersionExpiration: { NoncurrentDays: 2 },
    });
    expect(lifecycleRule(destroyable, 'OutputBucket', 'expire-outputs')).toMatchObject({ ExpirationInDays: 14 });
    for (const id of Object.keys(ENCRYPTED_BUCKETS)) {
      expect(lifecycleRule(template, id, 'abort-incomplete-uploads')).toMatchObject({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } });
    }
    expect(lifecycleRule(template, 'AccessLogBucket', 'expire-logs')).toMatchObject({ ExpirationInDays: 90 });
  });

  it('never expires the model weights, only replaced versions after a week', () => {
    const rules = bucket(template, 'ModelBucket').Properties.LifecycleConfiguration.Rules as Record<string, unknown>[];
    expect(rules.filter((r) => 'ExpirationInDays' in r || 'ExpirationDate' in r)).toEqual([]);
    expect(lifecycleRule(template, 'ModelBucket', 'expire-replaced-weights')).toMatchObject({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } });
  });
});

describe('job table', () => {
  it('keeps the deployed layout: renaming a key or the index would make CloudFormation replace the table and its jobs', () => {
    expect(JOB_TABLE).toEqual({ partitionKey: 'pk', sortKey: 'sk', userIndex: { name: 'byUser', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
      conversationIndex: { name: 'byConversation', partitionKey: 'gsi2pk', sortKey: 'gsi2sk' },
      ttlAttribute: 'expiresAt',
    });
  });

  it('has the key schema, index and TTL the DynamoDB job store uses (bot/aws/table-layout.ts)', () => {
    const { partitionKey, sortKey, userIndex, conversationIndex, ttlAttribute } = JOB_TABLE;
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: partitionKey, KeyType: 'HASH' },
        { AttributeName: sortKey, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([partitionKey, sortKey, userIndex.partitionKey, userIndex.sortKey, conversationIndex.partitionKey, conversationIndex.sortKey].map((name) => ({ AttributeName: name, AttributeType: 'S' }))),
      GlobalSecondaryIndexes: [
        {
          IndexName: userIndex.name,
          KeySchema: [
            { AttributeName: userIndex.partitionKey, KeyType: 'HASH' },
            { AttributeName: userIndex.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: conversationIndex.name,
          KeySchema: [
            { AttributeName: conversationIndex.partitionKey, KeyType: 'HASH' },
            { AttributeName: conversationIndex.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      TimeToLiveSpecification: { AttributeName: ttlAttribute, Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
    });
  });

  it('has point-in-time recovery, the data key, deletion protection, and is retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': ['DataKey', 'Arn'] } },
        DeletionProtectionEnabled: true,
      },
      DeletionPolicy: 'Retain',
    });
  });
});

describe('chat secrets', () => {
  it.each([
    ['SlackSecret', { botToken: '', appToken: '', signingSecret: '' }],
    ['DiscordSecret', { token: '', applicationId: '' }],
  ])('%s is created with empty JSON keys and no value in the template', (id, keys) => {
    const secret = template.toJSON().Resources[id];
    expect(secret.Properties.SecretString).toBeUndefined();
    expect(JSON.parse(secret.Properties.GenerateSecretString.SecretStringTemplate)).toEqual(keys);
    expect(secret.DeletionPolicy).toBe('Retain');
  });

  it('creates only the chosen platforms’ secrets', () => {
    expect(Object.keys(destroyable.findResources('AWS::SecretsManager::Secret'))).toEqual(['SlackSecret']);
  });
});

describe('removalPolicy=destroy (dev)', () => {
  it('deletes data with the stack: buckets emptied first, table unprotected', () => {
    for (const id of ALL_BUCKETS) expect(bucket(destroyable, id).DeletionPolicy).toBe('Delete');
    destroyable.resourceCountIs('Custom::S3AutoDeleteObjects', 4);
    destroyable.hasResource('AWS::DynamoDB::Table', { Properties: { DeletionProtectionEnabled: false }, DeletionPolicy: 'Delete' });
    destroyable.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Delete', Properties: { PendingWindowInDays: 7 } });
  });
});
