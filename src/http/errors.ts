import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import { ProvisionerError, STATUS_BY_CODE, ValidationFailed, type ErrorCode, type ValidationIssue } from '../domain/errors.js';

export { STATUS_BY_CODE };

export interface ErrorHandlingOptions {
  /** True for errors that mean a dependency (the database) is down: answered 503, not 500. */
  isUnavailable?: (e: unknown) => boolean;
}

/** Installs the app's only error handler and not-found handler. Call once, on the root instance. */
export function installErrorHandling(app: FastifyInstance, opts: ErrorHandlingOptions = {}): void {
  const isUnavailable = opts.isUnavailable ?? (() => false);
  app.setErrorHandler((error: unknown, req, reply) => {
    if (isFastifyValidation(error)) {
      return sendIssues(reply, validationIssues(error.validation, error.validationContext, req));
    }
    if (error instanceof ValidationFailed) return sendIssues(reply, error.issues);
    if (error instanceof ProvisionerError) {
      if (error.code === 'validation_error') {
        return sendIssues(reply, [{ loc: ['body'], msg: error.message, type: 'value_error' }]);
      }
      const status = STATUS_BY_CODE[error.code];
      if (status >= 500) req.log.warn({ err: error }, 'request failed');
      if (error.headers) void reply.headers(error.headers);
      return sendError(req, reply, error.code, error.message);
    }
    if (isUnavailable(error)) {
      req.log.error({ err: error }, 'dependency unavailable');
      return sendError(req, reply, 'unavailable', 'a service this request needs is unavailable; retry in a moment');
    }
    const framework = fastifyErrorAnswer(error);
    if (framework) return framework.issues ? sendIssues(reply, framework.issues) : sendError(req, reply, framework.code, framework.message);
    req.log.error({ err: error }, 'unhandled error');
    return sendError(req, reply, 'internal_error', `internal error; retry later, and if it persists report request id ${req.id}`);
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0].slice(0, 200);
    return sendError(req, reply, 'not_found', `no route ${req.method} ${path}; see /docs for the API`);
  });
}

/**
 * For errors Fastify raises before any route or hook runs (a URL with bad percent-encoding, an
 * over-long path parameter): pass as the `frameworkErrors` server option so they get our shape.
 */
export function handleFrameworkError(error: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const answer = fastifyErrorAnswer(error) ?? { code: 'not_found' as const, message: 'no such resource' };
  void reply.header('x-request-id', req.id);
  if (answer.issues) void sendIssues(reply, answer.issues);
  else void sendError(req, reply, answer.code, answer.message);
}

interface Answer {
  code: ErrorCode;
  message: string;
  issues?: ValidationIssue[];
}

/** Fastify's own request errors (codes FST_ERR_*), translated to the contract's codes. */
function fastifyErrorAnswer(error: unknown): Answer | null {
  if (!(error instanceof Error)) return null;
  const { code, statusCode } = error as Partial<FastifyError>;
  switch (code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return issue('body', 'JSON decode error; send a valid JSON document', 'json_invalid');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return issue('body', 'Field required', 'missing');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return {
        code: 'validation_error',
        message: '',
        issues: [
          {
            loc: ['header', 'content-length'],
            msg: 'Content-Length does not match the body; send the exact body length',
            type: 'value_error',
          },
        ],
      };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'payload_too_large', message: 'request body is too large for this endpoint; send a smaller body' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        code: 'unsupported_media_type',
        message: 'unsupported Content-Type; send the body as JSON with ' + '"Content-Type: application/json"',
      };
    case 'FST_ERR_BAD_URL':
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return {
        code: 'not_found',
        message: 'no such resource: the URL is malformed (bad percent-encoding or an over-long ' + 'segment); check the address',
      };
  }
  if (typeof code !== 'string' || !code.startsWith('FST_') || typeof statusCode !== 'number' || statusCode >= 500) return null;
  const known = (Object.keys(STATUS_BY_CODE) as ErrorCode[]).find((c) => STATUS_BY_CODE[c] === statusCode);
  if (known) return { code: known, message: error.message };
  return issue('body', `${error.message}; fix the request and retry`, 'value_error');
}

function issue(where: string, msg: string, type: string): Answer {
  return { code: 'validation_error', message: msg, issues: [{ loc: [where], msg, type }] };
}

function sendError(req: FastifyRequest, reply: FastifyReply, code: ErrorCode, message: string) {
  return reply.code(STATUS_BY_CODE[code]).send({ error: { code, message, request_id: req.id } });
}

function sendIssues(reply: FastifyReply, issues: ValidationIssue[]) {
  return reply.code(STATUS_BY_CODE.validation_error).send({ detail: issues });
}

type FastifyValidation = Error & { validation: FastifySchemaValidationError[]; validationContext?: string };

function isFastifyValidation(e: unknown): e is FastifyValidation {
  return e instanceof Error && Array.isArray((e as Partial<FastifyValidation>).validation);
}

const LOC_ROOT: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

/** Ajv's errors in FastAPI's shape: one entry per problem, `loc` naming the field. */
function validationIssues(
  errors: readonly FastifySchemaValidationError[],
  context: string | undefined,
  req: FastifyRequest,
): ValidationIssue[] {
  const root = LOC_ROOT[context ?? 'body'] ?? 'body';
  if (root === 'body' && req.body === undefined) return [{ loc: ['body'], msg: 'Field required', type: 'missing' }];
  const params = root !== 'body';
  return collapseUnions(errors.filter((e) => e.keyword !== 'if')).map((e) => toIssue(e, root, params));
}

/**
 * `Type.Union` is `anyOf`; ajv reports every branch plus the `anyOf` itself. Branches that failed
 * only on the value's type merge into one "valid string or null"; deeper branch errors are kept.
 */
function collapseUnions(errors: readonly FastifySchemaValidationError[]): FastifySchemaValidationError[] {
  const unions = errors
    .filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf')
    .sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  if (unions.length === 0) return [...errors];
  const outer = unions[0];
  const inBranch = (e: FastifySchemaValidationError) => e.schemaPath.startsWith(`${outer.schemaPath}/`);
  const branches = errors.filter(inBranch);
  const rest = errors.filter((e) => e !== outer && !inBranch(e));
  const shallow = branches.filter((e) => e.instancePath === outer.instancePath && SHALLOW.has(e.keyword));
  const deep = branches.filter((e) => !shallow.includes(e) && e.keyword !== 'anyOf' && e.keyword !== 'oneOf');
  const kept =
    deep.length > 0
      ? collapseUnions(branches.filter((e) => !shallow.includes(e)))
      : [{ ...outer, keyword: shallow[0]?.keyword ?? outer.keyword, params: { ...shallow[0]?.params, union: shallow } }];
  return [...collapseUnions(rest), ...kept];
}
const SHALLOW = new Set(['type', 'enum', 'const']);

function toIssue(e: FastifySchemaValidationError, root: string, fromText: boolean): ValidationIssue {
  const loc: (string | number)[] = [root, ...pointerSegments(e.instancePath)];
  const p = e.params;
  if (e.keyword === 'required' && typeof p.missingProperty === 'string') loc.push(p.missingProperty);
  if (e.keyword === 'additionalProperties' && typeof p.additionalProperty === 'string') loc.push(p.additionalProperty);
  const union = Array.isArray(p.union) ? (p.union as FastifySchemaValidationError[]) : [];
  if (union.length > 1) {
    return { loc, msg: `Input should be ${union.map((u) => expectation(u)).join(' or ')}`, type: describe(union[0], fromText).type };
  }
  return { loc, ...describe(e, fromText) };
}

const TYPE_NAMES: Record<string, [string, string]> = {
  string: ['string_type', 'a valid string'],
  integer: ['int_type', 'a valid integer'],
  number: ['float_type', 'a valid number'],
  boolean: ['bool_type', 'a valid boolean'],
  object: ['dict_type', 'a valid dictionary'],
  array: ['list_type', 'a valid list'],
  null: ['none_required', 'null'],
};

function expectation(e: FastifySchemaValidationError): string {
  if (e.keyword === 'type')
    return [e.params.type]
      .flat()
      .map((t) => TYPE_NAMES[String(t)]?.[1] ?? String(t))
      .join(' or ');
  if (e.keyword === 'enum') return oneOf(e.params.allowedValues);
  if (e.keyword === 'const') return literal(e.params.allowedValue);
  return e.message ?? 'valid';
}

/** Pydantic's error types and wording, so clients written against FastAPI read them as usual. */
function describe(e: FastifySchemaValidationError, fromText: boolean): { msg: string; type: string } {
  const p = e.params;
  switch (e.keyword) {
    case 'required':
      return { msg: 'Field required', type: 'missing' };
    case 'additionalProperties':
      return { msg: 'Extra inputs are not permitted', type: 'extra_forbidden' };
    case 'type': {
      const first = String([p.type].flat()[0]);
      const parsing = fromText && (first === 'integer' || first === 'number' || first === 'boolean');
      const [type] = TYPE_NAMES[first] ?? ['type_error'];
      return { msg: `Input should be ${expectation(e)}`, type: parsing ? type.replace('_type', '_parsing') : type };
    }
    case 'enum':
      return { msg: `Input should be ${expectation(e)}`, type: 'enum' };
    case 'const':
      return { msg: `Input should be ${expectation(e)}`, type: 'literal_error' };
    case 'minimum':
      return { msg: `Input should be greater than or equal to ${p.limit}`, type: 'greater_than_equal' };
    case 'exclusiveMinimum':
      return { msg: `Input should be greater than ${p.limit}`, type: 'greater_than' };
    case 'maximum':
      return { msg: `Input should be less than or equal to ${p.limit}`, type: 'less_than_equal' };
    case 'exclusiveMaximum':
      return { msg: `Input should be less than ${p.limit}`, type: 'less_than' };
    case 'minLength':
      return { msg: `String should have at least ${p.limit} character${s(p.limit)}`, type: 'string_too_short' };
    case 'maxLength':
      return { msg: `String should have at most ${p.limit} character${s(p.limit)}`, type: 'string_too_long' };
    case 'pattern':
      return { msg: `String should match pattern '${p.pattern}'`, type: 'string_pattern_mismatch' };
    case 'minItems':
      return { msg: `List should have at least ${p.limit} item${s(p.limit)}`, type: 'too_short' };
    case 'maxItems':
      return { msg: `List should have at most ${p.limit} item${s(p.limit)}`, type: 'too_long' };
    case 'format':
      return formatIssue(String(p.format));
    default:
      return { msg: `Input ${e.message ?? 'is not valid'}`, type: 'value_error' };
  }
}

function formatIssue(format: string): { msg: string; type: string } {
  if (format === 'date-time')
    return { msg: 'Input should be a valid datetime (ISO 8601, e.g. 2024-01-31T12:00:00Z)', type: 'datetime_parsing' };
  if (format === 'uri' || format === 'url') return { msg: 'Input should be a valid URL (e.g. https://host/path)', type: 'url_parsing' };
  return { msg: `Input should be a valid ${format}`, type: 'value_error' };
}

const s = (n: unknown) => (n === 1 ? '' : 's');
const literal = (v: unknown) => (typeof v === 'string' ? `'${v}'` : JSON.stringify(v));

function oneOf(values: unknown): string {
  const list = Array.isArray(values) ? values.map(literal) : [];
  return list.length <= 1 ? (list[0] ?? 'an allowed value') : `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`;
}

/** JSON pointer → loc segments; all-digit segments are array indexes (FastAPI gives them as integers). */
function pointerSegments(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => {
      const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      return /^(0|[1-9]\d*)$/.test(seg) ? Number(seg) : seg;
    });
}
