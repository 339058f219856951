import { fromJsonColumn, toJsonColumn } from '../store/columns.js';
import type { Report } from '../domain/model.js';
import type { CredentialCipher } from './credential-cipher.js';

/**
 * A callback that arrives while its request is still in flight waits in the step row until the worker
 * applies it. Its credentials are sealed like any others at rest (DESIGN §6), never kept as plain JSON.
 */
type StoredReport = Omit<Report, 'credentials'> & { sealed_credentials?: string };

export function sealEarlyReport(report: Report, cipher: CredentialCipher): string {
  const { credentials, ...rest } = report;
  const stored: StoredReport = credentials ? { ...rest, sealed_credentials: cipher.encrypt(credentials) } : rest;
  return toJsonColumn(stored);
}

export function openEarlyReport(column: string, cipher: CredentialCipher): Report {
  const { sealed_credentials: sealed, ...rest } = fromJsonColumn<StoredReport>(column) as StoredReport;
  return sealed ? { ...rest, credentials: cipher.decrypt(sealed) } : rest;
}
