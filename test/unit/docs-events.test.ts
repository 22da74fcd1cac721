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
