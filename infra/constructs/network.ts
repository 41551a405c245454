// The bot's VPC: two AZs, one NAT gateway, flow logs, free gateway endpoints for S3 and DynamoDB.
import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface NetworkProps {
  /** Two AZ names, or empty to take the region's first two (Fn::GetAZs, no lookup). */
  readonly availabilityZones: readonly string[];
  readonly logRetention: logs.RetentionDays;
  readonly retainLogs: boolean;
}

/**
 * The bot only makes outbound calls (chat APIs, AWS APIs), so its tasks sit in private subnets
 * behind one NAT gateway: one AZ's NAT is a single point of failure, accepted for a chat bot, and
 * half the price of two. S3 and DynamoDB traffic skips the NAT through gateway endpoints, which
 * cost nothing and keep video downloads off the NAT's per-GB charge.
 */
export class Network extends Construct {
  readonly vpc: ec2.Vpc;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.logRetention,
      removalPolicy: props.retainLogs ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ...(props.availabilityZones.length > 0 ? { availabilityZones: [...props.availabilityZones] } : { maxAzs: 2 }),
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      flowLogs: {
        all: { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup), trafficType: ec2.FlowLogTrafficType.ALL },
      },
      gatewayEndpoints: {
        s3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        dynamodb: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
    });
  }
}
