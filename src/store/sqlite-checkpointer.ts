import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Copies the write-ahead log into the database file from a thread of its own. SQLite otherwise runs
 * that copy (and its fsyncs) inside whichever commit crosses wal_autocheckpoint, on the engine's event
 * loop: a third of the commit time of the throughput bench. A PASSIVE checkpoint never blocks the
 * writer; the main connection keeps a high autocheckpoint as a bound in case this thread falls behind.
 */
export interface SqliteCheckpointer {
  stop(): Promise<void>;
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = NORMAL');
let closed = false;
const checkpoint = () => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy or closing: the next tick tries again */ }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop' || closed) return;
  closed = true;
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.postMessage('stopped');
});
`;

export function startSqliteCheckpointer(path: string, intervalMs = 100): SqliteCheckpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, { eval: true, workerData: { path, driver, intervalMs } });
  // A failing checkpointer costs speed, not data: the main connection's autocheckpoint still runs.
  worker.on('error', () => undefined);
  worker.unref();
  let stopping: Promise<void> | null = null;
  return {
    stop: () =>
      (stopping ??= new Promise<void>((resolve) => {
        // Held while stopping: with nothing else pending, an unreferenced worker let the process (or a test
        // awaiting close) end before the last checkpoint ran.
        worker.ref();
        const timer = setTimeout(() => done(), 2000);
        const done = () => {
          clearTimeout(timer);
          void worker.terminate().finally(resolve);
        };
        worker.once('message', done);
        worker.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        worker.postMessage('stop');
      })),
  };
}
