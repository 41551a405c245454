import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ENHANCE_SYSTEM_PROMPT } from '../../bot/core/prompt-template.js';
import { OpenAiEnhancer } from '../../bot/local/openai-enhancer.js';

/** A loopback OpenAI-compatible /chat/completions endpoint (as Ollama, vLLM and llama.cpp serve it). */
async function fakeEndpoint(reply: (body: any) => { status: number; json: unknown }) {
  const requests: { headers: Record<string, unknown>; body: any }[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      const body = JSON.parse(raw);
      requests.push({ headers: req.headers, body });
      const { status, json } = req.url === '/v1/chat/completions' ? reply(body) : { status: 404, json: {} };
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, requests, close: () => new Promise((r) => server.close(r)) };
}

const completion = (content: string, finish = 'stop') => ({ status: 200, json: { choices: [{ message: { role: 'assistant', content }, finish_reason: finish }] } });

describe('OpenAiEnhancer', () => {
  let close: (() => Promise<unknown>) | undefined;
  afterEach(async () => close?.());

  it('sends the template and returns the cleaned paragraph', async () => {
    const fake = await fakeEndpoint(() => completion('Enhanced prompt: "A honeybee lands on a sunflower,\nsoft morning light."'));
    close = fake.close;
    const enhancer = new OpenAiEnhancer({ baseUrl: fake.url, model: 'llama3.1', apiKey: 'sk-test' });
    expect(await enhancer.enhance('a bee')).toBe('A honeybee lands on a sunflower, soft morning light.');
    const sent = fake.requests[0]!;
    expect(sent.headers.authorization).toBe('Bearer sk-test');
    expect(sent.body).toMatchObject({ model: 'llama3.1', messages: [{ role: 'system', content: ENHANCE_SYSTEM_PROMPT }, { role: 'user', content: 'Prompt: a bee' }] });
    expect(sent.body.temperature).toBeLessThanOrEqual(0.3);
  });

  it.each([
    [{ status: 429, json: {} }, /busy/],
    [{ status: 401, json: {} }, /OPENAI_API_KEY/],
    [{ status: 500, json: {} }, /HTTP 500\)\. Your original prompt still works/],
    [completion(''), /returned nothing/],
    [completion('A long...', 'length'), /cut off/],
  ])('turns %j into a clear message', async (reply, message) => {
    const fake = await fakeEndpoint(() => reply);
    close = fake.close;
    await expect(new OpenAiEnhancer({ baseUrl: fake.url, model: 'm' }).enhance('x')).rejects.toMatchObject({ code: 'ENHANCER_FAILED', message: expect.stringMatching(message) });
  });

  it('says so when the endpoint is down', async () => {
    await expect(new OpenAiEnhancer({ baseUrl: 'http://127.0.0.1:9/v1', model: 'm', timeoutMs: 2000 }).enhance('x')).rejects.toThrow(/did not answer/);
  });
});
