// External ID computation (ad_bind.externalId + convert rules), as IIJ Directory Sync computes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { userAttributeSchema } from '../../src/config/schema.js';
import type { DirectoryUser } from '../../src/directory/directory.js';
import { applyConvertRule, computeExternalId } from '../../src/directory/external-id.js';

function user(attributes: DirectoryUser['attributes']): DirectoryUser {
  return {
    dn: 'CN=Alice Smith,OU=Staff,DC=example,DC=test',
    guid: '5a83c5d3-e4bc-426d-9024-a9698ef54afb',
    sAMAccountName: 'alice',
    attributes,
    version: {},
    enabled: true,
    userAccountControl: 512,
    inScope: true,
  };
}
const rule = (r: unknown) => userAttributeSchema.parse(r);
const GUID_BYTES = Buffer.from('d3c5835abce46d429024a9698ef54afb', 'hex');

test('default: userPrincipalName as is', () => {
  assert.equal(computeExternalId(user({ userPrincipalName: 'alice@example.test' }), rule({})), 'alice@example.test');
});

test('attribute names match case-insensitively', () => {
  assert.equal(computeExternalId(user({ userprincipalname: 'alice@example.test' }), rule({})), 'alice@example.test');
  assert.equal(computeExternalId(user({ EmployeeID: 'E1001' }), rule({ ad_bind: { externalId: 'employeeID' } })), 'E1001');
});

test('absent or empty attribute → undefined (never an empty external ID)', () => {
  assert.equal(computeExternalId(user({}), rule({})), undefined);
  assert.equal(computeExternalId(user({ userPrincipalName: '' }), rule({})), undefined);
  assert.equal(computeExternalId(user({ userPrincipalName: [] }), rule({})), undefined);
  const eraseAll = rule({ convert: { externalId: [{ pattern: '^.*$', replacement: '' }] } });
  assert.equal(computeExternalId(user({ userPrincipalName: 'x' }), eraseAll), undefined);
});

test('multi-valued: the first value', () => {
  assert.equal(computeExternalId(user({ proxyAddresses: ['a', 'b'] }), rule({ ad_bind: { externalId: 'proxyAddresses' } })), 'a');
});

test('binary values use binary_format (guid default, base64, hex)', () => {
  const u = user({ objectGUID: GUID_BYTES, 'mS-DS-ConsistencyGuid': GUID_BYTES });
  assert.equal(computeExternalId(u, rule({ ad_bind: { externalId: 'objectGUID' } })), '5a83c5d3-e4bc-426d-9024-a9698ef54afb');
  assert.equal(computeExternalId(u, rule({ ad_bind: { externalId: 'mS-DS-ConsistencyGuid' }, binary_format: 'base64' })), '08WDWrzkbUKQJKlpjvVK+w==');
  assert.equal(computeExternalId(u, rule({ ad_bind: { externalId: 'objectguid' }, binary_format: 'hex' })), 'd3c5835abce46d429024a9698ef54afb');
  // A 15-byte value cannot be a GUID: no ID rather than a wrong one.
  assert.equal(computeExternalId(user({ objectGUID: Buffer.alloc(15) }), rule({ ad_bind: { externalId: 'objectGUID' } })), undefined);
});

test('convert rules apply in order, with capture groups', () => {
  const r = rule({
    convert: {
      externalId: [
        { pattern: '^(.*)@example\\.test$', replacement: '$1@example.co.jp' },
        { pattern: '^alice', replacement: 'a.smith' },
      ],
    },
  });
  assert.equal(computeExternalId(user({ userPrincipalName: 'alice@example.test' }), r), 'a.smith@example.co.jp');
  // A rule that does not match leaves the value alone.
  assert.equal(computeExternalId(user({ userPrincipalName: 'bob@other.test' }), r), 'bob@other.test');
});

test('first match only (Ruby sub semantics), case-sensitive', () => {
  assert.equal(applyConvertRule('a-b-c', { pattern: '-', replacement: '_' }), 'a_b-c');
  assert.equal(applyConvertRule('ABC', { pattern: 'b', replacement: 'x' }), 'ABC');
  assert.equal(applyConvertRule('EXAMPLE\\alice', { pattern: '^EXAMPLE\\\\', replacement: '' }), 'alice');
});

test('$& and named groups work in replacements', () => {
  assert.equal(applyConvertRule('alice', { pattern: '^(?<n>.+)$', replacement: '$<n>@corp' }), 'alice@corp');
  assert.equal(applyConvertRule('alice', { pattern: 'lic', replacement: '[$&]' }), 'a[lic]e');
});
