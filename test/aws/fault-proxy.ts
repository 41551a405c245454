// A loopback HTTP proxy in front of moto that fails chosen requests with a 5xx, to test the SDK's retries.
import { createServer, request, type Server } from 'node:http';

interface Fault {
  readonly method: string;
  readonly pathIncludes: string;
  remaining: number;
  readonly status: number;
}

export class FaultProxy {
  private readonly faults: Fault[] = [];
  readonly seen: { method: string; path: string; status: number }[] = [];
  private server?: Server;
  url = '';

  constructor(private readonly target: string) {}

  /** The next `times` requests with this method whose path contains `pathIncludes` get `status` (S3's InternalError). */
  failNext(method: string, pathIncludes: string, times = 1, status = 500): void {
    this.faults.push({ method, pathIncludes, remaining: times, status });
  }

  async start(): Promise<string> {
    const target = new URL(this.target);
    this.server = createServer((req, res) => {
      const path = req.url ?? '/';
      const fault = this.faults.find((f) => f.remaining > 0 && f.method === req.method && path.includes(f.pathIncludes));
      if (fault) {
        fault.remaining--;
        this.seen.push({ method: req.method ?? '', path, status: fault.status });
        req.resume();
        res.writeHead(fault.status, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>');
        return;
      }
      const upstream = request(
        { host: target.hostname, port: target.port, method: req.method, path, headers: req.headers },
        (up) => {
          this.seen.push({ method: req.method ?? '', path, status: up.statusCode ?? 0 });
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.writeHead(502).end());
      req.pipe(upstream);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server!.address() as { port: number }).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
