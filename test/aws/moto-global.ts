// vitest globalSetup: one moto server for the whole run instead of one per test file (each start and its first
// requests cost two seconds of a core). It starts lazily, when the first file asks the broker for it, so a run
// without AWS tests starts none; the files keep apart by their own bucket, table, queue and event-bus names
// (test/aws/moto.ts createResources). Without this setup, useMoto() starts a moto of the file's own.
import { createServer } from 'node:http';
import type { TestProject } from 'vitest/node';
import { startMoto, type Moto } from './moto-server.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let moto: Promise<Moto> | undefined;
  const broker = createServer((_req, res) => {
    moto ??= startMoto();
    moto.then(
      (m) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: m.url })),
      (err: unknown) => res.writeHead(500).end(String(err instanceof Error ? err.message : err)),
    );
  });
  await new Promise<void>((r) => broker.listen(0, '127.0.0.1', r));
  project.provide('motoBroker', `http://127.0.0.1:${(broker.address() as { port: number }).port}/`);
  return async () => {
    broker.closeAllConnections(); // the workers' keep-alive connections would hold close() open
    await new Promise<void>((r) => broker.close(() => r()));
    await (await moto?.catch(() => undefined))?.stop();
  };
}
