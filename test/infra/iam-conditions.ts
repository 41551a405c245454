// A small IAM evaluator for synthesized policies: does an Allow statement cover this action, resource and request?
import type { CreateProcessingJobCommandInput } from '@aws-sdk/client-sagemaker';
import { actionsOf, flat, resourcesOf, type PolicyStatementJson } from './stacks.js';

/** Request context values, as IAM sees them: single strings, booleans, numbers, or lists for multivalued keys. */
export type RequestContext = Record<string, string | boolean | number | readonly string[]>;

/**
 * The condition keys CreateProcessingJob puts in the request context (Service Authorization Reference, Amazon
 * SageMaker: sagemaker:InstanceTypes, sagemaker:NetworkIsolation, sagemaker:OutputKmsKeyArn, sagemaker:VolumeKmsKeyArn,
 * sagemaker:MaxRuntimeInSeconds, sagemaker:VpcSubnets, sagemaker:VpcSecurityGroupIds, aws:TagKeys, aws:RequestTag/…).
 * A field the request leaves out is a key absent from the context. Token values are flattened with `flat`.
 */
export function createProcessingJobContext(request: CreateProcessingJobCommandInput): RequestContext {
  const context: RequestContext = {};
  const cluster = request.ProcessingResources?.ClusterConfig;
  if (cluster?.InstanceType) context['sagemaker:InstanceTypes'] = [cluster.InstanceType];
  if (cluster?.VolumeKmsKeyId) context['sagemaker:VolumeKmsKeyArn'] = flat(cluster.VolumeKmsKeyId);
  const isolation = request.NetworkConfig?.EnableNetworkIsolation;
  if (isolation !== undefined) context['sagemaker:NetworkIsolation'] = isolation;
  const vpc = request.NetworkConfig?.VpcConfig;
  if (vpc?.Subnets) context['sagemaker:VpcSubnets'] = vpc.Subnets;
  if (vpc?.SecurityGroupIds) context['sagemaker:VpcSecurityGroupIds'] = vpc.SecurityGroupIds;
  if (request.ProcessingOutputConfig?.KmsKeyId) context['sagemaker:OutputKmsKeyArn'] = flat(request.ProcessingOutputConfig.KmsKeyId);
  if (request.StoppingCondition?.MaxRuntimeInSeconds !== undefined) context['sagemaker:MaxRuntimeInSeconds'] = request.StoppingCondition.MaxRuntimeInSeconds;
  if (request.Tags?.length) {
    context['aws:TagKeys'] = request.Tags.map((t) => t.Key!);
    for (const tag of request.Tags) context[`aws:RequestTag/${tag.Key}`] = tag.Value ?? '';
  }
  return context;
}

/** Whether some Allow statement grants `action` on `resource` with every one of its conditions met by `context`. */
export function allows(statements: readonly PolicyStatementJson[], action: string, resource: string, context: RequestContext = {}): boolean {
  return statements.some(
    (s) =>
      s.Effect === 'Allow' &&
      actionsOf(s).some((a) => glob(a).test(action)) &&
      resourcesOf(s).some((r) => glob(flat(r)).test(resource)) &&
      conditionsHold(s.Condition ?? {}, context),
  );
}

/** All operators must hold; within one, every key; for one key, any of its values. Unknown operators throw. */
export function conditionsHold(condition: Record<string, Record<string, unknown>>, context: RequestContext): boolean {
  return Object.entries(condition).every(([operator, keys]) =>
    Object.entries(keys).every(([key, expected]) => {
      const wanted = (Array.isArray(expected) ? expected : [expected]).map(flat);
      const got = context[key];
      const present = got !== undefined;
      const single = present && !Array.isArray(got) ? String(got) : undefined;
      switch (operator) {
        case 'Null':
          return wanted[0] === 'true' ? !present : present;
        case 'Bool':
          return single !== undefined && wanted.includes(single);
        case 'StringEquals':
          return single !== undefined && wanted.includes(single);
        case 'StringLike':
        case 'ArnEquals':
        case 'ArnLike':
          return single !== undefined && wanted.some((w) => glob(w).test(single));
        case 'NumericLessThanEquals':
          return single !== undefined && wanted.some((w) => Number(single) <= Number(w));
        case 'ForAllValues:StringEquals': {
          const values = !present ? [] : Array.isArray(got) ? (got as readonly string[]) : [String(got)];
          return values.every((v) => wanted.includes(v));
        }
        default:
          throw new Error(`the test evaluator does not know the condition operator ${operator}`);
      }
    }),
  );
}

/** IAM's `*` and `?` wildcards as a whole-string regular expression. */
function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}
