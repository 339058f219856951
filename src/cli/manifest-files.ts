import { readFile, readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { ValidationFailed } from '../domain/errors.js';

export interface ManifestFile {
  file: string;
  manifest: unknown;
  /** `line:col` of a loc inside the file (the nearest node that exists), for messages. */
  position(loc: readonly (string | number)[]): string | null;
}

const EXTENSIONS = ['.yaml', '.yml', '.json'];

/** Expands directories (their YAML/JSON files, sorted) and keeps files as given. */
export async function manifestPaths(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of paths) {
    const entries = await readdir(p, { withFileTypes: true }).catch(() => null);
    if (entries)
      files.push(
        ...entries
          .filter((e) => e.isFile() && EXTENSIONS.includes(extname(e.name)))
          .map((e) => join(p, e.name))
          .sort(),
      );
    else files.push(p);
  }
  return files;
}

/** Parses one manifest file (JSON is YAML too); a syntax error is a ValidationFailed naming line and column. */
export async function readManifestFile(file: string): Promise<ManifestFile> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new ValidationFailed([
      { loc: [], msg: `cannot read ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, type: 'file_unreadable' },
    ]);
  });
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ValidationFailed(
      doc.errors.map((e) => {
        const at = lines.linePos(e.pos[0]);
        return { loc: [], msg: `line ${at.line}, column ${at.col}: ${e.message.split('\n')[0]}`, type: 'yaml_invalid' };
      }),
    );
  }
  return {
    file,
    manifest: doc.toJS({ maxAliasCount: 100 }) as unknown,
    position(loc) {
      for (let n = loc.length; n >= 0; n--) {
        const node = doc.getIn(loc.slice(0, n), true);
        if (isNode(node) && node.range) {
          const at = lines.linePos(node.range[0]);
          return `${at.line}:${at.col}`;
        }
      }
      return null;
    },
  };
}

/** Every manifest of the paths; the first unreadable or unparsable file stops the run. */
export async function readManifestFiles(paths: string[]): Promise<ManifestFile[]> {
  const out: ManifestFile[] = [];
  for (const file of await manifestPaths(paths)) {
    try {
      out.push(await readManifestFile(file));
    } catch (e) {
      if (e instanceof ValidationFailed) throw new ValidationFailed(e.issues.map((i) => ({ ...i, loc: [file, ...i.loc] })));
      throw e;
    }
  }
  return out;
}
