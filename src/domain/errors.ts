/** Error codes of the contract (DESIGN §4). */
export const ErrorCodes = [
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'gone',
  'payload_too_large',
  'unsupported_media_type',
  'rate_limited',
  'internal_error',
  'unavailable',
  'validation_error',
] as const;
export type ErrorCode = (typeof ErrorCodes)[number];

/** The only code → status table (DESIGN §4), here so the API and the UI read it without importing each other. */
export const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = Object.freeze({
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  validation_error: 422,
  rate_limited: 429,
  internal_error: 500,
  unavailable: 503,
});

export class ProvisionerError extends Error {
  readonly code: ErrorCode;
  readonly headers?: Record<string, string>;
  constructor(code: ErrorCode, message: string, headers?: Record<string, string>) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.headers = headers;
  }
}

export class Unauthorized extends ProvisionerError {
  constructor(m: string) {
    super('unauthorized', m);
  }
}
export class Forbidden extends ProvisionerError {
  constructor(m: string) {
    super('forbidden', m);
  }
}
export class NotFound extends ProvisionerError {
  constructor(m: string) {
    super('not_found', m);
  }
}
export class Conflict extends ProvisionerError {
  constructor(m: string) {
    super('conflict', m);
  }
}
export class Gone extends ProvisionerError {
  constructor(m: string) {
    super('gone', m);
  }
}
export class PayloadTooLarge extends ProvisionerError {
  constructor(m: string) {
    super('payload_too_large', m);
  }
}
export class RateLimited extends ProvisionerError {
  constructor(m: string, retryAfterS: number) {
    super('rate_limited', m, { 'retry-after': String(retryAfterS) });
  }
}
export class Unavailable extends ProvisionerError {
  constructor(m: string) {
    super('unavailable', m);
  }
}

/** One problem in a request or manifest, in FastAPI's ValidationError shape (loc, msg, type). */
export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

/** A request or manifest that is well-formed JSON but breaks a rule: answered 422 with `detail`. */
export class ValidationFailed extends ProvisionerError {
  readonly issues: ValidationIssue[];
  constructor(issues: ValidationIssue[]) {
    super('validation_error', issues.map((i) => `${i.loc.join('.')}: ${i.msg}`).join('; '));
    this.issues = issues;
  }
}

/** Coerces any thrown value to an Error, once, at the boundary where it is caught. */
export function toError(e: unknown): Error {
  if (e instanceof Error) return e;
  return new Error(typeof e === 'string' ? e : JSON.stringify(e));
}

/** Another workflow of the tenant × service is under way: the request may succeed once it ends (the intake queues). */
export class ActiveWorkflowConflict extends Conflict {
  constructor(
    m: string,
    readonly activeWorkflowId: string | null,
  ) {
    super(m);
  }
}
