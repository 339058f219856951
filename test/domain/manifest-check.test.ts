import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationFailed, type ValidationIssue } from '../../src/domain/errors.js';
import { checkManifest } from '../../src/domain/manifest-check.js';

type Obj = Record<string, unknown>;

function manifest(provision: unknown[], extra: Obj = {}): Obj {
  return { slug: 'files', name: 'Files', version: '1.0.0', base_url: 'http://127.0.0.1:9100', provision, ...extra };
}

const http = (name: string, more: Obj = {}): Obj => ({ name, type: 'http', request: { path: `/${name}` }, ...more });

function issuesOf(input: unknown): ValidationIssue[] {
  try {
    checkManifest(input);
  } catch (e) {
    assert.ok(e instanceof ValidationFailed, `expected ValidationFailed, got ${String(e)}`);
    return e.issues;
  }
  assert.fail('the manifest was accepted');
}

/** The one issue of `type`, asserting its loc and that its message contains each of `words`. */
function theIssue(input: unknown, type: string, loc: (string | number)[], ...words: string[]): ValidationIssue {
  const issues = issuesOf(input);
  const found = issues.filter((i) => i.type === type);
  assert.equal(found.length, 1, `one ${type} issue expected in ${JSON.stringify(issues, null, 1)}`);
  assert.deepEqual(found[0].loc, loc);
  for (const w of words) assert.ok(found[0].msg.includes(w), `"${found[0].msg}" should mention ${w}`);
  return found[0];
}

describe('checkManifest: normalizing', () => {
  it('accepts the documented example and fills defaults without merging retry', () => {
    const input = manifest([
      http('create_account', {
        request: { path: '/accounts', body: { tenant: '{{tenant.id}}' } },
        retry: { max_attempts: 5 },
        compensate: { method: 'DELETE', path: '/accounts/{{steps.create_account.output.id}}' },
      }),
      {
        name: 'create_bucket',
        type: 'callback',
        depends_on: ['create_account'],
        request: {
          path: '/buckets',
          body: { account: '{{steps.create_account.output.id}}', url: '{{callback.url}}', token: '{{callback.token}}' },
        },
        wait: { timeout_s: 600 },
      },
      { name: 'build_index', type: 'poll', depends_on: ['create_account'], request: { path: '/indexes' } },
      { name: 'settle', type: 'delay', depends_on: ['create_bucket', 'build_index'], delay: { seconds: 2 } },
    ]);
    const m = checkManifest(input);
    assert.equal(m.on_failure, 'rollback');
    const [account, bucket, index, settle] = m.provision;
    assert.deepEqual(account.depends_on, []);
    assert.equal(account.timeout_s, 30);
    assert.deepEqual(account.retry, { max_attempts: 5 });
    assert.ok(account.type === 'http' && account.request.method === 'POST' && account.compensate?.method === 'DELETE');
    assert.ok(bucket.type === 'callback');
    assert.deepEqual(bucket.wait, { timeout_s: 600, heartbeat_s: 600 });
    assert.ok(index.type === 'poll');
    assert.deepEqual(index.poll, { interval_s: 5, timeout_s: 1800 });
    assert.deepEqual(settle.depends_on, ['create_bucket', 'build_index']);
  });

  it('gives a callback step without request or wait the default wait', () => {
    const m = checkManifest(manifest([{ name: 'await_signup', type: 'callback' }], { on_failure: 'hold' }));
    const [step] = m.provision;
    assert.ok(step.type === 'callback');
    assert.deepEqual(step.wait, { timeout_s: 3600, heartbeat_s: 3600 });
    assert.equal(m.on_failure, 'hold');
  });

  it('does not change its input', () => {
    const input = manifest([http('a')]);
    const before = structuredClone(input);
    checkManifest(input);
    assert.deepEqual(input, before);
  });
});

describe('checkManifest: manifest fields', () => {
  it('refuses something that is not an object', () => {
    assert.deepEqual(
      issuesOf('slug: files').map((i) => i.type),
      ['model_type'],
    );
  });

  it('lists every issue at once', () => {
    const issues = issuesOf({ slug: 'Files!', base_url: 'ftp://x', provision: [http('a', { depends_on: ['nope'] })] });
    assert.deepEqual(
      issues.map((i) => i.loc.join('.')),
      ['slug', 'name', 'version', 'base_url', 'provision.0.depends_on.0'],
    );
  });

  it('lets one step per section declare the service endpoint, and refuses a second', () => {
    assert.doesNotThrow(() => checkManifest(manifest([http('a', { endpoint: true }), http('b')])));
    theIssue(
      manifest([http('a', { endpoint: true }), http('b', { endpoint: true })]),
      'duplicate_endpoint',
      ['provision', 1, 'endpoint'],
      'already does',
    );
  });

  it('refuses an unknown top-level field, listing the known ones', () => {
    theIssue(manifest([http('a')], { deprovison: [] }), 'extra_forbidden', ['deprovison'], 'unknown field "deprovison"', '"deprovision"');
  });

  it('refuses a bad slug and an on_failure outside rollback and hold', () => {
    theIssue(manifest([http('a')], { slug: '-files' }), 'string_pattern_mismatch', ['slug'], 'slug must be lowercase');
    theIssue(manifest([http('a')], { on_failure: 'retry' }), 'enum', ['on_failure'], 'rollback, hold');
  });

  it('tells a YAML author to quote a numeric version', () => {
    theIssue(manifest([http('a')], { version: 1.2 }), 'string_type', ['version'], 'must be a string', 'quote it');
  });

  for (const [url, why] of [
    ['not a url', 'is not an absolute URL'],
    ['/relative', 'is not an absolute URL'],
    ['ftp://files.internal', 'uses ftp'],
    ['http://user:pw@files.internal', 'credentials'],
    ['http://files.internal/?a=1', 'query'],
    ['http://files.internal/#top', 'fragment'],
  ]) {
    it(`refuses base_url ${url} because it ${why}`, () => {
      theIssue(manifest([http('a')], { base_url: url }), 'invalid_base_url', ['base_url'], why);
    });
  }

  it('refuses a provision that is not a list, is empty, or has more than 100 steps', () => {
    theIssue(manifest([], { provision: { a: 1 } }), 'list_type', ['provision'], 'list of steps');
    theIssue(manifest([]), 'too_short', ['provision'], 'at least one step');
    const many = Array.from({ length: 101 }, (_, i) => http(`s${i}`));
    theIssue(manifest(many), 'too_long', ['provision'], 'at most 100');
  });

  it('refuses a step that is not an object', () => {
    theIssue(manifest([http('a'), 'b']), 'dict_type', ['provision', 1], 'provision[1]');
  });
});

describe('checkManifest: step fields', () => {
  it('refuses an unknown step type, naming the step and the known types', () => {
    const i = theIssue(manifest([{ name: 'make', type: 'shell' }]), 'unknown_step_type', ['provision', 0, 'type']);
    assert.equal(i.msg, 'step "make" has unknown step type "shell"; expected one of http, callback, poll, delay');
  });

  it('refuses a step without a type', () => {
    theIssue(manifest([{ name: 'make' }]), 'missing', ['provision', 0, 'type'], 'step "make" has no type');
  });

  it('refuses a field of another step type, talking about the fields of this type', () => {
    const i = theIssue(manifest([http('a', { wait: { timeout_s: 5 } })]), 'extra_forbidden', ['provision', 0, 'wait']);
    assert.match(i.msg, /^step "a": unknown field "wait" for a step of type "http"; expected one of "name", "type",.*"request"$/);
  });

  it('refuses a typo inside the request', () => {
    theIssue(
      manifest([http('a', { request: { path: '/a', methd: 'GET' } })]),
      'extra_forbidden',
      ['provision', 0, 'request', 'methd'],
      'step "a"',
      'in request',
    );
  });

  it('requires a request for http and poll steps', () => {
    theIssue(manifest([{ name: 'a', type: 'http' }]), 'missing', ['provision', 0, 'request'], 'step "a"', '"http" needs "request"');
    theIssue(manifest([{ name: 'p', type: 'poll' }]), 'missing', ['provision', 0, 'request'], 'step "p"', '"poll" needs "request"');
  });

  it('requires delay.seconds between 0 and 30 days', () => {
    theIssue(manifest([{ name: 'd', type: 'delay', delay: {} }]), 'missing', ['provision', 0, 'delay', 'seconds'], 'step "d"');
    theIssue(
      manifest([{ name: 'd', type: 'delay', delay: { seconds: 31 * 86400 } }]),
      'less_than_equal',
      ['provision', 0, 'delay', 'seconds'],
      'step "d"',
      'at most 2592000',
    );
  });

  it('refuses a step name that is not lowercase snake case', () => {
    theIssue(
      manifest([http('a', { name: 'Create-Account' })]),
      'string_pattern_mismatch',
      ['provision', 0, 'name'],
      'step "Create-Account"',
      'lowercase letters',
    );
  });

  it('refuses a path that does not start with a single slash', () => {
    theIssue(
      manifest([http('a', { request: { path: 'accounts' } })]),
      'string_pattern_mismatch',
      ['provision', 0, 'request', 'path'],
      'step "a"',
      'request.path',
    );
    theIssue(
      manifest([http('a', { request: { path: '//evil.example/x' } })]),
      'string_pattern_mismatch',
      ['provision', 0, 'request', 'path'],
      'single "/"',
    );
  });

  it('refuses an unknown method, a non-string query value and out-of-range numbers', () => {
    const step = http('a', {
      request: { method: 'FETCH', path: '/a', query: { n: 1 } },
      timeout_s: 601,
      retry: { max_attempts: 0, backoff: 0.5 },
    });
    const issues = issuesOf(manifest([step]));
    assert.deepEqual(
      issues.map((i) => [i.loc.join('.'), i.type]),
      [
        ['provision.0.retry.max_attempts', 'greater_than_equal'],
        ['provision.0.retry.backoff', 'greater_than_equal'],
        ['provision.0.timeout_s', 'less_than_equal'],
        ['provision.0.request.method', 'enum'],
        ['provision.0.request.query.n', 'string_type'],
      ],
    );
    assert.ok(issues.every((i) => i.msg.startsWith('step "a": ')));
  });

  it('refuses a body that JSON cannot carry', () => {
    theIssue(
      manifest([http('a', { request: { path: '/a', body: { at: new Date(0) } } })]),
      'json_invalid',
      ['provision', 0, 'request', 'body', 'at'],
      'step "a"',
      'a Date',
    );
  });
});

describe('checkManifest: dependencies', () => {
  it('refuses a duplicate step name, naming the step and its first place', () => {
    theIssue(
      manifest([http('a'), http('b'), http('a')]),
      'duplicate_step',
      ['provision', 2, 'name'],
      'step "a" is defined twice',
      'provision[0]',
    );
  });

  it('refuses a dependency on an unknown step', () => {
    const i = theIssue(manifest([http('create_bucket', { depends_on: ['nope'] })]), 'unknown_dependency', [
      'provision',
      0,
      'depends_on',
      0,
    ]);
    assert.equal(i.msg, 'step "create_bucket" depends on unknown step "nope"');
  });

  it('refuses a self-dependency', () => {
    theIssue(
      manifest([http('a'), http('b', { depends_on: ['a', 'b'] })]),
      'self_dependency',
      ['provision', 1, 'depends_on', 1],
      'step "b" depends on itself',
    );
  });

  it('refuses a dependency listed twice', () => {
    theIssue(
      manifest([http('a'), http('b', { depends_on: ['a', 'a'] })]),
      'duplicate_dependency',
      ['provision', 1, 'depends_on', 1],
      'step "b"',
    );
  });

  it('refuses a cycle, naming its steps in order', () => {
    const steps = [http('a', { depends_on: ['c'] }), http('b', { depends_on: ['a'] }), http('c', { depends_on: ['b'] })];
    theIssue(manifest(steps), 'dependency_cycle', ['provision', 0, 'depends_on', 0], 'step "a"', 'a → c → b → a');
  });

  it('reports each independent cycle', () => {
    const steps = [
      http('a', { depends_on: ['b'] }),
      http('b', { depends_on: ['a'] }),
      http('c', { depends_on: ['d'] }),
      http('d', { depends_on: ['c'] }),
    ];
    assert.equal(issuesOf(manifest(steps)).filter((i) => i.type === 'dependency_cycle').length, 2);
  });
});

describe('checkManifest: templates', () => {
  const body = (s: string) => ({ request: { path: '/x', body: { v: s } } });

  it('refuses a template that references a step that is not an ancestor, naming the step', () => {
    const steps = [http('a'), http('b', body('{{steps.a.output.id}}'))];
    const i = theIssue(
      manifest(steps),
      'template_not_ancestor',
      ['provision', 1, 'request', 'body', 'v'],
      'step "b"',
      '"a" is not among its dependencies',
    );
    assert.match(i.msg, /add "a" to depends_on/);
  });

  it('accepts a reference to a transitive ancestor', () => {
    checkManifest(
      manifest([http('a'), http('b', { depends_on: ['a'] }), http('c', { depends_on: ['b'], ...body('{{steps.a.output.id}}') })]),
    );
  });

  it("lets a compensation, but not the request, use the step's own output", () => {
    checkManifest(manifest([http('a', { compensate: { method: 'DELETE', path: '/a/{{steps.a.output.id}}' } })]));
    theIssue(
      manifest([http('a', body('{{steps.a.output.id}}'))]),
      'template_not_ancestor',
      ['provision', 0, 'request', 'body', 'v'],
      'step "a"',
      'only in its compensate',
    );
  });

  it('refuses a reference to a step that does not exist', () => {
    theIssue(
      manifest([http('a', body('{{steps.nope.output.id}}'))]),
      'template_unknown_step',
      ['provision', 0, 'request', 'body', 'v'],
      'step "a"',
      'no step "nope"',
    );
  });

  it('refuses a step reference without .output', () => {
    theIssue(
      manifest([http('a'), http('b', { depends_on: ['a'], ...body('{{steps.a.id}}') })]),
      'template_path',
      ['provision', 1, 'request', 'body', 'v'],
      'step "b"',
      'steps.<name>.output',
    );
  });

  it('refuses an unknown template root, listing the known ones', () => {
    theIssue(
      manifest([http('a', body('{{secrets.key}}'))]),
      'unknown_template_root',
      ['provision', 0, 'request', 'body', 'v'],
      'step "a"',
      'unknown template root "secrets"',
      'tenant, workflow',
    );
  });

  it('refuses an unknown field of a fixed scope root', () => {
    theIssue(
      manifest([http('a', body('{{tenant.name}}'))]),
      'template_unknown_field',
      ['provision', 0, 'request', 'body', 'v'],
      'step "a"',
      'tenant has only id',
    );
  });

  it("refuses callback.* outside a callback step, and in a callback step's compensation", () => {
    theIssue(
      manifest([http('a', { request: { path: '/x', headers: { 'x-cb': '{{callback.url}}' } } })]),
      'callback_outside_callback_step',
      ['provision', 0, 'request', 'headers', 'x-cb'],
      'step "a"',
      'only a callback step',
    );
    theIssue(
      manifest([{ name: 'cb', type: 'callback', compensate: { path: '/t/{{callback.token}}' } }]),
      'callback_outside_callback_step',
      ['provision', 0, 'compensate', 'path'],
      'step "cb"',
      'not its compensate',
    );
  });

  it('checks templates in query values and the poll path too', () => {
    theIssue(
      manifest([http('a', { request: { path: '/x', query: { q: '{{steps.z.output}}' } } })]),
      'template_unknown_step',
      ['provision', 0, 'request', 'query', 'q'],
      'step "a"',
    );
    theIssue(
      manifest([{ name: 'p', type: 'poll', request: { path: '/x' }, poll: { path: '/ops/{{nope.id}}' } }]),
      'unknown_template_root',
      ['provision', 0, 'poll', 'path'],
      'step "p"',
    );
  });

  it('refuses a malformed template', () => {
    theIssue(
      manifest([http('a', body('{{tenant.id'))]),
      'template_syntax',
      ['provision', 0, 'request', 'body', 'v'],
      'step "a"',
      'not closed',
    );
    theIssue(
      manifest([http('a', body('{{ tenant..id }}'))]),
      'template_syntax',
      ['provision', 0, 'request', 'body', 'v'],
      'step "a"',
      'dotted path',
    );
  });

  it('refuses provision.* in a provision step', () => {
    theIssue(
      manifest([http('a', body('{{provision.steps.a.output}}'))]),
      'unknown_template_root',
      ['provision', 0, 'request', 'body', 'v'],
      'step "a"',
      'only available in deprovision steps',
    );
  });
});

describe('checkManifest: deprovision', () => {
  const provision = [http('create_account')];

  it('accepts provision.steps references and ancestors within the deprovision list', () => {
    const deprovision = [
      http('drain', { request: { path: '/accounts/{{provision.steps.create_account.output.id}}/drain' } }),
      http('close', { depends_on: ['drain'], request: { path: '/x', body: { ticket: '{{steps.drain.output.ticket}}' } } }),
    ];
    const m = checkManifest(manifest(provision, { deprovision }));
    assert.deepEqual(
      m.deprovision?.map((s) => s.depends_on),
      [[], ['drain']],
    );
  });

  it('refuses a provision.steps reference to an unknown provision step', () => {
    const deprovision = [http('drop', { request: { path: '/a/{{provision.steps.nope.output.id}}' } })];
    theIssue(
      manifest(provision, { deprovision }),
      'template_unknown_step',
      ['deprovision', 0, 'request', 'path'],
      'step "drop"',
      'no provision step "nope"',
    );
  });

  it('points a steps.* reference to a provision step at provision.steps', () => {
    const deprovision = [http('drop', { request: { path: '/a/{{steps.create_account.output.id}}' } })];
    theIssue(
      manifest(provision, { deprovision }),
      'template_unknown_step',
      ['deprovision', 0, 'request', 'path'],
      'step "drop"',
      'provision.steps.create_account.output',
    );
  });

  it('resolves depends_on within the deprovision list only', () => {
    const deprovision = [http('drop', { depends_on: ['create_account'] })];
    theIssue(
      manifest(provision, { deprovision }),
      'unknown_dependency',
      ['deprovision', 0, 'depends_on', 0],
      'step "drop" depends on unknown step "create_account"',
    );
  });

  it('refuses a template to a deprovision step that is not an ancestor', () => {
    const deprovision = [http('a'), http('b', { request: { path: '/b/{{steps.a.output.id}}' } })];
    theIssue(manifest(provision, { deprovision }), 'template_not_ancestor', ['deprovision', 1, 'request', 'path'], 'step "b"');
  });
});
