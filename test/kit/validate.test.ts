import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateFiles } from '../../src/cli/validate.js';
import { planFile } from '../../src/cli/plan.js';
import { changeLines } from '../../src/cli/workflows.js';
import { checkManifest } from '../../src/domain/manifest-check.js';
import { lintManifest } from '../../src/domain/manifest-lint.js';
import { ValidationFailed } from '../../src/domain/errors.js';
import type { WorkflowDetail } from '../../src/engine/workflow-queries.js';

const head = 'slug: s\nname: S\nversion: "1"\nbase_url: http://127.0.0.1:9\n';

describe('provisioner services validate and plan', () => {
  let dir: string;
  const file = async (name: string, text: string) => {
    const p = join(dir, name);
    await writeFile(p, text);
    return p;
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'validate-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reports every error at once with file:line and place: an unknown step type does not hide the next typo', async () => {
    const p = await file(
      'bad.yaml',
      `${head}provision:\n  - name: one\n    type: htp\n    requets: {path: /x}\n  - name: two\n    type: http\n    request: {path: /y, mehtod: POST}\n  - name: w\n    type: delay\n    delay: 5\n`,
    );
    const r = await validateFiles([p]);
    assert.equal(r.errors, 4, r.text);
    assert.match(r.text, /bad\.yaml:7:\d+ provision\[0\]\.type: .*unknown step type "htp"/);
    assert.match(r.text, /provision\[0\]\.requets: .*unknown field "requets"/);
    assert.match(r.text, /provision\[1\]\.request\.mehtod: .*unknown field "mehtod"/);
    assert.match(r.text, /provision\[2\]\.delay: .*must be an object with field seconds \(required\) \(got 5\)/);
  });

  it('passes a valid manifest and warns about a callback step that never sends its callback URL and token', async () => {
    const p = await file(
      'warn.yaml',
      `${head}provision:\n  - name: cb\n    type: callback\n    request: {path: /z, body: {url: "{{callback.url}}"}}\n`,
    );
    const r = await validateFiles([p]);
    assert.equal(r.errors, 0, r.text);
    assert.equal(r.warnings, 1);
    assert.match(r.text, /warning .*never sends \{\{callback\.token\}\}/);
  });

  it('names a YAML syntax error with its line', async () => {
    const r = await validateFiles([await file('syntax.yaml', 'slug: [unclosed\n')]);
    assert.equal(r.errors, 1);
    assert.match(r.text, /line \d+, column \d+: .*\]/);
  });

  it('plans each request as it would be sent, with parameters defaulted and step outputs as placeholders', async () => {
    const p = await file(
      'plan.yaml',
      `${head}parameters:\n  properties:\n    plan: {type: string, default: basic}\nprovision:\n  - name: a\n    type: http\n    request: {path: "/plans/{{parameters.plan}}", body: {t: "{{tenant.id}}"}}\n  - name: b\n    type: http\n    depends_on: [a]\n    request: {method: DELETE, path: "/x/{{steps.a.output.id}}"}\n`,
    );
    const text = await planFile(p, { tenant: 'acme', param: [], kind: 'provision', publicUrl: 'http://p' });
    assert.match(text, /1\. a \[http\] \(starts at once\)\n\s+POST http:\/\/127\.0\.0\.1:9\/plans\/basic/);
    assert.match(text, /2\. b \[http\] after a\n\s+DELETE http:\/\/127\.0\.0\.1:9\/x\/‹steps\.a\.output\.id›/);
    assert.match(text, /"t": "acme"/);
    await assert.rejects(
      planFile(p, { tenant: 'acme', param: ['plan={"$ne":null}'], kind: 'provision', publicUrl: 'http://p' }),
      ValidationFailed,
    );
  });
});

describe('manifest lint and parameter checks', () => {
  const base = { slug: 's', name: 'S', version: '1', base_url: 'http://127.0.0.1:9' };

  it("warns about a compensation reading a callback step's output field, and a delay nothing depends on", () => {
    const m = checkManifest({
      ...base,
      provision: [
        {
          name: 'cb',
          type: 'callback',
          request: { path: '/b', body: { u: '{{callback.url}}', t: '{{callback.token}}' } },
          compensate: { method: 'DELETE', path: '/b/{{steps.cb.output.id}}' },
        },
        { name: 'pause', type: 'delay', depends_on: ['cb'], delay: { seconds: 1 } },
      ],
    });
    const types = lintManifest(m)
      .map((w) => w.type)
      .sort();
    assert.deepEqual(types, ['output_maybe_missing', 'step_without_effect']);
  });

  it('refuses an object-typed parameter in a path and a default that breaks its own schema', () => {
    try {
      checkManifest({
        ...base,
        parameters: { properties: { tags: { type: 'object' }, n: { type: 'integer', default: 'x' } } },
        provision: [{ name: 'a', type: 'http', request: { path: '/a/{{parameters.tags}}' } }],
      });
      assert.fail('accepted');
    } catch (e) {
      assert.ok(e instanceof ValidationFailed);
      const types = e.issues.map((i) => i.type).sort();
      assert.deepEqual(types, ['parameters_schema']);
    }
    assert.throws(
      () =>
        checkManifest({
          ...base,
          parameters: { properties: { tags: { type: 'object' } } },
          provision: [{ name: 'a', type: 'http', request: { path: '/a/{{parameters.tags}}' } }],
        }),
      (e: unknown) => e instanceof ValidationFailed && e.issues[0].type === 'template_not_scalar',
    );
  });
});

describe('workflows watch off a terminal', () => {
  const detail = (status: string, steps: [string, string][]): WorkflowDetail =>
    ({
      id: 'wf_1',
      kind: 'provision',
      service_slug: 'files',
      tenant_id: 't',
      status,
      steps: steps.map(([name, s]) => ({ name, status: s, attempt: 1, error: null, waiting_reason: null })),
    }) as unknown as WorkflowDetail;

  it('prints one line per change and nothing while nothing changes', () => {
    const a = detail('running', [
      ['x', 'running'],
      ['y', 'pending'],
    ]);
    assert.equal(changeLines(null, a, 'T').length, 3);
    assert.deepEqual(changeLines(a, a, 'T'), []);
    const b = detail('running', [
      ['x', 'completed'],
      ['y', 'pending'],
    ]);
    assert.deepEqual(changeLines(a, b, 'T'), ['T   x: running → completed']);
  });
});

describe('the published manifest JSON Schema', () => {
  it('accepts the example manifest and catches a typo, as an editor would', async () => {
    const { Ajv } = await import('ajv');
    const { readFile } = await import('node:fs/promises');
    const { parse } = await import('yaml');
    const { manifestJsonSchema } = await import('../../src/domain/manifest-schema.js');
    const validate = new Ajv({ strict: false, allErrors: true }).compile(manifestJsonSchema('http://x/schema.json'));
    const example = parse(await readFile(new URL('../../examples/services/files.yaml', import.meta.url), 'utf8'));
    assert.equal(validate(example), true, JSON.stringify(validate.errors));
    assert.equal(validate({ ...example, provision: [{ ...example.provision[0], requets: {} }] }), false);
  });
});

describe('applyParameters', () => {
  it('checks formats (email) and names the field', async () => {
    const { applyParameters } = await import('../../src/domain/parameters.js');
    const spec = { properties: { owner: { type: 'string', format: 'email' } } };
    assert.deepEqual(applyParameters(spec, { owner: 'a@b.example' }), { owner: 'a@b.example' });
    assert.throws(
      () => applyParameters(spec, { owner: 'nope' }),
      (e: unknown) =>
        e instanceof ValidationFailed && e.issues[0].loc.join('.') === 'body.parameters.owner' && e.issues[0].type === 'format',
    );
  });
});

describe('the provisioner binary', () => {
  const bin = new URL('../../bin/provisioner.js', import.meta.url).pathname;
  const runBin = async (args: string[]) => {
    const { spawnSync } = await import('node:child_process');
    return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
  };

  it('exits non-zero when a manifest has errors, listing them', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const d = await mkdtemp(join(tmpdir(), 'validate-bin-'));
    await writeFile(join(d, 'bad.yaml'), `${head}provision:\n  - name: a\n    type: http\n`);
    const r = await runBin(['services', 'validate', join(d, 'bad.yaml')]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /provision\[0\]\.request: .*needs "request"/);
    await rm(d, { recursive: true, force: true });
  });

  it("lists only its own options in a command's help, and rejects an invalid option value with the valid ones", async () => {
    const help = await runBin(['services', 'apply', '--help']);
    assert.match(help.stdout, /--database-url/);
    assert.doesNotMatch(help.stdout, /--port|--role|--concurrency/);
    const bad = await runBin(['workflows', 'list', '--status', 'held']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /Allowed choices are pending, running, completed/);
  });
});
