// The console's html`` helper escapes everything by default; only html`` fragments pass through unescaped.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeHtml, html, SafeHtml } from '../../src/console/html.js';

test('interpolated strings are escaped, including quotes for attributes', () => {
  const evil = `<script>alert("x")</script>' onmouseover='x' \`&`;
  const out = html`<p title="${evil}">${evil}</p>`.value;
  assert.ok(!out.includes('<script>'));
  assert.ok(!out.includes(`"x"`));
  assert.equal(out, `<p title="${escapeHtml(evil)}">${escapeHtml(evil)}</p>`);
  assert.equal(escapeHtml(`<>&"'\``), '&lt;&gt;&amp;&quot;&#39;&#96;');
});

test('numbers, null, undefined, false and arrays render as expected', () => {
  assert.equal(html`${1}|${null}|${undefined}|${false}|${['<a>', html`<b>`]}`.value, '1||||&lt;a&gt;<b>');
});

test('nested fragments are kept, their values escaped once', () => {
  const inner = html`<i>${'<&>'}</i>`;
  const outer = html`<div>${inner}</div>`;
  assert.ok(outer instanceof SafeHtml);
  assert.equal(outer.value, '<div><i>&lt;&amp;&gt;</i></div>');
});

test('a string that looks like a fragment is still escaped', () => {
  const fake = { value: '<b>' } as unknown as string;
  assert.equal(html`${fake}`.value, '[object Object]');
});
