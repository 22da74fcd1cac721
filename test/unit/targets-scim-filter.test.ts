// Unit tests of SCIM filter building: every value stays one string literal, whatever it contains.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { equalityFilter, iijExternalIdFilter, scimStringLiteral, type FilterAttribute } from '../../src/targets/scim-filter.js';

/**
 * A minimal independent reader of the filter grammar we emit: `<attr> eq <json-string>` (optionally wrapped in
 * IIJ's prefix). Returns the decoded literal, or throws when anything follows it: that would be an injection.
 */
function readEqLiteral(filter: string, prefix: string): { value: string; rest: string } {
  assert.ok(filter.startsWith(prefix), `filter starts with ${prefix}`);
  const rest = filter.slice(prefix.length);
  assert.equal(rest[0], '"');
  let i = 1;
  while (i < rest.length && rest[i] !== '"') i += rest[i] === '\\' ? 2 : 1;
  const literal = rest.slice(0, i + 1);
  // The literal must be valid JSON on its own; `rest` is whatever a SCIM parser would read after it.
  return { value: JSON.parse(literal) as string, rest: rest.slice(i + 1) };
}

describe('scimStringLiteral', () => {
  it('quotes plain values', () => {
    assert.equal(scimStringLiteral('alice@example.test'), '"alice@example.test"');
  });
  it('escapes quote and backslash', () => {
    assert.equal(scimStringLiteral('a"b\\c'), '"a\\"b\\\\c"');
  });
  it('escapes control characters as JSON does', () => {
    assert.equal(scimStringLiteral('a\nb\u0000c\u001f'), '"a\\nb\\u0000c\\u001f"');
  });
  it('keeps non-ASCII as is and escapes lone surrogates', () => {
    assert.equal(scimStringLiteral('山田'), '"山田"');
    assert.equal(scimStringLiteral('x\uD800'), '"x\\ud800"');
  });
});

describe('equalityFilter', () => {
  const injections = [
    'x" or userName pr or externalId eq "y',
    'x") or (userName pr',
    'x\\" or userName pr or externalId eq \\"y',
    '" or true or "',
    'a\\',
    '\\"',
    'x"]',
  ];
  for (const value of injections) {
    it(`keeps ${JSON.stringify(value)} one literal`, () => {
      const filter = equalityFilter('externalId', value);
      const { value: decoded, rest } = readEqLiteral(filter, 'externalId eq ');
      assert.equal(decoded, value);
      // Nothing follows the literal: no operator escaped it.
      assert.equal(rest, '');
    });
  }
  it('builds the userName form', () => {
    assert.equal(equalityFilter('userName', 'bob'), 'userName eq "bob"');
  });
  it('refuses attribute names from outside the allow-list', () => {
    assert.throws(() => equalityFilter('externalId pr or userName' as FilterAttribute, 'x'), TypeError);
  });
});

describe('iijExternalIdFilter', () => {
  it('is byte for byte the filter IIJ Password Sync sends', () => {
    assert.equal(iijExternalIdFilter('taro@example.jp'), 'externalId pr and (externalId eq "taro@example.jp")');
  });
  it('keeps an injection inside the group as one literal', () => {
    const value = 'x" or userName pr or externalId eq "y';
    const filter = iijExternalIdFilter(value);
    assert.equal(filter, 'externalId pr and (externalId eq "x\\" or userName pr or externalId eq \\"y")');
    assert.deepEqual(readEqLiteral(filter, 'externalId pr and (externalId eq '), { value, rest: ')' });
  });
  it('survives JSON encoding in the search body (double escaping)', () => {
    const value = 'a"b\\c';
    const body = JSON.stringify({ filter: iijExternalIdFilter(value) });
    const back = (JSON.parse(body) as { filter: string }).filter;
    assert.deepEqual(readEqLiteral(back, 'externalId pr and (externalId eq '), { value, rest: ')' });
  });
});
