import type { FastifyPluginAsync } from 'fastify';
import Type from 'typebox';
import { MANIFEST_SCHEMA_PATH, manifestJsonSchema } from '../../domain/manifest-schema.js';
import { API_PREFIX } from '../app.js';

/** The published manifest JSON Schema: no token, so editors and CI can fetch it. */
export function manifestSchemaRoute({ publicUrl }: { publicUrl: string }): FastifyPluginAsync {
  const document = manifestJsonSchema(`${publicUrl.replace(/\/$/, '')}${MANIFEST_SCHEMA_PATH}`);
  return async (app) => {
    app.get(
      MANIFEST_SCHEMA_PATH.slice(API_PREFIX.length),
      {
        schema: {
          tags: ['Registry'],
          operationId: 'getManifestSchema',
          summary: 'The service manifest as a JSON Schema',
          security: [],
          response: { 200: Type.Record(Type.String(), Type.Unknown(), { description: 'A JSON Schema (draft-07) document' }) },
        },
      },
      async (_req, reply) => reply.type('application/schema+json').send(JSON.stringify(document)),
    );
  };
}
