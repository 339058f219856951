import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { Caller } from '../domain/caller.js';
import { isAdmin } from '../domain/caller.js';
import { Unauthorized } from '../domain/errors.js';
import type { TokenVerifier } from '../auth/token-verifier.js';

/**
 * UI sessions. The cookie holds the login JWT sealed with AES-256-GCM under a key derived from
 * PROVISIONER_SECRET_KEY, so:
 * - the cookie is useless as an API bearer token if it leaks, and cannot be forged or altered;
 * - every replica that shares the secret key accepts it, and it survives restarts (no server state);
 * - each request re-verifies the JWT, so an expired or no longer accepted token ends the session.
 * A session lives as long as its token, at most MAX_SESSION_S. The CSRF token is an HMAC of the
 * session's random id under a second derived key: per session, stateless, and checked in constant time.
 */
export const SESSION_COOKIE = 'prov_ui_session';
export const MAX_SESSION_S = 12 * 3600;
const AAD = Buffer.from('provisioner-ui-session-v1');

export interface UiSession {
  caller: Caller;
  admin: boolean;
  /** The tenant whose workflows this session may read; null for an operator (every tenant). */
  tenantScope: string | null;
  /** Random per login; the CSRF token is derived from it. */
  sid: string;
  csrf: string;
}

interface Sealed {
  v: 1;
  jwt: string;
  sid: string;
  exp: number;
}

export interface SessionManager {
  /** Verifies the token and returns the Set-Cookie value that starts a session. */
  login(token: string): Promise<{ cookie: string; session: UiSession }>;
  /** The session of a request's Cookie header, or null when there is none or it is no longer valid. */
  resolve(cookieHeader: string | undefined): Promise<UiSession | null>;
  logoutCookie(): string;
  csrfValid(session: UiSession, token: unknown): boolean;
}

export function createSessionManager(deps: {
  verifier: TokenVerifier;
  /** base64 PROVISIONER_SECRET_KEY (config.secretKeys.current). */
  secretKey: string;
  /** Adds Secure to the cookie (PUBLIC_URL is https). */
  secure: boolean;
  now?: () => number;
}): SessionManager {
  const master = Buffer.from(deps.secretKey, 'base64');
  if (master.length < 32) throw new Error('ui: the session key needs PROVISIONER_SECRET_KEY (32 bytes, base64)');
  const encKey = Buffer.from(hkdfSync('sha256', master, 'provisioner-ui', 'session-encryption', 32));
  const csrfKey = Buffer.from(hkdfSync('sha256', master, 'provisioner-ui', 'csrf', 32));
  const now = deps.now ?? Date.now;
  const attrs = `Path=/ui; HttpOnly; SameSite=Strict${deps.secure ? '; Secure' : ''}`;

  const csrfFor = (sid: string) => createHmac('sha256', csrfKey).update(sid).digest('base64url');

  function seal(s: Sealed): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', encKey, iv);
    c.setAAD(AAD);
    const body = Buffer.concat([c.update(JSON.stringify(s), 'utf8'), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64url');
  }

  function unseal(value: string): Sealed | null {
    const buf = Buffer.from(value, 'base64url');
    if (buf.length < 12 + 16 + 2) return null;
    try {
      const d = createDecipheriv('aes-256-gcm', encKey, buf.subarray(0, 12));
      d.setAAD(AAD);
      d.setAuthTag(buf.subarray(12, 28));
      const text = Buffer.concat([d.update(buf.subarray(28)), d.final()]).toString('utf8');
      const s = JSON.parse(text) as Partial<Sealed>;
      if (s.v !== 1 || typeof s.jwt !== 'string' || typeof s.sid !== 'string' || typeof s.exp !== 'number') return null;
      return s as Sealed;
    } catch {
      // Altered, sealed under another key (PROVISIONER_SECRET_KEY rotated) or garbage: simply no session.
      return null;
    }
  }

  async function sessionOf(jwt: string, sid: string): Promise<UiSession> {
    const caller = await deps.verifier.verify(`Bearer ${jwt}`);
    const admin = isAdmin(caller);
    if (!admin && caller.tenantId === null) {
      throw new Unauthorized(
        'this token has neither a tenant_id claim nor the admin:provisioning permission; request a tenant or operator token',
      );
    }
    return { caller, admin, tenantScope: admin ? null : caller.tenantId, sid, csrf: csrfFor(sid) };
  }

  return {
    async login(token) {
      const jwt = token.trim();
      const session = await sessionOf(jwt, randomBytes(16).toString('base64url'));
      const tokenExp = decodeJwt(jwt).exp ?? 0; // verified above: exp is required
      const exp = Math.min(tokenExp * 1000, now() + MAX_SESSION_S * 1000);
      const maxAge = Math.max(1, Math.floor((exp - now()) / 1000));
      return { session, cookie: `${SESSION_COOKIE}=${seal({ v: 1, jwt, sid: session.sid, exp })}; Max-Age=${maxAge}; ${attrs}` };
    },

    async resolve(cookieHeader) {
      const value = readCookie(cookieHeader, SESSION_COOKIE);
      if (!value) return null;
      const sealed = unseal(value);
      if (!sealed || sealed.exp <= now()) return null;
      try {
        return await sessionOf(sealed.jwt, sealed.sid);
      } catch (e) {
        if (e instanceof Unauthorized) return null;
        throw e; // e.g. the identity provider's keys are unreachable: a 503, not a logout
      }
    },

    logoutCookie: () => `${SESSION_COOKIE}=; Max-Age=0; ${attrs}`,

    csrfValid(session, token) {
      if (typeof token !== 'string') return false;
      const want = Buffer.from(session.csrf);
      const got = Buffer.from(token);
      return got.length === want.length && timingSafeEqual(got, want);
    },
  };
}

export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
