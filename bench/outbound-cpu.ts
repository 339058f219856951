/**
 * CPU per outbound request (client side only): a JSON server runs in a child process, this process sends
 * N requests through createOutbound, 16 at a time, and reports process.cpuUsage() per request.
 * Run: node --import tsx bench/outbound-cpu.ts [N]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createOutbound } from '../src/engine/outbound.js';

const n = Number(process.argv[2] ?? 5000);
const server = spawn(
  process.execPath,
  [
    '-e',
    `
  const s = require('node:http').createServer((req, res) => { req.resume(); req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"id":"acc_1","ok":true}'); }); });
  s.keepAliveTimeout = 60000; s.listen(0, '127.0.0.1', () => console.log(s.address().port));`,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const [chunk] = (await once(server.stdout as NonNullable<typeof server.stdout>, 'data')) as [Buffer];
const baseUrl = `http://127.0.0.1:${String(chunk).trim()}`;
const http = createOutbound({
  baseUrl,
  timeoutMs: 5000,
  signal: new AbortController().signal,
  headers: { 'idempotency-key': 'wf:s:1', 'x-provisioner-workflow': 'wf', 'x-provisioner-tenant': 't' },
});
const send = () => http.send({ method: 'POST', target: '/accounts', body: { tenant: 't1', plan: 'basic' } });
for (let i = 0; i < 500; i++) await send(); // warm-up
const before = process.cpuUsage();
const started = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: 16 }, async () => {
    while (next++ < n) await send();
  }),
);
const cpu = process.cpuUsage(before);
const wall = performance.now() - started;
console.log(
  `${n} requests: ${((cpu.user + cpu.system) / n).toFixed(1)} µs CPU per request (user ${(cpu.user / n).toFixed(1)}, system ${(cpu.system / n).toFixed(1)}), ${((n / wall) * 1000).toFixed(0)} req/s`,
);
server.kill();
process.exit(0);
