import { readFile, readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Store } from '../store/store.js';
import { servicesRepo, type ServiceRow } from '../store/services-repo.js';
import { workflowsRepo } from '../store/workflows-repo.js';
import { Conflict, NotFound, ValidationFailed } from '../domain/errors.js';
import { checkManifest } from '../domain/manifest-check.js';
import type { ServiceManifest } from '../domain/manifest.js';
import { newVersionId } from '../domain/ids.js';

export interface ServiceView {
  slug: string;
  name: string;
  version: string;
  base_url: string;
  description: string | null;
  status: string;
  status_detail: string | null;
  last_heartbeat_at: string | null;
  created_at: string;
  updated_at: string;
  steps: { provision: string[]; deprovision: string[] | null };
  /** The manifest's declared parameters (a JSON Schema), or null when it declares none. */
  parameters: ServiceManifest['parameters'] | null;
}

export const HEARTBEAT_STATUSES = ['healthy', 'degraded', 'down', 'maintenance'] as const;

/** The service registry: manifests in, checked once; running workflows keep the version they started with. */
export function createRegistry(deps: { store: Store; clock?: () => number }) {
  const { store } = deps;
  const now = deps.clock ?? Date.now;

  async function put(input: unknown, mode: 'create' | 'upsert'): Promise<{ service: ServiceView; created: boolean; versionChanged: boolean }> {
    const manifest = checkManifest(input);
    const t = now();
    const manifestJson = JSON.stringify(manifest);
    return store.transaction(async (tx) => {
      const existing = await servicesRepo.get(tx, manifest.slug);
      if (existing && mode === 'create') {
        throw new Conflict(`service ${manifest.slug} is already registered (version ${existing.version}); use PUT /api/v1/registry/register to update it`);
      }
      const versionChanged = !existing || existing.version !== manifest.version || existing.manifest !== manifestJson;
      if (existing) {
        await servicesRepo.update(tx, manifest.slug, { name: manifest.name, version: manifest.version, base_url: manifest.base_url, manifest: manifestJson, updated_at: t });
      } else {
        await servicesRepo.insert(tx, {
          slug: manifest.slug, name: manifest.name, version: manifest.version, base_url: manifest.base_url, manifest: manifestJson,
          status: 'healthy', status_detail: null, created_at: t, updated_at: t, last_heartbeat_at: null,
        });
      }
      if (versionChanged) await servicesRepo.insertVersion(tx, { id: newVersionId(), slug: manifest.slug, version: manifest.version, manifest: manifestJson, created_at: t });
      const row = await servicesRepo.get(tx, manifest.slug);
      return { service: view(row as ServiceRow), created: !existing, versionChanged };
    }).catch((e: unknown) => {
      if (store.dialect.isUniqueViolation(e)) throw new Conflict(`service ${manifest.slug} was registered concurrently; retry with PUT`);
      throw e;
    });
  }

  async function remove(slug: string): Promise<void> {
    const holding = await workflowsRepo.anyHolding(store.db, slug);
    if (holding) {
      throw new Conflict(`service ${slug} is still in use: tenant ${holding.tenant_id} holds workflow ${holding.id} (${holding.kind}, ${holding.status}); deprovision it first`);
    }
    if (!(await servicesRepo.delete(store.db, slug))) throw new NotFound(`service ${slug} is not registered`);
  }

  async function heartbeat(slug: string, status: string, version: string | undefined, detail: string | undefined): Promise<ServiceView> {
    const row = await servicesRepo.get(store.db, slug);
    if (!row) throw new NotFound(`service ${slug} is not registered; register it with POST /api/v1/registry/register`);
    if (version !== undefined && version !== row.version) {
      throw new Conflict(`service ${slug} is registered at version ${row.version}, heartbeat says ${version}; re-register the new manifest with PUT`);
    }
    await servicesRepo.update(store.db, slug, { status, status_detail: detail ?? null, last_heartbeat_at: now() });
    return view((await servicesRepo.get(store.db, slug)) as ServiceRow);
  }

  async function list(): Promise<ServiceView[]> {
    return (await servicesRepo.list(store.db)).map(view);
  }

  async function manifestOf(slug: string): Promise<ServiceManifest> {
    const row = await servicesRepo.get(store.db, slug);
    if (!row) throw new NotFound(`service ${slug} is not registered`);
    return JSON.parse(row.manifest) as ServiceManifest;
  }

  return { register: (m: unknown) => put(m, 'create'), upsert: (m: unknown) => put(m, 'upsert'), remove, heartbeat, list, manifestOf };
}

export type Registry = ReturnType<typeof createRegistry>;

function view(r: ServiceRow): ServiceView {
  const m = JSON.parse(r.manifest) as ServiceManifest;
  return {
    slug: r.slug, name: r.name, version: r.version, base_url: r.base_url, description: m.description ?? null, status: r.status,
    status_detail: r.status_detail, last_heartbeat_at: r.last_heartbeat_at === null ? null : new Date(r.last_heartbeat_at).toISOString(),
    created_at: new Date(r.created_at).toISOString(), updated_at: new Date(r.updated_at).toISOString(),
    steps: { provision: m.provision.map((s) => s.name), deprovision: m.deprovision?.map((s) => s.name) ?? null },
    parameters: m.parameters ?? null,
  };
}

/** Reads manifests from files or a directory (YAML or JSON); a bad file names itself and its problems. */
export async function readManifestFiles(paths: string[]): Promise<{ file: string; manifest: unknown }[]> {
  const files: string[] = [];
  for (const p of paths) {
    const entries = await readdir(p, { withFileTypes: true }).catch(() => null);
    if (entries) files.push(...entries.filter((e) => e.isFile() && ['.yaml', '.yml', '.json'].includes(extname(e.name))).map((e) => join(p, e.name)).sort());
    else files.push(p);
  }
  const out: { file: string; manifest: unknown }[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    try {
      out.push({ file, manifest: extname(file) === '.json' ? JSON.parse(text) : parseYaml(text) });
    } catch (e) {
      throw new ValidationFailed([{ loc: [file], msg: `cannot parse: ${(e as Error).message}`, type: 'json_invalid' }]);
    }
  }
  return out;
}
