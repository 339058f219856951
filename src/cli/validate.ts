import { ValidationFailed, type ValidationIssue } from '../domain/errors.js';
import { checkManifest } from '../domain/manifest-check.js';
import { lintManifest } from '../domain/manifest-lint.js';
import { manifestPaths, readManifestFile, type ManifestFile } from './manifest-files.js';

const place = (loc: readonly (string | number)[]) =>
  loc.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('') || '(top)';

/** Checks each file on its own, as the registry would, and lists every error and warning with its place. */
export async function validateFiles(paths: string[]): Promise<{ text: string; errors: number; warnings: number }> {
  const lines: string[] = [];
  let errors = 0;
  let warnings = 0;
  const files = await manifestPaths(paths);
  if (files.length === 0) return { text: 'no manifests found (expected .yaml, .yml or .json files)\n', errors: 1, warnings: 0 };
  for (const file of files) {
    let parsed: ManifestFile;
    try {
      parsed = await readManifestFile(file);
    } catch (e) {
      if (!(e instanceof ValidationFailed)) throw e;
      errors += e.issues.length;
      lines.push(`${file}: not a manifest`, ...e.issues.map((i) => `  error  ${i.msg}`));
      continue;
    }
    const where = (loc: readonly (string | number)[]) => {
      const pos = parsed.position(loc);
      return `${pos ? `${file}:${pos} ` : ''}${place(loc)}`;
    };
    let issues: ValidationIssue[] = [];
    try {
      const manifest = checkManifest(parsed.manifest);
      const lint = lintManifest(manifest);
      warnings += lint.length;
      const steps = Object.values(manifest)
        .filter(Array.isArray)
        .reduce((n, s) => n + s.length, 0);
      lines.push(
        `${file}: ok — ${manifest.slug} ${manifest.version}, ${steps} step${steps === 1 ? '' : 's'}${lint.length ? `, ${lint.length} warning${lint.length === 1 ? '' : 's'}` : ''}`,
      );
      lines.push(...lint.map((w) => `  warning  ${where(w.loc)}: ${w.msg}`));
      continue;
    } catch (e) {
      if (!(e instanceof ValidationFailed)) throw e;
      issues = e.issues;
    }
    errors += issues.length;
    lines.push(`${file}: ${issues.length} error${issues.length === 1 ? '' : 's'}`);
    lines.push(...issues.map((i) => `  error  ${where(i.loc)}: ${i.msg}`));
  }
  lines.push(
    errors > 0
      ? `\n${errors} error${errors === 1 ? '' : 's'}; fix them and run again (nothing was registered)`
      : `\nall ${files.length} manifest${files.length === 1 ? '' : 's'} valid`,
  );
  return { text: `${lines.join('\n')}\n`, errors, warnings };
}
