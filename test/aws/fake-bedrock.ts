// A loopback fake of Bedrock Runtime's Converse endpoint (POST /model/{modelId}/converse), scripted per test.
// HTTP/2 without TLS: the Bedrock Runtime client talks HTTP/2 only (its streaming operations need it).
import { createServer, type Http2Server } from 'node:http2';

export type ConverseReply =
  | { readonly text: string; readonly stopReason?: string }
  | { readonly error: string; readonly status: number; readonly message?: string };

export class FakeBedrock {
  readonly requests: { modelId: string; body: Record<string, any> }[] = [];
  /** Replies in order; the last one repeats. */
  replies: ConverseReply[] = [{ text: 'A bee lands on a sunflower, slow dolly-in, golden hour light.' }];
  private server?: Http2Server;
  url = '';

  async start(): Promise<string> {
    this.server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const m = /^\/model\/([^/]+)\/converse$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !m) {
        res.writeHead(404, { 'x-amzn-errortype': 'UnknownOperationException' });
        res.end('{}');
        return;
      }
      this.requests.push({ modelId: decodeURIComponent(m[1]!), body: JSON.parse(Buffer.concat(chunks).toString() || '{}') });
      const reply = this.replies.length > 1 ? this.replies.shift()! : this.replies[0]!;
      if ('error' in reply) {
        res.writeHead(reply.status, { 'content-type': 'application/json', 'x-amzn-errortype': `${reply.error}:http://internal.amazon.com/coral/com.amazon.bedrock/` });
        res.end(JSON.stringify({ message: reply.message ?? reply.error }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          output: { message: { role: 'assistant', content: [{ text: reply.text }] } },
          stopReason: reply.stopReason ?? 'end_turn',
          usage: { inputTokens: 80, outputTokens: 40, totalTokens: 120 },
          metrics: { latencyMs: 12 },
        }),
      );
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server!.address() as { port: number }).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
