import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import type { Caller } from '../domain/caller.js';
import { ProvisionerError, Unauthorized, Unavailable, toError } from '../domain/errors.js';

export interface AuthConfig {
  /** Accept HS256 tokens signed with this secret (PROVISIONER_JWT_SECRET). */
  hs256Secret: string | null;
  /** Accept asymmetric tokens whose keys this JWKS publishes (PROVISIONER_JWKS_URL). */
  jwksUrl: string | null;
  issuer: string | null;
  audience: string | null;
  /** Skew allowed on `exp` and `nbf`; 60 in production. */
  clockToleranceS: number;
  /**
   * Minimum time between JWKS refetches that an unknown `kid` may trigger (default 30 000, jose's).
   * It bounds how often forged kids can make us call the identity provider.
   */
  jwksCooldownMs?: number;
}

export interface TokenVerifier {
  /** Resolves the Caller of a valid `Bearer` token; rejects with Unauthorized (or Unavailable, see below). */
  verify(authorizationHeader: string | undefined): Promise<Caller>;
}

export const SECRET_ALGORITHMS = ['HS256'] as const;
export const JWKS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'] as const;

const DEFAULT_JWKS_COOLDOWN_MS = 30_000;

/** Where the key for one family of algorithms comes from; absent when that family is not configured. */
interface KeySource {
  readonly algorithms: readonly string[];
  readonly key: Uint8Array | JWTVerifyGetKey;
}

export function createTokenVerifier(config: AuthConfig): TokenVerifier {
  const secretSource = secretKeySource(config.hs256Secret);
  const jwksSource = jwksKeySource(config.jwksUrl, config.jwksCooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS);
  if (!secretSource && !jwksSource) {
    throw new Error('auth: no way to verify tokens; set PROVISIONER_JWT_SECRET or PROVISIONER_JWKS_URL');
  }
  if (!Number.isFinite(config.clockToleranceS) || config.clockToleranceS < 0) {
    throw new Error(`auth: clockToleranceS must be a non-negative number of seconds, got ${config.clockToleranceS}`);
  }
  const options: JWTVerifyOptions = {
    requiredClaims: ['exp'],
    clockTolerance: config.clockToleranceS,
    ...(config.issuer !== null && { issuer: config.issuer }),
    ...(config.audience !== null && { audience: config.audience }),
  };

  function sourceFor(alg: string): KeySource {
    if (isOneOf(alg, SECRET_ALGORITHMS)) {
      if (secretSource) return secretSource;
      throw new Unauthorized(
        `${alg} tokens are not accepted by this server; use a token from the identity provider ` + `(${JWKS_ALGORITHMS.join(', ')})`,
      );
    }
    if (isOneOf(alg, JWKS_ALGORITHMS)) {
      if (jwksSource) return jwksSource;
      throw new Unauthorized(
        `${alg} tokens are not accepted by this server; use an HS256 token signed with its ` +
          'secret (for example from `provisioner token`)',
      );
    }
    const accepted = [...(secretSource ? SECRET_ALGORITHMS : []), ...(jwksSource ? JWKS_ALGORITHMS : [])];
    throw new Unauthorized(`token algorithm ${quote(alg)} is not accepted; accepted: ${accepted.join(', ')}`);
  }

  return {
    async verify(authorizationHeader) {
      const token = bearerToken(authorizationHeader);
      const source = sourceFor(algorithmOf(token));
      let payload: JWTPayload;
      try {
        // The allow-list is narrowed to the family chosen above, so a secret can never verify an
        // RS/ES token's alg-confusion twin and a JWKS key never verifies an HS256 token.
        ({ payload } = await jwtVerify(token, source.key, { ...options, algorithms: [...source.algorithms] }));
      } catch (e) {
        throw verificationFailure(e, config);
      }
      return toCaller(payload);
    },
  };
}

function secretKeySource(secret: string | null): KeySource | null {
  if (secret === null) return null;
  if (secret.length === 0) throw new Error('auth: PROVISIONER_JWT_SECRET is empty; unset it or give it a value');
  return { algorithms: SECRET_ALGORITHMS, key: new TextEncoder().encode(secret) };
}

function jwksKeySource(jwksUrl: string | null, cooldownMs: number): KeySource | null {
  if (jwksUrl === null) return null;
  let url: URL;
  try {
    url = new URL(jwksUrl);
  } catch {
    throw new Error(`auth: PROVISIONER_JWKS_URL ${quote(jwksUrl)} is not a URL; give the identity provider's JWKS address`);
  }
  // jose caches the set, refetches after cacheMaxAge, and refetches on an unknown kid once per cooldown.
  const remote = createRemoteJWKSet(url, { cooldownDuration: cooldownMs });
  const key: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (e) {
      throw keyLookupFailure(e, header.kid);
    }
  };
  return { algorithms: JWKS_ALGORITHMS, key };
}

/**
 * A key the JWKS does not have is the token's problem (401). Failing to obtain the JWKS at all
 * (unreachable, timeout, non-200, not a JWKS) is ours: the token may be perfectly valid, so a 401
 * would wrongly tell the client to throw it away and re-authenticate, and would hide our outage in
 * client-error counts. We answer 503 `unavailable`, which clients retry and operators alert on.
 */
function keyLookupFailure(e: unknown, kid: string | undefined): Error {
  if (e instanceof errors.JWKSNoMatchingKey) {
    return new Unauthorized(
      kid === undefined
        ? 'token has no kid and no published signing key matches its algorithm; request a new token from the identity provider'
        : `no published signing key has kid ${quote(kid)} (it may have been rotated out); request a new token from the identity provider`,
    );
  }
  if (e instanceof errors.JWKSMultipleMatchingKeys) {
    return new Unauthorized('token has no kid and several published signing keys match it; request a token that names its key (kid)');
  }
  const unavailable = new Unavailable('could not fetch signing keys from the identity provider; retry in a moment');
  unavailable.cause = e;
  return unavailable;
}

function bearerToken(header: string | undefined): string {
  if (header === undefined || header.trim() === '') {
    throw new Unauthorized('missing Authorization header; send "Authorization: Bearer <token>"');
  }
  const parts = header.trim().split(/\s+/);
  // Only the scheme is echoed: the rest of a non-Bearer header may be a credential.
  if (parts[0].toLowerCase() !== 'bearer') {
    throw new Unauthorized(`Authorization header uses the ${quote(parts[0])} scheme; send "Authorization: Bearer <token>"`);
  }
  if (parts.length !== 2) {
    throw new Unauthorized('Authorization header must be "Bearer" followed by exactly one token; send "Authorization: Bearer <token>"');
  }
  return parts[1];
}

function algorithmOf(token: string): string {
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw new Unauthorized('bearer token is not a JWT (expected header.payload.signature); request a new token');
  }
  if (typeof alg !== 'string') throw new Unauthorized('token header has no alg; request a new token');
  return alg;
}

function verificationFailure(e: unknown, config: AuthConfig): Error {
  if (e instanceof ProvisionerError) return e;
  if (e instanceof errors.JWTExpired) {
    return new Unauthorized(`token expired at ${isoTime(e.payload.exp)}; request a new one`);
  }
  if (e instanceof errors.JWTClaimValidationFailed) return claimFailure(e, config);
  if (e instanceof errors.JWSSignatureVerificationFailed) {
    return new Unauthorized('token signature is invalid (signed with another key, or altered); request a new token');
  }
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid) {
    return new Unauthorized(`token is malformed (${e.message}); request a new token`);
  }
  if (e instanceof errors.JOSEError) {
    return new Unauthorized(`token could not be verified (${e.code}); request a new token`);
  }
  // Not a property of the token: a bug or a crypto failure, left to surface as a 500.
  return toError(e);
}

function claimFailure(e: InstanceType<typeof errors.JWTClaimValidationFailed>, config: AuthConfig): Unauthorized {
  const { claim, reason, payload } = e;
  if (reason === 'invalid') {
    return new Unauthorized(`token claim ${claim} must be a NumericDate (seconds since 1970); request a new token`);
  }
  if (claim === 'exp') return new Unauthorized('token has no exp claim; tokens must expire, request one that does');
  if (claim === 'nbf') {
    return new Unauthorized(`token is not valid before ${isoTime(payload.nbf)}; wait until then or check the issuer's clock`);
  }
  if (claim === 'iss') {
    return new Unauthorized(`token issuer ${quote(payload.iss)} is not accepted; request a token issued by ${quote(config.issuer)}`);
  }
  if (claim === 'aud') {
    return new Unauthorized(
      `token audience ${quote(payload.aud)} does not include ${quote(config.audience)}; ` + 'request a token for that audience',
    );
  }
  return new Unauthorized(`token claim ${claim} is not accepted (${e.message}); request a new token`);
}

function toCaller(payload: JWTPayload): Caller {
  return {
    sub: optionalString(payload, 'sub'),
    tenantId: optionalString(payload, 'tenant_id'),
    partnerId: optionalString(payload, 'partner_id'),
    roles: stringList(payload, 'roles'),
    permissions: stringList(payload, 'permissions'),
    serviceSlug: optionalString(payload, 'service_slug'),
  };
}

function optionalString(payload: JWTPayload, claim: string): string | null {
  const value = payload[claim];
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' && value !== '') return value;
  throw new Unauthorized(
    `token claim ${claim} must be a non-empty string, got ${describeType(value)}; ` + 'request a token with a valid claim',
  );
}

function stringList(payload: JWTPayload, claim: string): readonly string[] {
  const value = payload[claim];
  if (value === undefined || value === null) return [];
  if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) return Object.freeze([...value]);
  throw new Unauthorized(
    `token claim ${claim} must be an array of strings, got ${describeType(value)}; ` + 'request a token with a valid claim',
  );
}

function describeType(value: unknown): string {
  if (Array.isArray(value)) return 'an array with a non-string element';
  if (value === '') return 'an empty string';
  return `a ${typeof value}`;
}

function isOneOf<T extends string>(value: string, list: readonly T[]): value is T {
  return (list as readonly string[]).includes(value);
}

/** Quotes a value taken from a token for a message, cut short so a hostile token cannot flood logs. */
function quote(value: unknown): string {
  if (value === undefined) return '(missing)';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function isoTime(seconds: unknown): string {
  return typeof seconds === 'number' && Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : quote(seconds);
}
