/** The filters of a list page (workflows, subscription events), as its query string carries them. */
export interface ListFilters {
  status?: string;
  service?: string;
  /** Admins only; a tenant user's list is always its own tenant. */
  tenant?: string;
  cursor?: string;
}

const KEYS = ['status', 'service', 'tenant', 'cursor'] as const;

/** The list page at `path` with the given filters and overrides (undefined drops a filter). */
export function filteredUrl(path: string, f: ListFilters, change: Partial<ListFilters> = {}): string {
  const merged = { ...f, ...change };
  const q = new URLSearchParams();
  for (const key of KEYS) {
    const v = merged[key];
    if (v) q.set(key, v);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}
