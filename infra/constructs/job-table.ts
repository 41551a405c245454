// The DynamoDB job table behind the bot's DynamoJobStore (bot/aws/dynamodb.ts owns the item layout).
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

export interface JobTableProps {
  readonly key: kms.IKey;
  readonly retainData: boolean;
}

/** The per-user index: gsi1pk = USER#<platform>#<userId>, gsi1sk = <createdAt>#<id>. */
export const USER_INDEX = 'byUser';
/** Epoch seconds; DynamoDB deletes an item some time after it. */
export const TTL_ATTRIBUTE = 'expiresAt';

/**
 * One table, generic keys (pk / sk), one index, a TTL. On demand: a chat bot's load is a few writes
 * a minute with bursts, which provisioned capacity would either waste or throttle.
 */
export class JobTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: JobTableProps) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TTL_ATTRIBUTE,
      deletionProtection: props.retainData,
      removalPolicy: props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: USER_INDEX,
      partitionKey: { name: 'gsi1pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'gsi1sk', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
  }
}
