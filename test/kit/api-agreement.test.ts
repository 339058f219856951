import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startApi, ADMIN, type ApiHarness } from '../support/api.js';

describe('README, OpenAPI and behaviour agree', () => {
  let api: ApiHarness;
  let doc: any;
  before(async () => {
    api = await startApi('sqlite');
    doc = (await api.call({ method: 'GET', url: '/openapi.json' })).json;
  });
  after(async () => {
    await api.close();
  });

  it('takes admin actions without a body (every field is optional): the answer is about the workflow, not a 422', async () => {
    for (const action of ['retry-step/create', 'force-complete', 'cancel']) {
      const r = await api.call({
        method: 'POST',
        url: `/api/v1/admin/provisioning/workflows/wf_01JAAAAAAAAAAAAAAAAAAAAAAA/${action}`,
        as: ADMIN,
      });
      assert.equal(r.status, 404, `${action}: ${r.body}`);
    }
  });

  it('counts a callback refused by validation (422) as rejected', async () => {
    const r = await api.call({ method: 'POST', url: '/api/v1/provisioning/callback', payload: { token: 'x', status: 'completed' } });
    assert.equal(r.status, 422);
    const text = await api.rt.metrics.registry.metrics();
    assert.match(text, /^provisioner_callbacks_total\{outcome="rejected"\} 1$/m);
  });

  it('documents no bearer-token answers (401/403) for the callback, which takes no token', () => {
    const responses = doc.paths['/api/v1/provisioning/callback'].post.responses;
    assert.equal(responses['401'], undefined);
    assert.equal(responses['403'], undefined);
    assert.ok(responses['410'] && responses['422']);
  });

  it('gives every operation a unique operationId, a summary and globally defined tags, and declares servers', () => {
    const ids = new Set<string>();
    const tags = new Set(doc.tags.map((t: { name: string }) => t.name));
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        assert.ok(op.operationId, `${method} ${path} has an operationId`);
        assert.ok(!ids.has(op.operationId), `${op.operationId} is unique`);
        ids.add(op.operationId);
        assert.ok(op.summary, `${method} ${path} has a summary`);
        for (const t of op.tags ?? []) assert.ok(tags.has(t), `tag ${t} is defined globally`);
      }
    }
    assert.ok(doc.servers.length > 0);
  });

  it('documents the register body as the manifest schema, JSON or YAML', () => {
    const content = doc.paths['/api/v1/registry/register'].put.requestBody.content;
    assert.equal(content['application/json'].schema.$ref, '#/components/schemas/ServiceManifest');
    assert.equal(content['application/yaml'].schema.$ref, '#/components/schemas/ServiceManifest');
    assert.ok(doc.components.schemas.ServiceManifest.properties.provision);
  });
});
