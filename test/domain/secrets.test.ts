import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isSecretKey, redactSecrets, splitSecrets } from '../../src/domain/secrets.js';
import type { Json } from '../../src/domain/json.js';

/** Issue 11 finding 5: one recursive rule, at any depth, and nothing is lost. */
describe('the secret rule', () => {
  it('names a key a secret when it contains password, secret, token, api key, private key or credentials, in any case', () => {
    const table: [string, boolean][] = [
      ['password', true],
      ['DB_PASSWORD', true],
      ['passwd', true],
      ['secret', true],
      ['client_secret', true],
      ['token', true],
      ['access_token', true],
      ['refreshToken', true],
      ['api_key', true],
      ['apiKey', true],
      ['API-KEY', true],
      ['apikey', true],
      ['private_key', true],
      ['privateKey', true],
      ['credentials', true],
      ['Credential', true],
      ['authorization', true],
      ['host', false],
      ['port', false],
      ['username', false],
      ['endpoint', false],
      ['keys', false],
      ['id', false],
      ['public_key', false],
    ];
    for (const [key, secret] of table) assert.equal(isSecretKey(key), secret, key);
  });

  it('lifts secrets at every depth out of an output and keeps them under their paths', () => {
    const table: { output: Json; kept: Json; credentials: Json }[] = [
      { output: { id: 'a1', credentials: { user: 'u', pass: 'p' } }, kept: { id: 'a1' }, credentials: { user: 'u', pass: 'p' } },
      { output: { id: 'a1', password: 'pw' }, kept: { id: 'a1' }, credentials: { password: 'pw' } },
      {
        output: { db: { host: 'h', Password: 'pw', nested: { api_key: 'k' } } },
        kept: { db: { host: 'h', nested: {} } },
        credentials: { 'db.Password': 'pw', 'db.nested.api_key': 'k' },
      },
      {
        output: { nodes: [{ name: 'n0', token: 't0' }, { name: 'n1' }] },
        kept: { nodes: [{ name: 'n0' }, { name: 'n1' }] },
        credentials: { 'nodes.0.token': 't0' },
      },
      { output: { account: { credentials: { user: 'u' } } }, kept: { account: {} }, credentials: { 'account.credentials': { user: 'u' } } },
      { output: { secret: { a: 1 }, private_key: '-----BEGIN' }, kept: {}, credentials: { secret: { a: 1 }, private_key: '-----BEGIN' } },
      { output: { id: 'x', token: null }, kept: { id: 'x' }, credentials: null },
      { output: { id: 'x' }, kept: { id: 'x' }, credentials: null },
      { output: [{ apiKey: 'k' }], kept: [{}], credentials: { '0.apiKey': 'k' } },
      { output: 'plain text', kept: 'plain text', credentials: null },
      { output: null, kept: null, credentials: null },
    ];
    for (const { output, kept, credentials } of table) {
      const r = splitSecrets(output);
      assert.deepEqual(r.output, kept, JSON.stringify(output));
      assert.deepEqual(r.credentials, credentials, JSON.stringify(output));
    }
  });

  it('redacts by the same rule, at any depth, leaving non-plain objects alone', () => {
    const err = new Error('x');
    assert.deepEqual(redactSecrets({ a: { b: [{ token: 't', ok: 1 }] }, client_secret: 's', err }), {
      a: { b: [{ token: '[redacted]', ok: 1 }] },
      client_secret: '[redacted]',
      err,
    });
    const clean = { a: 1, b: { c: 2 } };
    assert.equal(redactSecrets(clean), clean, 'an object without secrets is returned as is');
  });
});
