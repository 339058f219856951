/** Who is calling, as read from a verified JWT (DESIGN §3). */
export interface Caller {
  sub: string | null;
  tenantId: string | null;
  partnerId: string | null;
  roles: readonly string[];
  permissions: readonly string[];
  /** `service_slug` claim: the one service a `registry:manage` token may act on (DESIGN §3). */
  serviceSlug?: string | null;
}

export const isAdmin = (c: Caller) => c.permissions.includes('admin:provisioning') || c.roles.includes('super_admin');
export const canWriteOwn = (c: Caller) => c.roles.includes('tenant_admin') || c.permissions.includes('provisioning:write');
export const canRevealCredentials = (c: Caller) => c.roles.includes('tenant_admin');
export const canManageRegistry = (c: Caller) => c.permissions.includes('registry:manage') || c.permissions.includes('admin:registry');
export const isRegistryAdmin = (c: Caller) => c.permissions.includes('admin:registry') || isAdmin(c);
/** Cross-service registry changes are for `admin:registry` only (DESIGN §3); admin:provisioning does not change services. */
export const canManageAnyService = (c: Caller) => c.permissions.includes('admin:registry');

/** Why `c` may not change service `slug`, or null when it may (a service's own token, or admin:registry). */
export function registryRefusal(c: Caller, slug: string): string | null {
  if (canManageAnyService(c)) return null;
  if (!c.permissions.includes('registry:manage'))
    return "registry changes need permission registry:manage (a service's own token) or admin:registry";
  if (!c.serviceSlug) return 'this registry:manage token has no service_slug claim; request a token whose service_slug names your service';
  if (c.serviceSlug !== slug)
    return `this token acts for service ${c.serviceSlug} only, not ${slug}; changes to other services need admin:registry`;
  return null;
}

/** Who did it, for audit records: the subject, else the service the token names, else "unknown". */
export const actorOf = (c: Caller) => c.sub ?? (c.serviceSlug ? `service:${c.serviceSlug}` : 'unknown');
