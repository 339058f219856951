import Type from 'typebox';
import { ref } from './common.js';
import { ServiceManifestSchema } from '../../domain/manifest.js';
import { MANIFEST_SCHEMA_PATH } from '../../domain/manifest-schema.js';

/**
 * The register body as documented: the manifest schema, as JSON or YAML. Routes carry it as
 * `documentedBody` (docs only): checkManifest validates the raw body itself so that every problem is
 * reported with its step and field, which a generic schema error could not do.
 */
export const ServiceManifest = Type.Object(ServiceManifestSchema.properties, {
  $id: 'ServiceManifest',
  title: 'ServiceManifest',
  additionalProperties: false,
  description: `A service manifest (JSON, or YAML with Content-Type application/yaml). Also published at ${MANIFEST_SCHEMA_PATH}.`,
});

export const ManifestBody = {
  content: {
    'application/json': { schema: ref(ServiceManifest) },
    'application/yaml': { schema: ref(ServiceManifest) },
  },
};
