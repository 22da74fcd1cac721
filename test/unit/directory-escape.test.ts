// RFC 4515 escaping: injection attempts stay one literal assertion value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FilterParser, EqualityFilter, AndFilter } from 'ldapts';
import { escapeBinaryFilterValue, escapeFilterValue } from '../../src/directory/escape.js';

test('escapes the five RFC 4515 specials', () => {
  assert.equal(escapeFilterValue('a*b(c)d\\e\0f'), 'a\\2ab\\28c\\29d\\5ce\\00f');
  assert.equal(escapeFilterValue('alice'), 'alice');
  assert.equal(escapeFilterValue(''), '');
});

test('leaves non-ASCII as UTF-8 text (ldapts would mangle \\xx escapes above 0x7f)', () => {
  assert.equal(escapeFilterValue('jörg'), 'jörg');
  assert.equal(escapeFilterValue('田中*'), '田中\\2a');
});

for (const attack of ['*)(uid=*', 'admin)(|(a=*', '*', ')(objectClass=*', 'x\\', '\\2a', 'a)(&', '(((', ')))', '\0admin']) {
  test(`injection attempt ${JSON.stringify(attack)} parses as a single equality on sAMAccountName`, () => {
    const f = FilterParser.parseString(`(&(objectClass=user)(sAMAccountName=${escapeFilterValue(attack)}))`);
    assert.ok(f instanceof AndFilter);
    assert.equal(f.filters.length, 2);
    const eq = f.filters[1];
    assert.ok(eq instanceof EqualityFilter, 'no substring/presence filter was created');
    assert.equal(eq.attribute, 'sAMAccountName');
    assert.equal(eq.value, attack, 'the server receives the literal value');
  });
}

test('binary escaping writes every byte as two hex digits', () => {
  assert.equal(escapeBinaryFilterValue(Buffer.from([0, 0x2a, 0xff, 0x10])), '\\00\\2a\\ff\\10');
  assert.equal(escapeBinaryFilterValue(new Uint8Array()), '');
});

test('fuzz: any string round-trips through escape + ldapts parse unchanged', () => {
  const alphabet = ['a', '*', '(', ')', '\\', '\0', 'é', '=', '|', '&', '!', ' ', '~', '>', '<', ':'];
  for (let i = 0; i < 2000; i++) {
    let s = '';
    const len = 1 + Math.floor(Math.random() * 12);
    for (let j = 0; j < len; j++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
    const f = FilterParser.parseString(`(sAMAccountName=${escapeFilterValue(s)})`);
    assert.ok(f instanceof EqualityFilter, JSON.stringify(s));
    assert.equal(f.value, s);
  }
});
