import { SignJWT } from 'jose';

export interface TokenClaims {
  sub?: string;
  tenant_id?: string;
  partner_id?: string;
  roles?: string[];
  permissions?: string[];
  /** The service a registry:manage token acts for. */
  service_slug?: string;
}

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
const TTL_FORM = 'a positive whole number of seconds ("3600") or of s, m, h or d ("45s", "30m", "1h", "7d")';

/** Signs an HS256 token with `iat` now and `exp` = `iat` + ttl, as `provisioner token` prints it. */
export async function signToken(secret: string, claims: TokenClaims, ttl: string): Promise<string> {
  if (secret.length === 0) throw new Error('cannot sign a token with an empty secret; set PROVISIONER_JWT_SECRET');
  const ttlS = parseTtl(ttl);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(now)
    .setExpirationTime(now + ttlS)
    .sign(new TextEncoder().encode(secret));
}

/** Parses a token lifetime ("1h", "30m", "7d", "3600") into seconds. */
export function parseTtl(ttl: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(ttl.trim());
  if (!match) throw new Error(`invalid TTL ${JSON.stringify(ttl)}; use ${TTL_FORM}`);
  const unit = (match[2] || 's') as keyof typeof UNIT_SECONDS;
  const seconds = Number(match[1]) * UNIT_SECONDS[unit];
  if (seconds <= 0 || !Number.isSafeInteger(seconds)) {
    throw new Error(`invalid TTL ${JSON.stringify(ttl)}: it must be above zero and not absurdly large; use ${TTL_FORM}`);
  }
  return seconds;
}
