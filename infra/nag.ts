// cdk-nag acknowledgements for IAM wildcards, named exactly as cdk-nag names each finding.
import { Stack, Validations } from 'aws-cdk-lib';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { IConstruct } from 'constructs';

const IAM5 = 'AwsSolutions-IAM5';

/**
 * Acknowledges AwsSolutions-IAM5 findings for wildcard actions on `scope` (a role or policy):
 * one finding per action, e.g. "s3:GetObject*", each needing its own acknowledgement in cdk-nag v3.
 */
export function acknowledgeWildcardActions(scope: IConstruct, actions: readonly string[], reason: string): void {
  for (const action of actions) Validations.of(scope).acknowledge({ id: `${IAM5}[Action::${action}]`, reason });
}

/**
 * Acknowledges AwsSolutions-IAM5 findings for wildcard resources. Pass the same ARN (token) the
 * policy uses: it is resolved and flattened the way cdk-nag does, so the acknowledgement cannot drift
 * from the statement it excuses.
 */
export function acknowledgeWildcardResources(scope: IConstruct, resources: readonly string[], reason: string): void {
  const stack = Stack.of(scope);
  for (const resource of resources) {
    const flat = flattenCfnReference(stack.resolve(resource));
    Validations.of(scope).acknowledge({ id: `${IAM5}[Resource::${flat}]`, reason });
  }
}
