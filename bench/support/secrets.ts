// The bench's PROVISIONER_SECRET_KEY, kept in bench/tmp/ across runs: a seeded reads database kept by
// BENCH_READS_CACHE holds service signing secrets sealed with it, and an engine refuses to start on a
// database sealed with a key it does not have. Only bench databases ever see it.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FILE = join(fileURLToPath(new URL('../tmp/', import.meta.url)), 'secret-key');

let key: string | null = null;

export function benchSecretKey(): string {
  if (key) return key;
  if (existsSync(FILE)) key = readFileSync(FILE, 'utf8').trim();
  else {
    key = randomBytes(32).toString('base64');
    mkdirSync(join(FILE, '..'), { recursive: true });
    writeFileSync(FILE, `${key}\n`, { mode: 0o600 });
  }
  return key;
}
