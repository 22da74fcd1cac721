// Token expiry: thresholds 14/7/1 days and expired; one journal warning per threshold per target per day.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Journal, type JournalEntry } from '../../src/journal/journal.js';
import { TokenExpiryWarner, tokenExpiries } from '../../src/metrics/token-expiry.js';

const DAY = 86_400_000;
const EXP = '2025-03-20';
const at = (iso: string) => Date.parse(iso);

test('thresholds', () => {
  const t = [{ name: 'iij', token_expires: EXP }, { name: 'other' }];
  const th = (now: number) => tokenExpiries(t, now).map((x) => [x.daysLeft, x.threshold]);
  assert.deepEqual(th(at('2025-03-01T00:00:00Z')), [[19, null]]);
  assert.deepEqual(th(at('2025-03-06T00:00:00Z')), [[14, 14]]);
  assert.deepEqual(th(at('2025-03-13T12:00:00Z')), [[7, 7]]);
  assert.deepEqual(th(at('2025-03-19T00:00:01Z')), [[1, 1]]);
  assert.deepEqual(th(at('2025-03-20T00:00:00Z')), [[0, 0]]);
});

test('the journal gets one warning per threshold per day, also across a restart', () => {
  const journal = new Journal();
  const seen: JournalEntry[] = [];
  journal.on('event', (e: JournalEntry) => seen.push(e));
  const targets = () => [{ name: 'iij', token_expires: EXP }];
  const w = new TokenExpiryWarner(journal, targets);
  const d1 = at('2025-03-13T08:00:00Z');
  w.check(d1);
  w.check(d1 + 3_600_000);
  assert.deepEqual(seen.map((e) => [e.id, e.threshold, e.daysLeft]), [[5003, 7, 7]]);
  w.check(d1 + DAY);
  assert.equal(seen.length, 2, 'next day: again');
  // a restart the same day, seeded with what the journal file holds, stays quiet
  const w2 = new TokenExpiryWarner(journal, targets, seen.map((e) => ({ ...e, ts: new Date(d1 + DAY).toISOString() })));
  w2.check(d1 + DAY + 1000);
  assert.equal(seen.length, 2);
  w2.check(at('2025-03-20T09:00:00Z'));
  assert.equal(seen.at(-1)!.id, 5004);
  // the journal drops secret-looking keys (/token/i): the expiry date must travel under a key it keeps
  assert.ok(seen.every((e) => typeof e.expires === 'string' && e.target === 'iij'));
});
