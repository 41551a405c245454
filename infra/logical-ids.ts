// Pins a construct's CloudFormation logical id, so refactoring the construct tree never replaces it.
import { CfnResource } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

export function pinLogicalId(construct: IConstruct, logicalId: string): void {
  const resource = construct.node.defaultChild;
  if (!CfnResource.isCfnResource(resource)) {
    throw new Error(`${construct.node.path} has no CloudFormation resource to pin as ${logicalId}`);
  }
  resource.overrideLogicalId(logicalId);
}
