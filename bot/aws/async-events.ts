// Reads the success and error notifications a SageMaker asynchronous endpoint publishes to SNS (and SNS delivers to
// the bot's SQS queue, with or without raw message delivery). Shape: "Check prediction results" in the SageMaker
// developer guide (async-inference-check-predictions).

/** What the bot needs from one notification; everything else in it is ignored. */
export interface AsyncNotification {
  readonly inferenceId: string;
  /** `Completed` (success topic) or `Failed` (error topic). */
  readonly status: string;
  readonly endpointName?: string;
  /** The request object the invocation read: `s3://<input>/jobs/<id>/input/invocation-<n>.json`. */
  readonly inputLocation?: string;
  readonly outputLocation?: string;
  readonly failureLocation?: string;
  readonly failureReason?: string;
}

/** One notification, bare or inside an SNS envelope; undefined for anything else (a processing-job event, say). */
export function parseAsyncNotification(body: string): AsyncNotification | undefined {
  let parsed = parseObject(body);
  if (parsed && parsed.Type === 'Notification' && typeof parsed.Message === 'string') parsed = parseObject(parsed.Message);
  if (!parsed) return undefined;
  const inferenceId = str(parsed.inferenceId);
  const status = str(parsed.invocationStatus);
  if (!inferenceId || !status) return undefined;
  const request = object(parsed.requestParameters);
  const response = object(parsed.responseParameters);
  const fields = {
    endpointName: str(request.endpointName),
    inputLocation: str(request.inputLocation),
    outputLocation: str(response.outputLocation),
    failureLocation: str(response.failureLocation),
    failureReason: str(parsed.failureReason),
  };
  return { inferenceId, status, ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) };
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function object(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}
