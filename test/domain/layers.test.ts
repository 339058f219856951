import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The import rules of docs/architecture.md, checked on the source: imports point inward, never back up. */
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** For each layer, the top-level folders/files of src/ it must never import. */
const FORBIDDEN: Record<string, readonly string[]> = {
  domain: ['store', 'engine', 'http', 'ui', 'cli', 'auth', 'tracing', 'runtime', 'config', 'metrics'],
  store: ['engine', 'http', 'ui', 'cli', 'auth', 'tracing', 'runtime', 'metrics'],
  engine: ['http', 'ui', 'cli', 'runtime'],
  ui: ['http', 'cli'],
  http: ['cli'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Top-level part of src/ an import lands in ("http" for src/http/errors.ts, "config" for src/config.ts). */
function layerOf(file: string): string {
  return relative(SRC, file).split(/[\\/]/)[0].replace(/\.ts$/, '');
}

function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => resolve(dirname(file), m[1]));
}

describe('layers', () => {
  for (const [layer, forbidden] of Object.entries(FORBIDDEN)) {
    it(`src/${layer} imports none of ${forbidden.join(', ')}`, () => {
      const offending = sourceFiles(join(SRC, layer)).flatMap((file) =>
        relativeImports(file)
          .filter((target) => forbidden.includes(layerOf(target)))
          .map((target) => `${relative(SRC, file)} → ${relative(SRC, target)}`),
      );
      assert.deepEqual(offending, []);
    });
  }
});
