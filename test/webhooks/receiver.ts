// A webhook receiver on loopback that keeps each request's raw body bytes, for signature checks.
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';

export interface ReceivedHook {
  path: string;
  headers: Record<string, string>;
  raw: Buffer;
  /** The parsed body. */
  json: { event_id: string; event_type: string; [k: string]: unknown };
}

/** What to answer the nth (1-based) request: a status, or 'hang' to never answer. */
export type Answer = (nth: number, hook: ReceivedHook) => number | 'hang';

export interface Receiver {
  url: string;
  received: ReceivedHook[];
  answer: Answer;
  /** Resolves with the first request, already received or yet to come, that matches. */
  waitFor(pred: (h: ReceivedHook) => boolean, timeoutMs?: number): Promise<ReceivedHook>;
  close(): Promise<void>;
}

export async function startReceiver(answer: Answer = () => 200): Promise<Receiver> {
  const received: ReceivedHook[] = [];
  const waiters = new Set<{ pred: (h: ReceivedHook) => boolean; resolve: (h: ReceivedHook) => void }>();
  const hanging = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      const hook: ReceivedHook = { path: req.url ?? '/', headers, raw, json: JSON.parse(raw.toString('utf8')) as ReceivedHook['json'] };
      received.push(hook);
      const status = r.answer(received.length, hook);
      for (const w of waiters)
        if (w.pred(hook)) {
          waiters.delete(w);
          w.resolve(hook);
        }
      if (status === 'hang') {
        hanging.add(res);
        return;
      }
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ received: true }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('receiver did not bind a TCP port');
  const r: Receiver = {
    url: `http://127.0.0.1:${address.port}/hooks`,
    received,
    answer,
    waitFor(pred, timeoutMs = 5000) {
      const seen = received.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = {
          pred,
          resolve: (h: ReceivedHook) => {
            clearTimeout(t);
            resolve(h);
          },
        };
        const t = setTimeout(() => {
          waiters.delete(w);
          reject(
            new Error(`no matching webhook within ${timeoutMs} ms; got ${received.map((h) => h.json.event_type).join(', ') || 'none'}`),
          );
        }, timeoutMs);
        waiters.add(w);
      });
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return r;
}
