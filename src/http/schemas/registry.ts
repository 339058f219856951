import Type from 'typebox';
import { HEARTBEAT_STATUSES } from '../../engine/registry.js';

const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);

export const ServiceResponse = Type.Object({
  slug: Type.String(),
  name: Type.String(),
  version: Type.String(),
  base_url: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  status: Type.String(),
  status_detail: Type.Union([Type.String(), Type.Null()]),
  last_heartbeat_at: Time,
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
  steps: Type.Object({ provision: Type.Array(Type.String()), deprovision: Type.Union([Type.Array(Type.String()), Type.Null()]) }),
  parameters: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], { description: 'The parameters the service takes, as a JSON Schema (null: none declared)' }),
}, { $id: 'ServiceResponse' });

export const DeregisterRequest = Type.Object({
  slug: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }),
  reason: Type.String({ minLength: 1, maxLength: 2000 }),
}, { $id: 'DeregisterRequest', additionalProperties: false });

export const HeartbeatRequest = Type.Object({
  slug: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }),
  status: Type.Enum(HEARTBEAT_STATUSES),
  version: Type.Optional(Type.String({ maxLength: 100 })),
  detail: Type.Optional(Type.String({ maxLength: 2000 })),
}, { $id: 'HeartbeatRequest', additionalProperties: false });

export const registrySchemas = [ServiceResponse, DeregisterRequest, HeartbeatRequest];
