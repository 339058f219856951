import type { Json } from '../domain/json.js';

/** Column conversions shared by the row mappers: JSON is stored as TEXT on both databases. */
export const toJsonColumn = (v: unknown): string => JSON.stringify(v ?? null);
export function fromJsonColumn<T = Json>(v: string | null): T | null {
  return v === null ? null : (JSON.parse(v) as T);
}
