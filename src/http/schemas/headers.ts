import Type from 'typebox';

export const IdempotencyKeyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, description: 'repeats with the same key return the same workflow' }),
  ),
});
