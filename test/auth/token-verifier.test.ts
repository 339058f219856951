import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompactSign, SignJWT, base64url, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import { createTokenVerifier } from '../../src/auth/token-verifier.js';
import type { AuthConfig } from '../../src/auth/token-verifier.js';
import { parseTtl, signToken } from '../../src/auth/token-signer.js';
import { Unauthorized, Unavailable } from '../../src/domain/errors.js';

const SECRET = 'test-secret-that-is-at-least-32-bytes-long';
const BASE: AuthConfig = { hs256Secret: null, jwksUrl: null, issuer: null, audience: null, clockToleranceS: 60 };
const nowS = () => Math.floor(Date.now() / 1000);

async function hs256(claims: JWTPayload, secret = SECRET): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
}

/** Asserts the promise rejects with Unauthorized whose message matches `pattern`. */
async function rejectsUnauthorized(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof Unauthorized, `expected Unauthorized, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('HS256 tokens', () => {
  const verifier = createTokenVerifier({ ...BASE, hs256Secret: SECRET });

  it('maps the claims of a valid token to a Caller', async () => {
    const token = await signToken(
      SECRET,
      {
        sub: 'user-1',
        tenant_id: 't-1',
        partner_id: 'p-1',
        roles: ['tenant_admin'],
        permissions: ['provisioning:write'],
        service_slug: 'files',
      },
      '1h',
    );
    assert.deepEqual(await verifier.verify(`Bearer ${token}`), {
      sub: 'user-1',
      tenantId: 't-1',
      partnerId: 'p-1',
      roles: ['tenant_admin'],
      permissions: ['provisioning:write'],
      serviceSlug: 'files',
    });
  });

  it('accepts the scheme in any case and gives absent claims as null or empty lists', async () => {
    const token = await hs256({ exp: nowS() + 60 });
    assert.deepEqual(await verifier.verify(`bEaReR ${token}`), {
      sub: null,
      tenantId: null,
      partnerId: null,
      roles: [],
      permissions: [],
      serviceSlug: null,
    });
  });

  it('refuses a request without an Authorization header and says how to send one', async () => {
    await rejectsUnauthorized(verifier.verify(undefined), /missing Authorization header.*Bearer <token>/);
    await rejectsUnauthorized(verifier.verify(''), /missing Authorization header/);
  });

  it('refuses a non-Bearer scheme without echoing its credential', async () => {
    await assert.rejects(verifier.verify('Basic dXNlcjpwYXNzd29yZA=='), (e: unknown) => {
      assert.ok(e instanceof Unauthorized);
      assert.match(e.message, /"Basic" scheme/);
      assert.doesNotMatch(e.message, /dXNlcjpwYXNzd29yZA/);
      return true;
    });
  });

  it('refuses "Bearer" with no token or with more than one', async () => {
    await rejectsUnauthorized(verifier.verify('Bearer'), /exactly one token/);
    await rejectsUnauthorized(verifier.verify('Bearer a b'), /exactly one token/);
  });

  it('refuses a token that is not a JWT', async () => {
    await rejectsUnauthorized(verifier.verify('Bearer not-a-jwt'), /not a JWT/);
    await rejectsUnauthorized(verifier.verify('Bearer aaa.bbb.ccc'), /not a JWT/);
  });

  it('refuses a token signed with another secret, without revealing the secret', async () => {
    const token = await hs256({ exp: nowS() + 60 }, 'another-secret-that-is-also-32-bytes-long');
    await assert.rejects(verifier.verify(`Bearer ${token}`), (e: unknown) => {
      assert.ok(e instanceof Unauthorized);
      assert.match(e.message, /signature is invalid/);
      assert.ok(!e.message.includes(SECRET));
      return true;
    });
  });

  it('refuses an unsigned alg "none" token', async () => {
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
    const payload = base64url.encode(JSON.stringify({ sub: 'x', tenant_id: 't-1', roles: ['super_admin'], exp: nowS() + 60 }));
    await rejectsUnauthorized(verifier.verify(`Bearer ${header}.${payload}.`), /algorithm "none" is not accepted; accepted: HS256/);
  });

  it('refuses an RS256 token when only a secret is configured', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT({ exp: nowS() + 60 }).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
    await rejectsUnauthorized(verifier.verify(`Bearer ${token}`), /RS256 tokens are not accepted.*HS256/);
  });

  it('refuses a token without exp', async () => {
    await rejectsUnauthorized(verifier.verify(`Bearer ${await hs256({ sub: 'u' })}`), /no exp claim/);
  });

  it('refuses a token whose exp is not a number', async () => {
    // SignJWT types exp as a number, so the payload is signed as raw bytes.
    const token = await new CompactSign(new TextEncoder().encode(JSON.stringify({ exp: 'tomorrow' })))
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SECRET));
    await rejectsUnauthorized(verifier.verify(`Bearer ${token}`), /exp must be a NumericDate/);
  });

  it('refuses an expired token, naming when it expired', async () => {
    const exp = nowS() - 3600;
    const expected = new Date(exp * 1000).toISOString().replace(/[.]/g, '\\.');
    await rejectsUnauthorized(
      verifier.verify(`Bearer ${await hs256({ exp })}`),
      new RegExp(`token expired at ${expected}; request a new one`),
    );
  });

  it('accepts a token that expired 30 s ago (within the 60 s clock tolerance)', async () => {
    const caller = await verifier.verify(`Bearer ${await hs256({ exp: nowS() - 30, tenant_id: 't-1' })}`);
    assert.equal(caller.tenantId, 't-1');
  });

  it('refuses a token that expired 90 s ago (beyond the clock tolerance)', async () => {
    await rejectsUnauthorized(verifier.verify(`Bearer ${await hs256({ exp: nowS() - 90 })}`), /token expired at/);
  });

  it('accepts nbf within the tolerance and refuses nbf beyond it', async () => {
    await verifier.verify(`Bearer ${await hs256({ exp: nowS() + 600, nbf: nowS() + 30 })}`);
    await rejectsUnauthorized(
      verifier.verify(`Bearer ${await hs256({ exp: nowS() + 600, nbf: nowS() + 90 })}`),
      /not valid before .*wait until then/,
    );
  });

  describe('claim types', () => {
    const cases: [string, JWTPayload, RegExp][] = [
      ['roles as a string', { roles: 'super_admin' }, /roles must be an array of strings, got a string/],
      ['permissions with a number', { permissions: ['a', 1] }, /permissions must be an array of strings/],
      ['tenant_id as a number', { tenant_id: 42 }, /tenant_id must be a non-empty string, got a number/],
      ['partner_id as an object', { partner_id: { id: 'p' } }, /partner_id must be a non-empty string/],
      ['sub as an empty string', { sub: '' }, /sub must be a non-empty string, got an empty string/],
    ];
    for (const [name, claims, message] of cases) {
      it(`refuses ${name}`, async () => {
        await rejectsUnauthorized(verifier.verify(`Bearer ${await hs256({ ...claims, exp: nowS() + 60 })}`), message);
      });
    }
  });
});

describe('issuer and audience', () => {
  const verifier = createTokenVerifier({ ...BASE, hs256Secret: SECRET, issuer: 'https://idp.test', audience: 'provisioner' });
  const exp = () => nowS() + 60;

  it('accepts a token with the configured issuer and an audience list that includes ours', async () => {
    const token = await hs256({ exp: exp(), iss: 'https://idp.test', aud: ['other', 'provisioner'], sub: 'u' });
    assert.equal((await verifier.verify(`Bearer ${token}`)).sub, 'u');
  });

  it('refuses another issuer, naming the accepted one', async () => {
    const token = await hs256({ exp: exp(), iss: 'https://evil.test', aud: 'provisioner' });
    await rejectsUnauthorized(verifier.verify(`Bearer ${token}`), /issuer "https:\/\/evil\.test" is not accepted.*"https:\/\/idp\.test"/);
  });

  it('refuses a token without iss when an issuer is configured', async () => {
    await rejectsUnauthorized(verifier.verify(`Bearer ${await hs256({ exp: exp(), aud: 'provisioner' })}`), /issuer \(missing\)/);
  });

  it('refuses another audience', async () => {
    const token = await hs256({ exp: exp(), iss: 'https://idp.test', aud: 'billing' });
    await rejectsUnauthorized(verifier.verify(`Bearer ${token}`), /audience "billing" does not include "provisioner"/);
  });
});

describe('JWKS tokens', () => {
  interface SigningKey {
    kid: string;
    privateKey: CryptoKey;
    jwk: JWK;
  }
  const served: JWK[] = [];
  let fetches = 0;
  let server: Server;
  let jwksUrl: string;

  async function newKey(kid: string, alg: 'RS256' | 'ES256' = 'RS256'): Promise<SigningKey> {
    const { publicKey, privateKey } = await generateKeyPair(alg);
    return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
  }
  function sign(key: SigningKey, claims: JWTPayload, alg = key.jwk.alg ?? 'RS256'): Promise<string> {
    return new SignJWT({ exp: nowS() + 60, ...claims }).setProtectedHeader({ alg, kid: key.kid }).sign(key.privateKey);
  }
  const verifierFor = (extra: Partial<AuthConfig> = {}) => createTokenVerifier({ ...BASE, jwksUrl, ...extra });

  before(async () => {
    server = createServer((_req, res) => {
      fetches += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: served }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  after(() => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))));

  it('verifies an RS256 token against a key fetched from the JWKS', async () => {
    const key = await newKey('rs-1');
    served.push(key.jwk);
    const caller = await verifierFor().verify(`Bearer ${await sign(key, { sub: 'svc', permissions: ['registry:manage'] })}`);
    assert.deepEqual(caller.permissions, ['registry:manage']);
  });

  it('verifies an ES256 token from the same JWKS', async () => {
    const key = await newKey('es-1', 'ES256');
    served.push(key.jwk);
    assert.equal((await verifierFor().verify(`Bearer ${await sign(key, { sub: 'es' })}`)).sub, 'es');
  });

  it('refetches the JWKS for an unknown kid once the cooldown has passed, accepting a rotated-in key', async () => {
    const first = await newKey('rot-1');
    served.push(first.jwk);
    const verifier = verifierFor({ jwksCooldownMs: 0 });
    await verifier.verify(`Bearer ${await sign(first, {})}`);
    const fetchesAfterFirst = fetches;

    const rotated = await newKey('rot-2');
    served.push(rotated.jwk);
    const caller = await verifier.verify(`Bearer ${await sign(rotated, { sub: 'after-rotation' })}`);
    assert.equal(caller.sub, 'after-rotation');
    assert.equal(fetches, fetchesAfterFirst + 1);
    await verifier.verify(`Bearer ${await sign(first, {})}`);
    assert.equal(fetches, fetchesAfterFirst + 1, 'a known kid is served from the cache');
  });

  it('does not refetch within the cooldown, so forged kids cannot hammer the identity provider', async () => {
    const first = await newKey('cool-1');
    served.push(first.jwk);
    const verifier = verifierFor({ jwksCooldownMs: 60_000 });
    await verifier.verify(`Bearer ${await sign(first, {})}`);
    const fetchesBefore = fetches;
    const unknown = await newKey('cool-unknown');
    await rejectsUnauthorized(verifier.verify(`Bearer ${await sign(unknown, {})}`), /no published signing key has kid "cool-unknown"/);
    assert.equal(fetches, fetchesBefore);
  });

  it('refuses a token signed by a key that is not published', async () => {
    const stranger = await newKey('rs-1'); // same kid as a published key, different key pair
    await rejectsUnauthorized(verifierFor().verify(`Bearer ${await sign(stranger, {})}`), /signature is invalid/);
  });

  it('refuses an HS256 token when only the JWKS is configured', async () => {
    await rejectsUnauthorized(
      verifierFor().verify(`Bearer ${await hs256({ exp: nowS() + 60 })}`),
      /HS256 tokens are not accepted.*identity provider/,
    );
  });

  it('refuses an expired JWKS token', async () => {
    const key = await newKey('exp-1');
    served.push(key.jwk);
    await rejectsUnauthorized(verifierFor().verify(`Bearer ${await sign(key, { exp: nowS() - 600 })}`), /token expired at/);
  });

  it('answers Unavailable, not Unauthorized, when the JWKS endpoint cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const key = await newKey('down-1');
    const verifier = createTokenVerifier({ ...BASE, jwksUrl: `http://127.0.0.1:${port}/jwks.json` });
    await assert.rejects(verifier.verify(`Bearer ${await sign(key, {})}`), (e: unknown) => {
      assert.ok(e instanceof Unavailable, `expected Unavailable, got ${String(e)}`);
      assert.match(e.message, /could not fetch signing keys/);
      return true;
    });
  });
});

describe('verifier configuration', () => {
  it('refuses to start with neither a secret nor a JWKS URL', () => {
    assert.throws(() => createTokenVerifier(BASE), /PROVISIONER_JWT_SECRET or PROVISIONER_JWKS_URL/);
  });

  it('refuses an empty secret and a JWKS URL that is not a URL', () => {
    assert.throws(() => createTokenVerifier({ ...BASE, hs256Secret: '' }), /empty/);
    assert.throws(() => createTokenVerifier({ ...BASE, jwksUrl: 'idp/jwks' }), /not a URL/);
  });
});

describe('token signing', () => {
  it('signs an HS256 token whose exp is iat plus the TTL', async () => {
    const token = await signToken(SECRET, { tenant_id: 't-1' }, '30m');
    const [header, payload] = token
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(new TextDecoder().decode(base64url.decode(part))) as JWTPayload);
    assert.equal(header.alg, 'HS256');
    assert.equal(Number(payload.exp) - Number(payload.iat), 1800);
  });

  it('parses TTLs in seconds, minutes, hours and days', () => {
    assert.equal(parseTtl('3600'), 3600);
    assert.equal(parseTtl('45s'), 45);
    assert.equal(parseTtl('30m'), 1800);
    assert.equal(parseTtl('1h'), 3600);
    assert.equal(parseTtl('7d'), 604_800);
  });

  it('refuses a TTL that is zero, negative, fractional or has an unknown unit, saying which forms work', () => {
    for (const bad of ['0', '0h', '-1h', '1.5h', '1y', 'h', '', 'soon']) {
      assert.throws(() => parseTtl(bad), /invalid TTL .*"30m", "1h", "7d"/, bad);
    }
  });
});
