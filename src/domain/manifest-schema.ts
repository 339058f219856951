import { ServiceManifestSchema } from './manifest.js';

/** Where the published manifest schema lives, relative to the public URL (stable: editors and manifests point at it). */
export const MANIFEST_SCHEMA_PATH = '/api/v1/registry/manifest-schema.json';

/**
 * The service manifest as a standalone JSON Schema document, generated from the TypeBox definition
 * that checks manifests, so editors (`# yaml-language-server: $schema=<url>`) and the API agree.
 */
export function manifestJsonSchema(id?: string): Record<string, unknown> {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    ...(id === undefined ? {} : { $id: id }),
    title: 'Provisioner service manifest',
    description: 'What a service registers with Provisioner: its steps for provisioning and deprovisioning (see docs/service-contract.md).',
    ...structuredClone(ServiceManifestSchema),
  };
}
