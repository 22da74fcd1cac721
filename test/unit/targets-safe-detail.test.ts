// A target that echoes the request in its error `detail` must not leak the password in any encoding (issue 13 #1):
// the detail of a password write is journaled (3003) and stored unsealed (last_error), so it is kept only when
// proven free of the password in every form a server may echo it in.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RejectedChangeError } from '../../src/errors.js';
import { classifyFailure, encodingsOf, safeDetail, WITHHELD_DETAIL } from '../../src/targets/classify.js';
import { passwordPatch } from '../../src/targets/scim-messages.js';

const PASSWORDS = ['Quote"Back\\slash-9x', 'Pass word/+&=?ü€😀-1', `It's<b>&"x"</b>\\n`, 'plain-Password-77'];

/** How a server may echo the body it received. */
function echoes(password: string): string[] {
  const body = JSON.stringify(passwordPatch(password));
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  return [
    `bad request: ${body}`, // raw JSON (password JSON-escaped)
    `bad value ${password}`, // decoded
    `value=${encodeURIComponent(password)}`, // URL-encoded
    `value=${encodeURIComponent(password).replace(/%20/g, '+')}`, // form-encoded
    `body(b64)=${b64(body)}`, // base64 of the whole body (password at any offset)
    `body(b64)=${b64('x' + body)}`,
    `body(b64)=${b64('xy' + body)}`,
    `value(b64)=${b64(password)}`,
    `hex ${Buffer.from(password, 'utf8').toString('hex').toUpperCase()}`,
    `quoted twice: ${JSON.stringify(body)}`,
    `ascii json: ${body.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}`,
    `html <pre>${password.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')}</pre>`,
    `truncated: ${password.slice(0, 9)}`,
  ];
}

const scimError = (detail: string) => JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '400', scimType: 'invalidValue', detail });

describe('safeDetail: a detail echoing the password in any encoding is withheld', () => {
  for (const password of PASSWORDS) {
    for (const [i, detail] of echoes(password).entries()) {
      it(`${JSON.stringify(password)} echo #${i}`, () => {
        const e = classifyFailure({ kind: 'response', status: 400, headers: {}, body: scimError(detail) }, { target: 'iij', purpose: 'write-password', secrets: ['tok-SECRET-abcdef', password] });
        assert.ok(e instanceof RejectedChangeError);
        for (const text of [e.message, e.detail ?? '']) {
          for (const form of encodingsOf(password)) assert.ok(!text.includes(form), `${JSON.stringify(form)} in ${text}`);
          assert.ok(!text.includes(password.slice(0, 9)));
        }
        assert.equal(e.detail, WITHHELD_DETAIL);
      });
    }
  }

  it('keeps an ordinary policy message', () => {
    const text = 'Password does not meet the policy: at least 12 characters, 3 character classes';
    assert.equal(safeDetail(text, ['tok-SECRET-abcdef', 'Quote"Back\\slash-9x'], true), text);
    const e = classifyFailure({ kind: 'response', status: 400, headers: {}, body: scimError(text) }, { target: 'iij', purpose: 'write-password', secrets: ['Quote"Back\\slash-9x'] });
    assert.ok(e instanceof RejectedChangeError);
    assert.equal(e.detail, text);
  });

  it('withholds a long opaque run after a password write (an encoding we do not know), but not a user id', () => {
    assert.equal(safeDetail('blob 9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddcc', ['unrelated-secret'], true), WITHHELD_DETAIL);
    const withId = 'user 2b7e1516-28ae-4d2a-a6f7-15880912cf4f is locked';
    assert.equal(safeDetail(withId, ['unrelated-secret'], true), withId);
  });
});
