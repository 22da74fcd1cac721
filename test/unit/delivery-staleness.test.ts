// The staleness rule (src/delivery/staleness.ts) on its own: key versions, capture time against pwdLastSet with the
// clock-skew allowance, and the rule that a captured version never outranks AD's.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dateToFiletime } from '../../src/directory/filetime.js';
import { MAX_KVNO } from '../../src/directory/directory.js';
import { judgeStaleness, setAfterCapture } from '../../src/delivery/staleness.js';

const at = (iso: string) => dateToFiletime(new Date(iso));
const SKEW = 2_000;

describe('judgeStaleness', () => {
  it('a newer AD key version makes the change stale', () => {
    const r = judgeStaleness({ kvno: 4, capturedAt: '2026-01-01T10:00:00Z' }, { kvno: 5 }, SKEW);
    assert.deepEqual(r, { stale: true, why: "AD password version 5 is newer than this change's 4" });
  });

  it('a version-less capture (Windows filter) taken before AD\'s pwdLastSet is stale: the replayed spool', () => {
    const r = judgeStaleness({ kvno: null, capturedAt: '2026-01-01T10:00:00Z' }, { kvno: 7, pwdLastSet: at('2026-01-01T10:05:00Z') }, SKEW);
    assert.equal(r.stale, true);
    assert.match((r as { why: string }).why, /AD password was set at 2026-01-01T10:05:00.000Z, after this change was captured at 2026-01-01T10:00:00.000Z \(clock-skew allowance 2000 ms\)/);
  });

  it('pwdLastSet within the allowance after the capture is not stale (same DC, clock steps)', () => {
    const r = judgeStaleness({ kvno: null, capturedAt: '2026-01-01T10:00:00Z' }, { kvno: 7, pwdLastSet: at('2026-01-01T10:00:01.900Z') }, SKEW);
    assert.deepEqual(r, { stale: false, kvno: 7 });
    const r2 = judgeStaleness({ kvno: null, capturedAt: '2026-01-01T10:00:00Z' }, { kvno: 7, pwdLastSet: at('2026-01-01T10:00:02.001Z') }, SKEW);
    assert.equal(r2.stale, true);
  });

  it('pwdLastSet before the capture, 0 ("must change") or missing never makes a change stale', () => {
    assert.deepEqual(judgeStaleness({ kvno: null, capturedAt: '2026-01-01T10:00:00Z' }, { kvno: 3, pwdLastSet: at('2026-01-01T09:59:59Z') }, SKEW), { stale: false, kvno: 3 });
    assert.deepEqual(judgeStaleness({ kvno: null, capturedAt: '2026-01-01T10:00:00Z' }, { kvno: 3, pwdLastSet: '0' }, SKEW), { stale: false, kvno: 3 });
    assert.deepEqual(judgeStaleness({ kvno: null, capturedAt: '2026-01-01T10:00:00Z' }, {}, SKEW), { stale: false, kvno: null });
  });

  it('AD still holding exactly the captured key version wins over a later pwdLastSet (an admin cleared "must change")', () => {
    const r = judgeStaleness({ kvno: 6, capturedAt: '2026-01-01T10:00:00Z' }, { kvno: 6, pwdLastSet: at('2026-01-02T10:00:00Z') }, SKEW);
    assert.deepEqual(r, { stale: false, kvno: 6 });
  });

  it('a captured version above AD\'s is never recorded: the change carries AD\'s version', () => {
    assert.deepEqual(judgeStaleness({ kvno: MAX_KVNO, capturedAt: '2026-01-01T10:00:00Z' }, { kvno: 5 }, SKEW), { stale: false, kvno: 5 });
    // Without an AD key version there is nothing to bound it by.
    assert.deepEqual(judgeStaleness({ kvno: 9, capturedAt: '2026-01-01T10:00:00Z' }, {}, SKEW), { stale: false, kvno: 9 });
  });

  it('setAfterCapture says when AD\'s version cannot be the capture\'s own', () => {
    assert.equal(setAfterCapture({ pwdLastSet: at('2026-01-01T10:00:03Z') }, '2026-01-01T10:00:00Z', SKEW), true);
    assert.equal(setAfterCapture({ pwdLastSet: at('2026-01-01T10:00:01Z') }, '2026-01-01T10:00:00Z', SKEW), false);
    assert.equal(setAfterCapture({}, '2026-01-01T10:00:00Z', SKEW), false);
  });
});
