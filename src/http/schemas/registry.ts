import Type from 'typebox';
import { HEARTBEAT_STATUSES } from '../../engine/registry.js';

const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);

export const ServiceResponse = Type.Object(
  {
    slug: Type.String(),
    name: Type.String(),
    version: Type.String(),
    /** Left out of the catalog for callers who do not administer the registry. */
    base_url: Type.Optional(Type.String()),
    description: Type.Union([Type.String(), Type.Null()]),
    status: Type.String(),
    status_detail: Type.Union([Type.String(), Type.Null()]),
    last_heartbeat_at: Time,
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
    steps: Type.Object({ provision: Type.Array(Type.String()), deprovision: Type.Union([Type.Array(Type.String()), Type.Null()]) }),
    signing_secret: Type.Optional(
      Type.String({
        description:
          'Only in the answer that issued it (first registration): the secret requests to this service are signed with. Store it; it is not shown again.',
      }),
    ),
    parameters: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
      description: 'The parameters the service takes, as a JSON Schema (null: none declared)',
    }),
  },
  { $id: 'ServiceResponse' },
);

const Slug = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' });

export const ServiceSlugParams = Type.Object({ slug: Slug });

export const RegisterQuery = Type.Object({
  reason: Type.Optional(Type.String({ minLength: 1, maxLength: 2000, description: 'Why: recorded with the change in the registry audit' })),
});

export const SigningSecretRequest = Type.Object(
  {
    slug: Slug,
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
  },
  { $id: 'SigningSecretRequest', additionalProperties: false },
);

export const SigningSecretResponse = Type.Object(
  {
    slug: Type.String(),
    signing_secret: Type.String(),
  },
  { $id: 'SigningSecretResponse' },
);

export const ServiceVersion = Type.Object(
  {
    version: Type.String(),
    created_at: Type.String({ format: 'date-time' }),
    actor: Type.Union([Type.String(), Type.Null()]),
    reason: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: 'ServiceVersion' },
);

export const RegistryAuditEntry = Type.Object(
  {
    action: Type.String({ description: 'register, update, deregister, status.<status>, signing_secret.issue, signing_secret.rotate' }),
    actor: Type.String(),
    reason: Type.Union([Type.String(), Type.Null()]),
    version: Type.Union([Type.String(), Type.Null()]),
    at: Type.String({ format: 'date-time' }),
  },
  { $id: 'RegistryAuditEntry' },
);

export const DeregisterRequest = Type.Object(
  {
    slug: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }),
    reason: Type.String({ minLength: 1, maxLength: 2000 }),
  },
  { $id: 'DeregisterRequest', additionalProperties: false },
);

export const HeartbeatRequest = Type.Object(
  {
    slug: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }),
    status: Type.Enum(HEARTBEAT_STATUSES),
    version: Type.Optional(Type.String({ maxLength: 100 })),
    detail: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { $id: 'HeartbeatRequest', additionalProperties: false },
);

export const registrySchemas = [
  ServiceResponse,
  DeregisterRequest,
  HeartbeatRequest,
  SigningSecretRequest,
  SigningSecretResponse,
  ServiceVersion,
  RegistryAuditEntry,
];
