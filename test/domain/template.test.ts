import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseTemplate,
  renderRequestPath,
  renderTemplate,
  TemplateError,
  templateRefs,
  type TemplateScope,
} from '../../src/domain/template.js';
import type { Json } from '../../src/domain/json.js';

const scope: TemplateScope = {
  tenant: { id: 'ten_1' },
  workflow: { id: 'wf_1', kind: 'provision' },
  service: { slug: 'files', version: '1.0.0', base_url: 'http://127.0.0.1:9100' },
  parameters: { size: 10, tags: ['a', 'b'], enabled: true, note: null, region: 'eu' },
  steps: { create_account: { output: { id: 'acc_1', limits: { gb: 5 }, items: [{ id: 'i0' }, { id: 'i1' }] } } },
  callback: { url: 'http://p/cb', token: 'tok' },
};

describe('renderTemplate', () => {
  it('keeps the JSON type of a value that is exactly one template', () => {
    assert.equal(renderTemplate('{{parameters.size}}', scope), 10);
    assert.equal(renderTemplate('{{parameters.enabled}}', scope), true);
    assert.equal(renderTemplate('{{parameters.note}}', scope), null);
    assert.deepEqual(renderTemplate('{{steps.create_account.output.limits}}', scope), { gb: 5 });
  });

  it('interpolates into surrounding text, objects as JSON and null as empty', () => {
    assert.equal(renderTemplate('acct-{{steps.create_account.output.id}}-{{parameters.size}}', scope), 'acct-acc_1-10');
    assert.equal(renderTemplate('tags={{parameters.tags}}', scope), 'tags=["a","b"]');
    assert.equal(renderTemplate('note:{{parameters.note}}.', scope), 'note:.');
  });

  it('allows whitespace inside the braces', () => {
    assert.equal(renderTemplate('{{  tenant.id }}', scope), 'ten_1');
  });

  it('renders strings inside objects and arrays but leaves keys and non-strings alone', () => {
    const out = renderTemplate({ '{{tenant.id}}': ['{{workflow.id}}', 3, { deep: '{{service.slug}}' }], n: null }, scope);
    assert.deepEqual(out, { '{{tenant.id}}': ['wf_1', 3, { deep: 'files' }], n: null });
  });

  it('indexes arrays with numeric segments', () => {
    assert.equal(renderTemplate('{{steps.create_account.output.items.1.id}}', scope), 'i1');
  });

  it('throws a TemplateError naming the missing key and where it was looked for', () => {
    const scopeWithout = { ...scope, steps: { create_account: { output: { name: 'x' } } } };
    assert.throws(
      () => renderTemplate({ a: '{{steps.create_account.output.id}}' }, scopeWithout),
      (e: unknown) => {
        assert.ok(e instanceof TemplateError);
        assert.equal(e.message, 'template {{steps.create_account.output.id}}: "id" is missing in steps.create_account.output');
        assert.equal(e.path, 'steps.create_account.output.id');
        return true;
      },
    );
  });

  it('does not resolve inherited properties such as constructor', () => {
    assert.throws(() => renderTemplate('{{parameters.constructor}}', scope), /"constructor" is missing in parameters/);
  });

  it('refuses to descend into a scalar', () => {
    assert.throws(() => renderTemplate('{{tenant.id.x}}', scope), /tenant\.id is a string, so it has no "x"/);
  });

  it('fails on a callback reference when the scope has no callback', () => {
    const { callback: _, ...noCallback } = scope;
    assert.throws(() => renderTemplate('{{callback.token}}', noCallback), /"callback" is missing in the template scope/);
  });
});

describe('templateRefs and parseTemplate', () => {
  it('lists every referenced path, trimmed, in order', () => {
    const refs = templateRefs({ a: 'x {{ tenant.id }} {{parameters.size}}', b: ['{{steps.s.output}}'], c: 1 });
    assert.deepEqual(refs, ['tenant.id', 'parameters.size', 'steps.s.output']);
  });

  it('refuses an unclosed template', () => {
    assert.throws(() => parseTemplate('/x/{{steps.a.output.id'), /"\{\{" is not closed/);
  });

  it('refuses a path with an empty or odd segment', () => {
    assert.throws(() => parseTemplate('{{steps..id}}'), TemplateError);
    assert.throws(() => parseTemplate('{{ }}'), TemplateError);
    assert.throws(() => parseTemplate('{{a b}}'), TemplateError);
  });
});

describe('renderRequestPath', () => {
  const withId = (id: Json): TemplateScope => ({ ...scope, parameters: { id } });

  it('URL-encodes interpolated values so they cannot add segments, a query or a fragment', () => {
    assert.equal(renderRequestPath('/accounts/{{parameters.id}}', withId('a/b?c=1#d')), '/accounts/a%2Fb%3Fc%3D1%23d');
  });

  it('cannot change the host', () => {
    const path = renderRequestPath('/{{parameters.id}}', withId('/evil.example/x'));
    assert.equal(new URL(path, 'http://svc.internal').host, 'svc.internal');
  });

  it('refuses a value that would become a dot segment', () => {
    assert.throws(() => renderRequestPath('/accounts/{{parameters.id}}', withId('..')), /"\.\." path segment/);
    assert.throws(() => renderRequestPath('/accounts/{{parameters.id}}/x', withId('.')), TemplateError);
    assert.throws(() => renderRequestPath('/accounts/{{parameters.id}}.', withId('.')), TemplateError);
  });

  it('keeps dots that stay inside a segment and literal dot segments of the template itself', () => {
    assert.equal(renderRequestPath('/files/{{parameters.id}}', withId('report.v2.json')), '/files/report.v2.json');
    assert.equal(renderRequestPath('/a/../{{parameters.id}}', withId('x')), '/a/../x');
  });

  it('refuses an empty value, which would leave an empty segment', () => {
    assert.throws(() => renderRequestPath('/accounts/{{parameters.id}}', withId('')), /the value is empty/);
  });

  it('refuses objects and null, and renders numbers', () => {
    assert.throws(() => renderRequestPath('/a/{{parameters.id}}', withId({ x: 1 })), /expected a string or number, got an object/);
    assert.throws(() => renderRequestPath('/a/{{parameters.id}}', withId(null)), /got null/);
    assert.equal(renderRequestPath('/a/{{parameters.id}}', withId(42)), '/a/42');
  });
});
