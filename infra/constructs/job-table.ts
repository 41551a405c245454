// The DynamoDB job table behind the bot's DynamoJobStore, laid out as bot/aws/table-layout.ts says.
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { JOB_TABLE } from '../../bot/aws/table-layout.js';

export interface JobTableProps {
  readonly key: kms.IKey;
  readonly retainData: boolean;
}

/** The per-person index (bot/aws/table-layout.ts). */
export const USER_INDEX = JOB_TABLE.userIndex.name;

/**
 * One table, generic keys (pk / sk), one index, a TTL. On demand: a chat bot's load is a few writes
 * a minute with bursts, which provisioned capacity would either waste or throttle.
 */
export class JobTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: JobTableProps) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: JOB_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: JOB_TABLE.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.key,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: JOB_TABLE.ttlAttribute,
      deletionProtection: props.retainData,
      removalPolicy: props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: USER_INDEX,
      partitionKey: { name: JOB_TABLE.userIndex.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: JOB_TABLE.userIndex.sortKey, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    // Sparse: only delivered jobs carry its keys (Combine of a thread's clips).
    this.table.addGlobalSecondaryIndex({
      indexName: JOB_TABLE.conversationIndex.name,
      partitionKey: { name: JOB_TABLE.conversationIndex.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: JOB_TABLE.conversationIndex.sortKey, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
  }
}
