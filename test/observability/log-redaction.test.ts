import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/runtime.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { log: createLogger('info', stream), text: () => lines.join('') };
}

describe('log redaction', () => {
  it('redacts credentials, tokens, secrets and auth headers at the top level and up to two levels down', () => {
    const { log, text } = capture();
    log.info({ credentials: { password: 'P1-leak' }, token: 'T1-leak' }, 'top level');
    log.info({ report: { credentials: { password: 'P2-leak' }, callback_token: 'cbt_T2-leak' } }, 'one level down');
    log.info({ data: { subscription: { secret: 'S3-leak' }, report: { credentials: { key: 'P3-leak' } } } }, 'two levels down');
    log
      .child({ workflow_id: 'wf_1' })
      .info({ req: { headers: { authorization: 'Bearer A4-leak', cookie: 'session=C4-leak' } } }, 'request');
    const out = text();
    assert.doesNotMatch(out, /-leak/);
    assert.match(out, /\[redacted\]/);
    assert.match(out, /"workflow_id":"wf_1"/, 'context fields stay');
    assert.equal(out.trim().split('\n').length, 4);
  });
});
