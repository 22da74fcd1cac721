// docs/events.md must list every event of the catalogue with its level and fixed message: operators grep for IDs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EV } from '../../src/journal/catalogue.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('every catalogue event is documented with its level and message', () => {
  const doc = readFileSync(path.join(root, 'docs/events.md'), 'utf8');
  const ids = new Set<number>();
  for (const [name, ev] of Object.entries(EV)) {
    assert.ok(!ids.has(ev.id), `event ID ${ev.id} (${name}) is used twice`);
    ids.add(ev.id);
    const row = doc.split('\n').find((l) => l.startsWith(`| ${ev.id} |`));
    assert.ok(row, `docs/events.md has no row for ${ev.id} (${name})`);
    assert.ok(row.includes(`| ${ev.level} |`), `${ev.id}: level differs from the catalogue`);
    assert.ok(row.includes(ev.message), `${ev.id}: message differs from the catalogue`);
  }
});

// The Windows filter's events live in its message file (native/passfilt/events.mc), not in the agent catalogue.
test('every event of the filter message file is documented with its level and message, and none clashes', () => {
  const doc = readFileSync(path.join(root, 'docs/events.md'), 'utf8');
  const mc = readFileSync(path.join(root, 'native/passfilt/events.mc'), 'utf8');
  const level: Record<string, string> = { Informational: 'info', Warning: 'warn', Error: 'error' };
  const agentIds = new Set(Object.values(EV).map((ev) => ev.id));
  const re = /MessageId=(\d+)\nSeverity=(\w+)\nSymbolicName=\w+\nLanguage=English\n(.*)\n/g;
  const found = [...mc.matchAll(re)];
  assert.ok(found.length >= 15, `parsed only ${found.length} messages from events.mc`);
  assert.equal(found.length, (mc.match(/^MessageId=/gm) ?? []).length, 'a message in events.mc does not have the expected shape');
  for (const [, id, severity, text] of found) {
    assert.ok(!agentIds.has(Number(id)), `filter event ${id} clashes with an agent event`);
    const row = doc.split('\n').find((l) => l.startsWith(`| ${id} |`));
    assert.ok(row, `docs/events.md has no row for filter event ${id}`);
    assert.ok(row.includes(`| ${level[severity!]} |`), `${id}: level differs from events.mc`);
    assert.ok(row.includes(`| ${text} |`), `${id}: message differs from events.mc`);
  }
  // and no documented 6xxx row without a message
  const documented = doc.split('\n').filter((l) => /^\| 6\d{3} \|/.test(l)).map((l) => Number(l.slice(2, 6)));
  assert.deepEqual(documented, found.map((m) => Number(m[1])), 'docs/events.md lists a filter event events.mc does not have');
});
