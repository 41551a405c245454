// A tiny HTTP health endpoint for the container platform (ECS health checks, load balancers).
import { createServer } from 'node:http';
import type { Logger } from './core/ports.js';

export async function startHealthServer(port: number, logger: Logger): Promise<{ ready(): void; close(): Promise<void> }> {
  let ready = false;
  const server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ok' : 'starting');
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(port, '0.0.0.0', r));
  logger.info({ port }, 'health endpoint listening');
  return {
    ready: () => {
      ready = true;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
