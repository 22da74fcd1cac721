// The delivery decision (src/delivery/decide.ts) on its own: every outcome — expiry, a newer capture, unknown,
// out-of-scope and refused accounts, staleness (newer kvno, equal kvno, clock skew, a forged version), no external
// ID, a duplicate password (also after a rename, and not for a reused name) and send — and the version recorded.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { userAttributeSchema } from '../../src/config/schema.js';
import { decide, versionAtCapture, type DecisionInput } from '../../src/delivery/decide.js';
import type { DirectoryUser } from '../../src/directory/directory.js';
import { dateToFiletime } from '../../src/directory/filetime.js';
import { EV } from '../../src/journal/catalogue.js';
import { passwordFingerprint } from '../../src/outbox/seal.js';

const rule = userAttributeSchema.parse({});
const KEY = Buffer.alloc(32, 7);
const NOW = Date.parse('2026-01-02T00:00:00Z');
const CAPTURED = '2026-01-01T10:00:00Z';
const MAX_AGE = 72 * 3_600_000;
const SKEW = 2_000;
const GUID = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
const at = (iso: string) => dateToFiletime(new Date(iso));

function adUser(u: Partial<DirectoryUser> = {}): DirectoryUser {
  return {
    dn: 'CN=alice,OU=Staff,DC=example,DC=test', guid: GUID, sAMAccountName: 'alice', attributes: { userPrincipalName: 'alice@example.test' },
    version: { kvno: 5 }, enabled: true, userAccountControl: 0x200, inScope: true, ...u,
  };
}
const fp = (guid: string, password = 'Pw-1') => passwordFingerprint(KEY, guid, 'iij', password);

function input(o: { kvno?: number | null; capturedAt?: string; receivedAt?: number; newer?: string; user?: DirectoryUser | null; last?: { fingerprint: string; kvno: number | null }; fingerprint?: string } = {}): DecisionInput {
  const user = o.user === null ? undefined : (o.user ?? adUser());
  return {
    row: { receivedAt: o.receivedAt ?? NOW - 60_000, kvno: o.kvno === undefined ? 5 : o.kvno, capturedAt: o.capturedAt ?? CAPTURED },
    now: NOW, maxAgeMs: MAX_AGE, skewMs: SKEW, newerCapture: o.newer,
    ad: { user, rule, lastDelivered: o.last, fingerprint: o.fingerprint ?? fp(user?.guid ?? GUID) },
  };
}
const withoutAd = (i: DecisionInput): DecisionInput => ({ ...i, ad: undefined });

describe('decide', () => {
  it('before the look-up: asks for AD unless the change expired or a newer capture exists', () => {
    assert.deepEqual(decide(withoutAd(input())), { kind: 'resolve' });
    const expired = decide(withoutAd(input({ receivedAt: NOW - MAX_AGE })));
    assert.equal(expired.kind, 'end');
    assert.deepEqual({ ...expired, event: undefined }, { kind: 'end', state: 'expired', code: 'E_EXPIRED', why: 'not delivered within queue.max_age', event: undefined, fields: { reason: 'max_age' } });
    assert.deepEqual(decide(withoutAd(input({ receivedAt: NOW - MAX_AGE + 1 }))), { kind: 'resolve' }, 'one ms younger than max_age is still tried');
    const newer = decide(withoutAd(input({ newer: 'cap-2' })));
    assert.ok(newer.kind === 'end');
    assert.equal(newer.state, 'superseded');
    assert.equal(newer.code, 'E_SUPERSEDED');
    assert.equal(newer.event, EV.superseded);
    assert.equal(newer.why, 'a newer change cap-2 for this account was captured after this one');
  });

  it('max_age wins over a newer capture, and both are decided again after the look-up', () => {
    const both = decide(withoutAd(input({ receivedAt: NOW - MAX_AGE, newer: 'cap-2' })));
    assert.ok(both.kind === 'end' && both.state === 'expired');
    const after = decide(input({ newer: 'cap-2' }));
    assert.ok(after.kind === 'end' && after.state === 'superseded');
  });

  it('an account AD does not know, or outside the scope, is rejected', () => {
    const unknown = decide(input({ user: null }));
    assert.ok(unknown.kind === 'end');
    assert.deepEqual([unknown.state, unknown.code, unknown.event], ['rejected', 'E_UNKNOWN_ACCOUNT', EV.unknownAccount]);
    const out = decide(input({ user: adUser({ inScope: false }) }));
    assert.ok(out.kind === 'end');
    assert.deepEqual([out.state, out.code, out.event, out.fields], ['rejected', 'E_OUT_OF_SCOPE', EV.outOfScope, { dn: 'CN=alice,OU=Staff,DC=example,DC=test' }]);
  });

  it('the AD object is re-checked against the never-forward filter: krbtgt by name, a computer by its bits', () => {
    for (const [u, reason] of [[adUser({ sAMAccountName: 'krbtgt' }), 'krbtgt'], [adUser({ userAccountControl: 0x1000 }), 'computer'], [adUser({ sAMAccountName: 'PC01$' }), 'computer']] as const) {
      const d = decide(input({ user: u }));
      assert.ok(d.kind === 'end', reason);
      assert.deepEqual([d.state, d.code, d.event, d.fields?.reason], ['rejected', 'E_REFUSED', EV.refused, reason]);
    }
  });

  it('a newer AD key version supersedes the change; an equal one sends it and records nothing', () => {
    const stale = decide(input({ kvno: 4 }));
    assert.ok(stale.kind === 'end');
    assert.deepEqual([stale.state, stale.code, stale.event], ['superseded', 'E_SUPERSEDED', EV.superseded]);
    assert.equal(stale.why, "AD password version 5 is newer than this change's 4");
    const equal = decide(input({ kvno: 5 }));
    assert.deepEqual(equal, { kind: 'send', externalId: 'alice@example.test', guid: GUID, kvno: 5, fingerprint: fp(GUID) });
  });

  it('equal kvno wins over a pwdLastSet after the capture (an admin cleared "must change")', () => {
    const d = decide(input({ kvno: 5, user: adUser({ version: { kvno: 5, pwdLastSet: at('2026-01-01T12:00:00Z') } }) }));
    assert.equal(d.kind, 'send');
  });

  it('clock skew: a version-less change is stale only when pwdLastSet lies more than the allowance after its capture', () => {
    const within = decide(input({ kvno: null, user: adUser({ version: { kvno: 7, pwdLastSet: at('2026-01-01T10:00:01.900Z') } }) }));
    assert.ok(within.kind === 'send');
    assert.equal(within.kvno, 7);
    assert.deepEqual(within.record, { kvno: 7, pwdLastSet: at('2026-01-01T10:00:01.900Z') }, 'first sight records AD\'s version');
    const beyond = decide(input({ kvno: null, user: adUser({ version: { kvno: 7, pwdLastSet: at('2026-01-01T10:00:02.001Z') } }) }));
    assert.ok(beyond.kind === 'end');
    assert.equal(beyond.state, 'superseded');
    assert.match(beyond.why, /after this change was captured at 2026-01-01T10:00:00.000Z \(clock-skew allowance 2000 ms\)/);
    assert.equal(beyond.record, undefined, 'AD\'s newer version is never stamped on the older change');
  });

  it('a captured version above AD\'s is lowered to AD\'s and recorded; without an AD version nothing is recorded', () => {
    const forged = decide(input({ kvno: 0xffffffff }));
    assert.ok(forged.kind === 'send');
    assert.equal(forged.kvno, 5);
    assert.deepEqual(forged.record, { kvno: 5, pwdLastSet: undefined });
    const bare = decide(input({ kvno: null, user: adUser({ version: {} }) }));
    assert.ok(bare.kind === 'send');
    assert.equal(bare.kvno, null);
    assert.equal(bare.record, undefined);
  });

  it('an empty external-ID attribute rejects the change', () => {
    const d = decide(input({ user: adUser({ attributes: {} }) }));
    assert.ok(d.kind === 'end');
    assert.deepEqual([d.state, d.code, d.event, d.fields], ['rejected', 'E_NO_EXTERNAL_ID', EV.noExternalId, { attribute: 'userPrincipalName', dn: 'CN=alice,OU=Staff,DC=example,DC=test' }]);
  });

  it('the same password already delivered to this AD object ends done without a request, as a delivery', () => {
    const d = decide(input({ kvno: null, last: { fingerprint: fp(GUID), kvno: 4 }, user: adUser({ version: { kvno: 5 } }) }));
    assert.ok(d.kind === 'end');
    assert.deepEqual([d.state, d.code, d.event], ['done', 'E_DUPLICATE', EV.duplicateSuppressed]);
    assert.deepEqual(d.delivered, { fingerprint: fp(GUID), kvno: 5, guid: GUID });
    assert.deepEqual(d.record, { kvno: 5, pwdLastSet: undefined });
    const other = decide(input({ last: { fingerprint: fp(GUID, 'Older-Pw'), kvno: 4 } }));
    assert.equal(other.kind, 'send', 'another password is sent');
  });

  it('rename and reuse: the fingerprint belongs to the AD object, not the name', () => {
    // Renamed: same object (objectGUID), new sAMAccountName, same password — a duplicate, not a new password.
    const renamed = decide(input({ user: adUser({ sAMAccountName: 'alice.smith' }), last: { fingerprint: fp(GUID), kvno: 5 } }));
    assert.ok(renamed.kind === 'end' && renamed.state === 'done' && renamed.code === 'E_DUPLICATE');
    // Reused: a new object took the old name; what was delivered for the old object does not suppress it.
    const reused = '11111111-2222-3333-4444-555555555555';
    const d = decide(input({ user: adUser({ guid: reused }), last: undefined, fingerprint: fp(reused) }));
    assert.ok(d.kind === 'send');
    assert.equal(d.guid, reused);
    assert.notEqual(fp(reused), fp(GUID), 'the same password has another fingerprint for another object');
  });
});

describe('versionAtCapture', () => {
  it('records AD\'s version read after the ack unless AD\'s password was set after the capture (+ skew)', () => {
    assert.deepEqual(versionAtCapture({ kvno: 3, pwdLastSet: at('2026-01-01T10:00:01Z') }, CAPTURED, SKEW), { kvno: 3, pwdLastSet: at('2026-01-01T10:00:01Z') });
    assert.equal(versionAtCapture({ kvno: 3, pwdLastSet: at('2026-01-01T10:00:03Z') }, CAPTURED, SKEW), undefined);
    assert.deepEqual(versionAtCapture({ kvno: 3 }, CAPTURED, SKEW), { kvno: 3, pwdLastSet: undefined });
    assert.equal(versionAtCapture({}, CAPTURED, SKEW), undefined, 'nothing to record');
    assert.equal(versionAtCapture(undefined, CAPTURED, SKEW), undefined, 'account not found');
  });
});
