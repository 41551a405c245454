// A loopback fake of Bedrock Runtime: Converse (POST /model/{modelId}/converse), scripted per test, and ApplyGuardrail
// (POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply) with one guardrail of custom words, as
// the API reference describes them: action GUARDRAIL_INTERVENED with the blocked-input message in `outputs` and a
// word-policy assessment, or NONE; ResourceNotFoundException for another guardrail or version, ValidationException
// for a malformed request.
// HTTP/2 without TLS: the Bedrock Runtime client talks HTTP/2 only (its streaming operations need it).
import { createServer, type Http2Server } from 'node:http2';

export type ConverseReply =
  | { readonly text: string; readonly stopReason?: string }
  | { readonly error: string; readonly status: number; readonly message?: string };

/** A guardrail that blocks custom words (whole words, case-insensitive), as a word policy does. */
export interface FakeGuardrail {
  readonly id: string;
  readonly versions: readonly string[];
  readonly words: readonly string[];
  readonly blockedInputMessage: string;
}

export interface GuardrailFailure {
  readonly error: string;
  readonly status: number;
  readonly message?: string;
}

export class FakeBedrock {
  readonly requests: { modelId: string; body: Record<string, any> }[] = [];
  readonly guardrailRequests: { id: string; version: string; body: Record<string, any> }[] = [];
  guardrail: FakeGuardrail = { id: 'gr0abc123', versions: ['DRAFT', '1'], words: ['dragonfire'], blockedInputMessage: 'This workspace does not allow that topic.' };
  /** Answered, in order, before the guardrail is evaluated (throttling, access denied). */
  guardrailFailures: GuardrailFailure[] = [];
  /** Replies in order; the last one repeats. */
  replies: ConverseReply[] = [{ text: 'A bee lands on a sunflower, slow dolly-in, golden hour light.' }];
  private server?: Http2Server;
  url = '';

  async start(): Promise<string> {
    this.server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const g = /^\/guardrail\/([^/]+)\/version\/([^/]+)\/apply$/.exec(req.url ?? '');
      if (req.method === 'POST' && g) {
        const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, any>;
        this.guardrailRequests.push({ id: decodeURIComponent(g[1]!), version: decodeURIComponent(g[2]!), body });
        const [status, reply] = this.applyGuardrail(decodeURIComponent(g[1]!), decodeURIComponent(g[2]!), body);
        res.writeHead(status, { 'content-type': 'application/json', ...(status >= 400 ? { 'x-amzn-errortype': `${reply.__type}:http://internal.amazon.com/coral/com.amazon.bedrock/` } : {}) });
        res.end(JSON.stringify(status >= 400 ? { message: reply.message } : reply));
        return;
      }
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

  private applyGuardrail(id: string, version: string, body: Record<string, any>): [number, Record<string, any>] {
    const failure = this.guardrailFailures.shift();
    if (failure) return [failure.status, { __type: failure.error, message: failure.message ?? failure.error }];
    if (!/^(|[1-9][0-9]{0,7}|DRAFT)$/.test(version) || !['INPUT', 'OUTPUT'].includes(body.source) || !Array.isArray(body.content) || body.content.length === 0) {
      return [400, { __type: 'ValidationException', message: 'Invalid request: source must be INPUT or OUTPUT, content must not be empty, version must be a number or DRAFT.' }];
    }
    if (id !== this.guardrail.id || !this.guardrail.versions.includes(version)) {
      return [404, { __type: 'ResourceNotFoundException', message: `The guardrail ${id} version ${version} was not found.` }];
    }
    const text: string = body.content.map((c: any) => c?.text?.text ?? '').join(' ');
    const matched = this.guardrail.words.filter((w) => new RegExp(`\\b${w}\\b`, 'i').test(text));
    const usage = { topicPolicyUnits: 0, contentPolicyUnits: 0, wordPolicyUnits: 1, sensitiveInformationPolicyUnits: 0, sensitiveInformationPolicyFreeUnits: 0, contextualGroundingPolicyUnits: 0 };
    const coverage = { textCharacters: { guarded: text.length, total: text.length } };
    if (matched.length === 0) return [200, { usage, action: 'NONE', outputs: [], assessments: [{}], guardrailCoverage: coverage }];
    return [
      200,
      {
        usage,
        action: 'GUARDRAIL_INTERVENED',
        actionReason: 'Guardrail blocked.',
        outputs: [{ text: this.guardrail.blockedInputMessage }],
        assessments: [{ wordPolicy: { customWords: matched.map((match) => ({ match, action: 'BLOCKED', detected: true })) } }],
        guardrailCoverage: coverage,
      },
    ];
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
