import { Command } from 'commander';
import { ValidationFailed } from '../domain/errors.js';
import { createRuntime } from '../runtime.js';
import { readManifestFiles } from '../engine/registry.js';
import { configFrom, withConfigFlags } from './options.js';

export function servicesCommand(): Command {
  const cmd = new Command('services').description('manage service manifests');
  cmd.addCommand(withConfigFlags(new Command('apply').description('register or update manifests from YAML/JSON files or directories'))
    .argument('<files...>')
    .action(async (files: string[], flags) => {
      const rt = await createRuntime(configFrom(flags), { executor: false });
      try {
        const results = await applyManifests(rt.registry, files);
        for (const r of results) process.stdout.write(`${r}\n`);
      } finally {
        await rt.close();
      }
    }));
  return cmd;
}

/** Applies every manifest; a bad one is reported with its file, step and field, and stops the run. */
export async function applyManifests(registry: { upsert(m: unknown): Promise<{ service: { slug: string; version: string }; created: boolean; versionChanged: boolean }> }, paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const { file, manifest } of await readManifestFiles(paths)) {
    try {
      const r = await registry.upsert(manifest);
      out.push(`${r.created ? 'registered' : r.versionChanged ? 'updated' : 'unchanged'} ${r.service.slug} ${r.service.version} (${file})`);
    } catch (e) {
      if (e instanceof ValidationFailed) {
        throw new Error(`${file} is not a valid manifest:\n${e.issues.map((i) => `  - ${i.loc.join('.')}: ${i.msg}`).join('\n')}`);
      }
      throw e;
    }
  }
  return out;
}
