import Type, { type Static } from 'typebox';
import { StepSpecSchema } from './step-specs.js';
import { ParametersSpecSchema } from './parameters.js';

/** A service manifest (DESIGN §6): what a service registers and what its workflows run. */

export const OnFailure = ['rollback', 'hold'] as const;
export type OnFailure = (typeof OnFailure)[number];

export const MAX_STEPS = 100;

const StepList = Type.Array(StepSpecSchema, { minItems: 1, maxItems: MAX_STEPS });

export const ServiceManifestSchema = Type.Object(
  {
    slug: Type.String({
      pattern: '^[a-z0-9][a-z0-9-]{0,62}$',
      description: 'lowercase letters, digits and "-", starting with a letter or digit, at most 63 characters',
    }),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    version: Type.String({ minLength: 1, maxLength: 100 }),
    // Checked beyond the schema by checkManifest: http(s), absolute, no query, fragment or credentials.
    base_url: Type.String({ minLength: 1, maxLength: 2000, description: 'absolute http(s) URL that step paths are relative to' }),
    on_failure: Type.Optional(Type.Enum(OnFailure, { default: 'rollback' })),
    description: Type.Optional(Type.String({ maxLength: 5000 })),
    parameters: Type.Optional(ParametersSpecSchema),
    provision: StepList,
    // Absent: deprovisioning runs the provision steps' compensations in reverse dependency order.
    deprovision: Type.Optional(StepList),
    // Absent: the service cannot be updated in place (an update request answers 409).
    update: Type.Optional(StepList),
  },
  { additionalProperties: false },
);

export type ServiceManifest = Static<typeof ServiceManifestSchema>;

export const StepSections = ['provision', 'deprovision', 'update'] as const;
export type StepSection = (typeof StepSections)[number];
