// Slack HTTP mode: an internet-facing HTTPS load balancer in front of the bot's Bolt receiver.
import { Duration, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface SlackIngressProps {
  readonly vpc: ec2.IVpc;
  readonly service: ecs.FargateService;
  readonly containerName: string;
  /** Bolt's HTTP receiver port (SLACK_PORT). */
  readonly containerPort: number;
  /** The bot's /healthz port, probed by the target group. */
  readonly healthPort: number;
  /** ACM certificate for the name Slack's Request URL points at. */
  readonly certificateArn: string;
  /** Access logs go here (S3-managed encryption; its policy must already admit ELB log delivery). */
  readonly accessLogBucket: s3.IBucket;
  readonly accessLogPrefix: string;
}

/**
 * HTTPS only (no port 80 listener: Slack never calls plain HTTP), a post-quantum TLS 1.2+ policy,
 * malformed headers dropped, access logs on. Requests are authenticated by the bot itself with
 * Slack's signing secret, so the listener is open to the internet on 443.
 */
export class SlackIngress extends Construct {
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targetGroup: elbv2.ApplicationTargetGroup;

  constructor(scope: Construct, id: string, props: SlackIngressProps) {
    super(scope, id);
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'videobot Slack HTTP endpoint: HTTPS from the internet',
      allowAllOutbound: false,
    });
    securityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'Slack Events API and interactivity requests');
    Validations.of(securityGroup).acknowledge({
      id: 'AwsSolutions-EC23',
      reason:
        'Slack calls the Request URL from addresses it does not publish as a stable list; every request is verified with the Slack signing secret (HMAC and timestamp) by the bot, and only 443 is open.',
    });

    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroup,
      dropInvalidHeaderFields: true,
    });
    // The bucket lives in the stateful stack, which grants ELB log delivery (JobBuckets); here we
    // only switch logging on. logAccessLogs() would try, and silently fail, to edit an imported bucket's policy.
    this.loadBalancer.setAttribute('access_logs.s3.enabled', 'true');
    this.loadBalancer.setAttribute('access_logs.s3.bucket', props.accessLogBucket.bucketName);
    this.loadBalancer.setAttribute('access_logs.s3.prefix', props.accessLogPrefix);

    const listener = this.loadBalancer.addListener('Https', {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn)],
      sslPolicy: elbv2.SslPolicy.TLS13_12_PQ,
      open: false,
    });
    this.targetGroup = listener.addTargets('Bot', {
      port: props.containerPort,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [props.service.loadBalancerTarget({ containerName: props.containerName, containerPort: props.containerPort })],
      healthCheck: {
        path: '/healthz',
        port: String(props.healthPort),
        healthyHttpCodes: '200',
        interval: Duration.seconds(15),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
      deregistrationDelay: Duration.seconds(30),
    });
    props.service.connections.allowFrom(this.loadBalancer, ec2.Port.tcp(props.healthPort), 'load balancer health checks');
  }
}
