import { readFile, readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Store } from '../store/store.js';
import { servicesRepo, type ServiceRow } from '../store/services-repo.js';
import { Conflict, NotFound, ValidationFailed } from '../domain/errors.js';
import { checkManifest } from '../domain/manifest-check.js';
import type { ServiceManifest } from '../domain/manifest.js';
import { newRegistryAuditId, newVersionId } from '../domain/ids.js';
import { serviceStateRepo } from '../store/service-state-repo.js';
import { loadServiceState } from './service-state.js';
import { registryAuditRepo } from '../store/registry-audit-repo.js';
import type { Queryable } from '../store/queryable.js';
import type { CredentialCipher } from './credential-cipher.js';
import { issueSigningSecret, sealSigningSecret } from './signing-secrets.js';

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
  parameters: NonNullable<ServiceManifest['parameters']> | null;
}

/** Who asks for a registry change and why; recorded with it. */
export interface RegistryActor {
  actor: string;
  reason?: string | null;
}
const SYSTEM: RegistryActor = { actor: 'system', reason: null };

export interface ServiceVersionView {
  version: string;
  created_at: string;
  actor: string | null;
  reason: string | null;
}
export interface RegistryAuditView {
  action: string;
  actor: string;
  reason: string | null;
  version: string | null;
  at: string;
}

export const HEARTBEAT_STATUSES = ['healthy', 'degraded', 'down', 'maintenance'] as const;

/** The service registry: manifests in, checked once; running workflows keep the version they started with. */
export function createRegistry(deps: {
  store: Store;
  clock?: () => number;
  cipher?: CredentialCipher;
  checkBaseUrl?: (url: string) => Promise<string | null>;
}) {
  const { store, cipher } = deps;
  const now = deps.clock ?? Date.now;

  async function audit(db: Queryable, slug: string, action: string, by: RegistryActor, version: string | null) {
    await registryAuditRepo.insert(db, {
      id: newRegistryAuditId(),
      slug,
      action,
      actor: by.actor,
      reason: by.reason ?? null,
      version,
      created_at: now(),
    });
  }

  async function put(
    input: unknown,
    mode: 'create' | 'upsert',
    by: RegistryActor = SYSTEM,
  ): Promise<{ service: ServiceView; created: boolean; versionChanged: boolean; signingSecret: string | null }> {
    const manifest = checkManifest(input);
    const refused = deps.checkBaseUrl ? await deps.checkBaseUrl(manifest.base_url) : null;
    if (refused) throw new ValidationFailed([{ loc: ['base_url'], msg: refused, type: 'value_error' }]);
    const t = now();
    const manifestJson = JSON.stringify(manifest);
    return store
      .transaction(async (tx) => {
        const existing = await servicesRepo.get(tx, manifest.slug);
        if (existing && mode === 'create') {
          throw new Conflict(
            `service ${manifest.slug} is already registered (version ${existing.version}); use PUT /api/v1/registry/register to update it`,
          );
        }
        const versionChanged = !existing || existing.version !== manifest.version || existing.manifest !== manifestJson;
        if (existing) {
          await servicesRepo.update(tx, manifest.slug, {
            name: manifest.name,
            version: manifest.version,
            base_url: manifest.base_url,
            manifest: manifestJson,
            updated_at: t,
          });
        } else {
          await servicesRepo.insert(tx, {
            slug: manifest.slug,
            name: manifest.name,
            version: manifest.version,
            base_url: manifest.base_url,
            manifest: manifestJson,
            status: 'unknown',
            status_detail: null,
            created_at: t,
            updated_at: t,
            last_heartbeat_at: null,
            signing_secret: null,
          });
        }
        if (versionChanged) {
          await servicesRepo.insertVersion(tx, {
            id: newVersionId(),
            slug: manifest.slug,
            version: manifest.version,
            manifest: manifestJson,
            created_at: t,
            actor: by.actor,
            reason: by.reason ?? null,
          });
          await audit(tx, manifest.slug, existing ? 'update' : 'register', by, manifest.version);
        }
        // Issued once, at first registration (or the first one after upgrading): shown in this answer only.
        let signingSecret: string | null = null;
        if (cipher && !existing?.signing_secret) {
          signingSecret = issueSigningSecret();
          await servicesRepo.setSigningSecret(tx, manifest.slug, sealSigningSecret(cipher, signingSecret));
          if (existing) await audit(tx, manifest.slug, 'signing_secret.issue', by, manifest.version);
        }
        const row = await servicesRepo.get(tx, manifest.slug);
        return { service: view(row as ServiceRow), created: !existing, versionChanged, signingSecret };
      })
      .catch((e: unknown) => {
        if (store.dialect.isUniqueViolation(e)) throw new Conflict(`service ${manifest.slug} was registered concurrently; retry with PUT`);
        throw e;
      });
  }

  async function remove(slug: string, by: RegistryActor = SYSTEM): Promise<void> {
    // The provisioned-state record, the same one that decides what a tenant may start.
    for (const tenantId of await serviceStateRepo.tenantsOf(store.db, slug)) {
      const st = await loadServiceState(store.db, tenantId, slug);
      const leftovers = st.state === 'provision_failed' && st.lastFailure?.status === 'failed';
      if (st.state === 'not_provisioned' || (st.state === 'provision_failed' && !leftovers)) continue;
      // The caller is a service, not the tenant: it learns that the service is held, never by whom.
      const why = st.active ? 'a workflow for it is still active' : 'a tenant still holds it provisioned';
      throw new Conflict(
        `service ${slug} is still in use: ${why}; deprovision every tenant first (an operator can list them with GET /api/v1/admin/provisioning/workflows?service_slug=${slug})`,
      );
    }
    await store.transaction(async (tx) => {
      const row = await servicesRepo.get(tx, slug);
      if (!row || !(await servicesRepo.delete(tx, slug))) throw new NotFound(`service ${slug} is not registered`);
      await audit(tx, slug, 'deregister', by, row.version);
    });
  }

  async function rotateSigningSecret(slug: string, by: RegistryActor = SYSTEM): Promise<string> {
    if (!cipher) throw new Error('rotateSigningSecret needs the credential cipher');
    const secret = issueSigningSecret();
    await store.transaction(async (tx) => {
      const row = await servicesRepo.get(tx, slug);
      if (!row) throw new NotFound(`service ${slug} is not registered; register it with POST /api/v1/registry/register`);
      await servicesRepo.setSigningSecret(tx, slug, sealSigningSecret(cipher, secret));
      await audit(tx, slug, 'signing_secret.rotate', by, row.version);
    });
    return secret;
  }

  async function versions(slug: string): Promise<ServiceVersionView[]> {
    const rows = await servicesRepo.listVersions(store.db, slug);
    if (rows.length === 0 && !(await servicesRepo.get(store.db, slug))) throw new NotFound(`service ${slug} is not registered`);
    return rows.map((r) => ({
      version: r.version,
      created_at: new Date(Number(r.created_at)).toISOString(),
      actor: r.actor,
      reason: r.reason,
    }));
  }

  async function auditTrail(slug: string): Promise<RegistryAuditView[]> {
    const rows = await registryAuditRepo.listForService(store.db, slug);
    if (rows.length === 0 && !(await servicesRepo.get(store.db, slug)))
      throw new NotFound(`service ${slug} is not registered and has no registry history`);
    return rows.map((r) => ({
      action: r.action,
      actor: r.actor,
      reason: r.reason,
      version: r.version,
      at: new Date(Number(r.created_at)).toISOString(),
    }));
  }

  async function heartbeat(
    slug: string,
    status: string,
    version: string | undefined,
    detail: string | undefined,
    by: RegistryActor = SYSTEM,
  ): Promise<ServiceView> {
    const row = await servicesRepo.get(store.db, slug);
    if (!row) throw new NotFound(`service ${slug} is not registered; register it with POST /api/v1/registry/register`);
    if (version !== undefined && version !== row.version) {
      throw new Conflict(
        `service ${slug} is registered at version ${row.version}, heartbeat says ${version}; re-register the new manifest with PUT`,
      );
    }
    await servicesRepo.update(store.db, slug, { status, status_detail: detail ?? null, last_heartbeat_at: now() });
    // Status changes are audited; a steady stream of identical heartbeats is not.
    if (row.status !== status) await audit(store.db, slug, `status.${status}`, by, row.version);
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

  return {
    register: (m: unknown, by?: RegistryActor) => put(m, 'create', by),
    upsert: (m: unknown, by?: RegistryActor) => put(m, 'upsert', by),
    remove,
    heartbeat,
    list,
    manifestOf,
    rotateSigningSecret,
    versions,
    audit: auditTrail,
  };
}

export type Registry = ReturnType<typeof createRegistry>;

function view(r: ServiceRow): ServiceView {
  const m = JSON.parse(r.manifest) as ServiceManifest;
  return {
    // A service that never sent a heartbeat has told us nothing about its health.
    slug: r.slug,
    name: r.name,
    version: r.version,
    base_url: r.base_url,
    description: m.description ?? null,
    status: r.last_heartbeat_at === null ? 'unknown' : r.status,
    status_detail: r.status_detail,
    last_heartbeat_at: r.last_heartbeat_at === null ? null : new Date(r.last_heartbeat_at).toISOString(),
    created_at: new Date(r.created_at).toISOString(),
    updated_at: new Date(r.updated_at).toISOString(),
    steps: { provision: m.provision.map((s) => s.name), deprovision: m.deprovision?.map((s) => s.name) ?? null },
    parameters: m.parameters ?? null,
  };
}

/** Reads manifests from files or a directory (YAML or JSON); a bad file names itself and its problems. */
export async function readManifestFiles(paths: string[]): Promise<{ file: string; manifest: unknown }[]> {
  const files: string[] = [];
  for (const p of paths) {
    const entries = await readdir(p, { withFileTypes: true }).catch(() => null);
    if (entries)
      files.push(
        ...entries
          .filter((e) => e.isFile() && ['.yaml', '.yml', '.json'].includes(extname(e.name)))
          .map((e) => join(p, e.name))
          .sort(),
      );
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
