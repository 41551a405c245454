// Consumes "SageMaker Processing Job State Change" events that an EventBridge rule puts on an SQS queue (or, with
// `parse`, another kind of job event on that queue: the asynchronous endpoint's notifications, bot/aws/async-events.ts).
import { DeleteMessageCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { Logger } from '../core/ports.js';

/** What the bot needs from one state-change event; everything else in it is ignored. */
export interface ProcessingJobStateChange {
  readonly jobName: string;
  readonly status: string;
  readonly failureReason?: string;
  readonly exitMessage?: string;
  /** The job's output S3 URI, when the event carries the job's description (it names the job id). */
  readonly outputUri?: string;
}

export type StateChangeHandler = (change: ProcessingJobStateChange) => Promise<void>;

/** Reads an EventBridge event (or a bare detail object) loosely; undefined if it is not a processing-job change. */
export function parseStateChange(body: string): ProcessingJobStateChange | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!parsed || typeof parsed !== 'object') return undefined;
  const envelope = parsed as Record<string, unknown>;
  const detail = (envelope.detail && typeof envelope.detail === 'object' ? envelope.detail : envelope) as Record<string, unknown>;
  const jobName = str(detail.ProcessingJobName);
  const status = str(detail.ProcessingJobStatus);
  if (!jobName || !status) return undefined;
  const outputs = (detail.ProcessingOutputConfig as { Outputs?: { S3Output?: { S3Uri?: unknown } }[] } | undefined)?.Outputs;
  const outputUri = Array.isArray(outputs) ? outputs.map((o) => str(o?.S3Output?.S3Uri)).find(Boolean) : undefined;
  const failureReason = str(detail.FailureReason);
  const exitMessage = str(detail.ExitMessage);
  return {
    jobName,
    status,
    ...(failureReason ? { failureReason } : {}),
    ...(exitMessage ? { exitMessage } : {}),
    ...(outputUri ? { outputUri } : {}),
  };
}

export interface SqsEventConsumerOptions<T = ProcessingJobStateChange> {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly logger: Logger;
  /** Long-poll wait per receive (SQS allows 0–20 s). */
  readonly waitSeconds?: number;
  /** Pause after a failed receive, so a missing queue or lost network does not spin. */
  readonly errorBackoffMs?: number;
  /** Turns a message body into the handler's event; undefined drops the message (default: parseStateChange). */
  readonly parse?: (body: string) => T | undefined;
}

/**
 * Long-polls the queue and hands each event to the handler. A message is deleted only after the handler
 * resolved; if it throws, the message comes back after the visibility timeout (and lands in the DLQ after
 * the queue's maxReceiveCount). Unparseable messages are deleted with a warning: retrying cannot fix them.
 */
export class SqsEventConsumer<T = ProcessingJobStateChange> {
  private running = false;
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(private readonly options: SqsEventConsumerOptions<T>) {
    this.log = options.logger.child({ component: 'sqs-events' });
  }

  start(handler: (event: T) => Promise<void>): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.loop = this.run(handler, this.abort.signal);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort?.abort();
    await this.loop;
    this.loop = undefined;
  }

  private async run(handler: (event: T) => Promise<void>, signal: AbortSignal): Promise<void> {
    while (this.running) {
      let messages: Message[];
      try {
        const out = await this.options.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.options.queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: this.options.waitSeconds ?? 20,
          }),
          { abortSignal: signal },
        );
        messages = out.Messages ?? [];
      } catch (err) {
        if (!this.running) return;
        this.log.error({ err }, 'receiving job events failed');
        await sleep(this.options.errorBackoffMs ?? 5000, signal);
        continue;
      }
      for (const message of messages) await this.handle(message, handler);
    }
  }

  private async handle(message: Message, handler: (event: T) => Promise<void>): Promise<void> {
    const parse = this.options.parse ?? (parseStateChange as unknown as (body: string) => T | undefined);
    const change = message.Body ? parse(message.Body) : undefined;
    if (!change) {
      this.log.warn({ messageId: message.MessageId, body: message.Body?.slice(0, 500) }, 'dropping a message that is not a job event');
      await this.delete(message);
      return;
    }
    try {
      await handler(change);
    } catch (err) {
      // Not deleted: SQS redelivers it after the visibility timeout.
      this.log.error({ err, event: change }, 'handling a job event failed; it will be redelivered');
      return;
    }
    await this.delete(message);
  }

  private async delete(message: Message): Promise<void> {
    if (!message.ReceiptHandle) return;
    try {
      await this.options.sqs.send(new DeleteMessageCommand({ QueueUrl: this.options.queueUrl, ReceiptHandle: message.ReceiptHandle }));
    } catch (err) {
      // Harmless: the event is redelivered and handled again as a no-op.
      this.log.warn({ err, messageId: message.MessageId }, 'deleting a handled job event failed');
    }
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
