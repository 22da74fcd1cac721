// Unit tests of target outcome classification: one test per row of the table in docs/targets.md.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NotProvisionedError, RejectedChangeError, RetryableError, TargetFaultError, TargetUnusableError } from '../../src/errors.js';
import {
  classifyFailure,
  DEFAULT_RETRY_AFTER_MS,
  MAX_RETRY_AFTER_MS,
  parseRetryAfter,
  parseScimError,
  scrub,
  type ClassifyContext,
  type HttpOutcome,
  type RequestPurpose,
} from '../../src/targets/classify.js';
import { IIJ_PENDING_DELETION_SIGNATURE, matchPendingDeletion } from '../../src/targets/iij-pending-deletion.js';

const TOKEN = 'tok-SECRET-abcdef0123456789';
const ctx = (purpose: RequestPurpose, extra: Partial<ClassifyContext> = {}): ClassifyContext => ({
  target: 'iij',
  purpose,
  secrets: [TOKEN],
  ...extra,
});

function scimBody(status: number, detail: string, scimType?: string): string {
  return JSON.stringify({
    schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
    status: String(status),
    ...(scimType ? { scimType } : {}),
    detail,
  });
}
function response(status: number, body = '', headers: Record<string, string> = {}): HttpOutcome {
  return { kind: 'response', status, headers, body };
}
function network(code: string | undefined, extra: Partial<Extract<HttpOutcome, { kind: 'network' }>> = {}): HttpOutcome {
  return { kind: 'network', code, message: `connect ${code ?? ''} 127.0.0.1:1`, timedOut: false, ...extra };
}

describe('classifyFailure: network', () => {
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT']) {
    it(`${code} → Retryable`, () => {
      const e = classifyFailure(network(code), ctx('search'));
      assert.ok(e instanceof RetryableError);
      assert.equal(e.retryAfterMs, undefined);
      assert.match(e.message, new RegExp(code));
    });
  }
  it('our deadline → Retryable naming the timeout', () => {
    const e = classifyFailure(network('UND_ERR_ABORTED', { timedOut: true }), ctx('write-password', { timeoutMs: 500 }));
    assert.ok(e instanceof RetryableError);
    assert.match(e.message, /500 ms/);
  });
  it('untrusted TLS certificate → TargetUnusable naming ca_file', () => {
    const e = classifyFailure(network('DEPTH_ZERO_SELF_SIGNED_CERT'), ctx('search'));
    assert.ok(e instanceof TargetUnusableError);
    assert.match(e.message, /ca_file/);
  });
  it('proxy 407 → TargetUnusable naming the proxy', () => {
    const e = classifyFailure(network(undefined, { proxyStatus: 407 }), ctx('search', { proxy: 'proxy.example:3128' }));
    assert.ok(e instanceof TargetUnusableError);
    assert.equal(e.status, 407);
    assert.match(e.message, /proxy proxy\.example:3128/);
    assert.match(e.message, /proxy_password/);
  });
  it('proxy answering 502 to CONNECT → Retryable', () => {
    const e = classifyFailure(network(undefined, { proxyStatus: 502 }), ctx('search', { proxy: 'p:1' }));
    assert.ok(e instanceof RetryableError);
  });
  it('scrubs a secret that a library put in its message', () => {
    const e = classifyFailure({ kind: 'network', code: 'EX', message: `bad ${TOKEN} here`, timedOut: false }, ctx('search'));
    assert.ok(!e.message.includes(TOKEN));
    assert.match(e.message, /\[redacted\]/);
  });
});

describe('classifyFailure: responses', () => {
  for (const status of [500, 502, 503, 504, 408]) {
    it(`${status} → Retryable`, () => {
      const e = classifyFailure(response(status, scimBody(status, 'down')), ctx('write-password'));
      assert.ok(e instanceof RetryableError);
      assert.match(e.message, new RegExp(String(status)));
    });
  }
  it('503 with Retry-After keeps it', () => {
    const e = classifyFailure(response(503, '', { 'retry-after': '12' }), ctx('search'));
    assert.ok(e instanceof RetryableError);
    assert.equal(e.retryAfterMs, 12_000);
  });
  it('429 with Retry-After seconds', () => {
    const e = classifyFailure(response(429, scimBody(429, 'Too many requests.'), { 'retry-after': '7' }), ctx('search'));
    assert.ok(e instanceof RetryableError);
    assert.equal(e.retryAfterMs, 7000);
  });
  it('429 with Retry-After HTTP date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    const e = classifyFailure(response(429, '', { 'retry-after': 'Wed, 01 Jan 2025 00:00:20 GMT' }), ctx('search', { now }));
    assert.ok(e instanceof RetryableError);
    assert.equal(e.retryAfterMs, 20_000);
  });
  it('429 without Retry-After → default', () => {
    const e = classifyFailure(response(429), ctx('search'));
    assert.ok(e instanceof RetryableError);
    assert.equal(e.retryAfterMs, DEFAULT_RETRY_AFTER_MS);
  });
  it('401 → TargetUnusable (token invalid/expired/revoked) with the detail', () => {
    const e = classifyFailure(response(401, scimBody(401, 'The access token has expired.')), ctx('search'));
    assert.ok(e instanceof TargetUnusableError);
    assert.equal(e.status, 401);
    assert.match(e.message, /invalid, expired or revoked/);
    assert.match(e.message, /The access token has expired\./);
    assert.match(e.message, /targets\.iij\.access_token/);
  });
  it('403 → TargetUnusable (missing scope) naming the scope from WWW-Authenticate', () => {
    const e = classifyFailure(
      response(403, scimBody(403, 'The access token lacks the required scope escim_write_users.'), {
        'www-authenticate': 'Bearer error="insufficient_scope", scope="escim_write_users"',
      }),
      ctx('write-password'),
    );
    assert.ok(e instanceof TargetUnusableError);
    assert.equal(e.status, 403);
    assert.match(e.message, /lacks the scope escim_write_users/);
    assert.match(e.message, /escim_read_users and escim_write_users/);
  });
  it('403 without a challenge still says a scope is missing', () => {
    const e = classifyFailure(response(403, 'Forbidden'), ctx('search'));
    assert.ok(e instanceof TargetUnusableError);
    assert.match(e.message, /lacks a required scope/);
  });
  it('400 → RejectedChange with IIJ detail', () => {
    const detail = 'Password must be at least 12 characters.';
    const e = classifyFailure(response(400, scimBody(400, detail, 'invalidValue')), ctx('write-password'));
    assert.ok(e instanceof RejectedChangeError);
    assert.equal(e.detail, detail);
    assert.match(e.message, /400 invalidValue/);
    assert.match(e.message, /at least 12 characters/);
  });
  it('404 on a user → NotProvisioned', () => {
    for (const purpose of ['read-user', 'write-password'] as const) {
      const e = classifyFailure(response(404, scimBody(404, 'User not found.')), ctx(purpose));
      assert.ok(e instanceof NotProvisionedError);
      assert.equal(e.pendingDeletion, false);
    }
  });
  it('404 on the search endpoint → TargetUnusable (wrong url)', () => {
    const e = classifyFailure(response(404, 'Not Found'), ctx('search'));
    assert.ok(e instanceof TargetUnusableError);
    assert.match(e.message, /url/);
  });
  it('409 mutability "pending deletion" on a password write → NotProvisioned(pendingDeletion)', () => {
    const e = classifyFailure(response(409, scimBody(409, 'User is pending deletion.', 'mutability')), ctx('write-password'));
    assert.ok(e instanceof NotProvisionedError);
    assert.equal(e.pendingDeletion, true);
    assert.match(e.message, /pending deletion/);
  });
  it('any other 409 on a password write → NotProvisioned(pendingDeletion), saying it is treated so', () => {
    const e = classifyFailure(response(409, scimBody(409, 'Conflict.', 'uniqueness')), ctx('write-password'));
    assert.ok(e instanceof NotProvisionedError);
    assert.equal(e.pendingDeletion, true);
    assert.match(e.message, /treated as pending deletion/);
  });
  it('409 on a search → RejectedChange, not pending deletion', () => {
    const e = classifyFailure(response(409, scimBody(409, 'x')), ctx('search'));
    assert.ok(e instanceof RejectedChangeError);
  });
  it('407 from a plain-http proxy → TargetUnusable', () => {
    const e = classifyFailure(response(407), ctx('search', { proxy: 'p:8080' }));
    assert.ok(e instanceof TargetUnusableError);
    assert.match(e.message, /proxy p:8080/);
  });
  for (const status of [301, 302, 303, 307, 308]) {
    it(`${status} → TargetFault (retried, not a pause: credentials were not refused)`, () => {
      const e = classifyFailure(response(status, '', { location: 'https://login.example/' }), ctx('search'));
      assert.ok(e instanceof TargetFaultError);
      assert.ok(!(e instanceof TargetUnusableError));
      assert.match(e.message, /redirected/);
    });
  }
  it('other 4xx → RejectedChange', () => {
    const e = classifyFailure(response(422, scimBody(422, 'nope')), ctx('write-password'));
    assert.ok(e instanceof RejectedChangeError);
  });
  it('unexpected 2xx → Retryable', () => {
    const e = classifyFailure(response(202), ctx('write-password'));
    assert.ok(e instanceof RetryableError);
  });
  it('a detail that echoes the token is scrubbed', () => {
    const e = classifyFailure(response(401, scimBody(401, `token ${TOKEN} is bad`)), ctx('search'));
    assert.ok(!e.message.includes(TOKEN));
  });
  it('non-JSON and huge bodies are not echoed', () => {
    const html = '<html>' + 'x'.repeat(70_000) + '</html>';
    const e = classifyFailure(response(400, html), ctx('write-password'));
    assert.ok(e instanceof RejectedChangeError);
    assert.equal(e.detail, undefined);
    assert.ok(e.message.length < 300);
  });
});

describe('parseScimError', () => {
  it('reads the IIJ shape', () => {
    assert.deepEqual(parseScimError(scimBody(400, 'd', 'invalidValue')), { status: '400', scimType: 'invalidValue', detail: 'd' });
  });
  it('accepts a numeric status', () => {
    assert.deepEqual(parseScimError('{"status":400,"detail":"d"}'), { status: '400', detail: 'd' });
  });
  it('rejects non-JSON, arrays, unrelated JSON, empty and oversized bodies', () => {
    assert.equal(parseScimError('not json'), undefined);
    assert.equal(parseScimError('[1]'), undefined);
    assert.equal(parseScimError('{"a":1}'), undefined);
    assert.equal(parseScimError(''), undefined);
    assert.equal(parseScimError(JSON.stringify({ detail: 'x'.repeat(70_000) })), undefined);
  });
  it('ignores fields of the wrong type', () => {
    assert.deepEqual(parseScimError('{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":{"x":1}}'), {});
  });
});

describe('parseRetryAfter', () => {
  it('seconds, dates, garbage, caps', () => {
    assert.equal(parseRetryAfter('0'), 0);
    assert.equal(parseRetryAfter(['3', '9']), 3000);
    assert.equal(parseRetryAfter(undefined), undefined);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter('-5'), undefined);
    assert.equal(parseRetryAfter('99999999'), MAX_RETRY_AFTER_MS);
    const now = Date.parse('2025-01-01T00:00:10Z');
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:00 GMT', now), 0);
  });
});

describe('scrub', () => {
  it('removes secrets and control characters, caps length', () => {
    assert.equal(scrub(`a\n${TOKEN}\u0007b`, [TOKEN]), 'a [redacted] b');
    assert.equal(scrub('x'.repeat(400)).length, 301);
  });
});

describe('IIJ pending-deletion assumption', () => {
  it('recognises the agreed signature exactly', () => {
    const s = IIJ_PENDING_DELETION_SIGNATURE;
    assert.equal(matchPendingDeletion(s.status, s.scimType, s.detail), 'exact');
    assert.equal(matchPendingDeletion(409, 'uniqueness', 'taken'), 'conflict');
    assert.equal(matchPendingDeletion(400, 'mutability', s.detail), 'no');
  });
});
