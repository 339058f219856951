import { Command, Option } from 'commander';
import { configFrom, withDatabaseFlags } from './options.js';
import { callApi, withApiFlags, type ApiFlags } from './api-client.js';

const collect = (v: string, prev: string[]) => [...prev, v];

export function servicesCommand(): Command {
  const cmd = new Command('services').description('check, plan and manage service manifests');

  cmd.addCommand(
    new Command('validate')
      .description('check manifests offline (no database, no server): every error with its place, and warnings for likely mistakes')
      .argument('<files...>', 'YAML or JSON manifests, or directories of them')
      .option('--strict', 'exit non-zero on warnings too')
      .action(async (files: string[], o: { strict?: boolean }) => {
        const { validateFiles } = await import('./validate.js');
        const r = await validateFiles(files);
        process.stdout.write(r.text);
        if (r.errors > 0 || (o.strict && r.warnings > 0)) process.exitCode = 1;
      }),
  );

  cmd.addCommand(
    new Command('plan')
      .description('print the steps of a manifest in order and each request as it would be sent (nothing is sent)')
      .argument('<file>', 'a YAML or JSON manifest')
      .requiredOption('--tenant <id>', 'the tenant to plan for')
      .option('--param <key=value>', 'a parameter (repeatable; the value is parsed as JSON when it can be, e.g. size=10)', collect, [])
      .addOption(new Option('--kind <kind>', 'which steps').choices(['provision', 'deprovision']).default('provision'))
      .option('--public-url <url>', 'Provisioner URL the callback URL is built from', 'http://127.0.0.1:8000')
      .action(async (file: string, o: { tenant: string; param: string[]; kind: 'provision' | 'deprovision'; publicUrl: string }) => {
        const { planFile } = await import('./plan.js');
        process.stdout.write(await planFile(file, o));
      }),
  );

  cmd.addCommand(
    withApiFlags(new Command('list').description('registered services, through the API')).action(async (o: ApiFlags) => {
      const { json } = await callApi(o, 'GET', '/api/v1/registry/services');
      const rows = json.data as {
        slug: string;
        version: string;
        status: string;
        name: string;
        parameters: { properties?: object } | null;
      }[];
      for (const s of rows) {
        const params = s.parameters ? Object.keys(s.parameters.properties ?? {}).join(',') || '-' : '-';
        process.stdout.write(`${s.slug.padEnd(20)} ${s.version.padEnd(10)} ${s.status.padEnd(12)} params ${params.padEnd(20)} ${s.name}\n`);
      }
      if (rows.length === 0) process.stdout.write('no services registered\n');
    }),
  );

  cmd.addCommand(
    withApiFlags(new Command('show').description('one registered service, through the API'))
      .argument('<slug>')
      .action(async (slug: string, o: ApiFlags) => {
        const { json } = await callApi(o, 'GET', '/api/v1/registry/services');
        const s = (json.data as { slug: string }[]).find((x) => x.slug === slug);
        if (!s) throw new Error(`service ${slug} is not registered; \`provisioner services list\` shows the registered ones`);
        process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
      }),
  );

  cmd.addCommand(
    withApiFlags(new Command('remove').description('deregister a service no tenant holds, through the API'))
      .argument('<slug>')
      .requiredOption('--reason <text>', 'why (recorded in the log)')
      .action(async (slug: string, o: ApiFlags & { reason: string }) => {
        await callApi(o, 'DELETE', '/api/v1/registry/register', { slug, reason: o.reason });
        process.stdout.write(`removed ${slug}\n`);
      }),
  );

  cmd.addCommand(
    withDatabaseFlags(
      new Command('apply').description('register or update manifests from YAML/JSON files or directories, directly in the database'),
    )
      .argument('<files...>')
      .action(async (files: string[], flags) => {
        const { createRuntime } = await import('../runtime.js');
        const rt = await createRuntime(configFrom(flags), { executor: false });
        try {
          const results = await applyManifests(rt.registry, files);
          for (const r of results) process.stdout.write(`${r}\n`);
        } finally {
          await rt.close();
        }
      }),
  );
  return cmd;
}

/** Applies every manifest; a bad one is reported with its file, step and field, and stops the run. */
export async function applyManifests(
  registry: { upsert(m: unknown): Promise<{ service: { slug: string; version: string }; created: boolean; versionChanged: boolean }> },
  paths: string[],
): Promise<string[]> {
  const [{ readManifestFiles }, { ValidationFailed }] = await Promise.all([import('./manifest-files.js'), import('../domain/errors.js')]);
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
