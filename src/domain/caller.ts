/** Who is calling, as read from a verified JWT (DESIGN §3). */
export interface Caller {
  sub: string | null;
  tenantId: string | null;
  partnerId: string | null;
  roles: readonly string[];
  permissions: readonly string[];
}

export const isAdmin = (c: Caller) => c.permissions.includes('admin:provisioning') || c.roles.includes('super_admin');
export const canWriteOwn = (c: Caller) => c.roles.includes('tenant_admin') || c.permissions.includes('provisioning:write');
export const canRevealCredentials = (c: Caller) => c.roles.includes('tenant_admin');
export const canManageRegistry = (c: Caller) =>
  c.permissions.includes('registry:manage') || c.permissions.includes('admin:registry');
export const isRegistryAdmin = (c: Caller) => c.permissions.includes('admin:registry') || isAdmin(c);
