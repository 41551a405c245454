// Composes the app: the stateful stack, then the service stack that uses it. Shared by app.ts and the tests.
import type { App } from 'aws-cdk-lib';
import type { AppConfig } from './config.js';
import { ServiceStack } from './stacks/service-stack.js';
import { StatefulStack } from './stacks/stateful-stack.js';

export interface VideobotStacks {
  readonly stateful: StatefulStack;
  readonly service: ServiceStack;
}

export function addVideobotStacks(app: App, config: AppConfig): VideobotStacks {
  if (config.env.account && config.availabilityZones.length > 0) {
    // A pinned account makes the VPC look its AZs up; `-c azs=...` answers that lookup up front
    // (as a cdk.context.json entry would), so synth stays offline.
    app.node.setContext(`availability-zones:account=${config.env.account}:region=${config.env.region}`, [...config.availabilityZones]);
  }
  const env = { region: config.env.region, ...(config.env.account ? { account: config.env.account } : {}) };
  const description = 'videobot: Slack/Discord bot that makes CogVideoX videos on SageMaker';
  const tags = { application: 'videobot' };
  const stateful = new StatefulStack(app, `${config.stackPrefix}Stateful`, {
    env,
    description: `${description} (data: key, buckets, job table, secrets)`,
    tags,
    terminationProtection: config.retainData,
    config,
  });
  const service = new ServiceStack(app, `${config.stackPrefix}Service`, {
    env,
    description: `${description} (bot service, processing role and image, job events, alarms)`,
    tags,
    config,
    statefulStackName: stateful.stackName,
  });
  service.addStackDependency(stateful, 'the service reads the key, buckets, table and secrets from its outputs');
  return { stateful, service };
}
