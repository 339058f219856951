// Runs the simulated Files service: `PORT=9100 node --import tsx examples/simulator/main.ts`.
import { startFilesService } from './files-service.js';

const port = Number(process.env.PORT ?? 9100);
const files = await startFilesService({ port, log: (line) => console.log(`[files] ${line}`) });
console.log(`[files] listening on ${files.url}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log(`[files] ${signal}: closing`);
    void files.close().then(() => console.log(`[files] closed; stats ${JSON.stringify(files.stats())}`));
  });
}
