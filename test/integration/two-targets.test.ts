// Each change is delivered to every configured target independently: IIJ (emulator) and a generic SCIM 2.0 server
// built on code we did not write (scimmy). A target whose credentials fail pauses alone; the other keeps flowing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { requireSambaDc, createUser, uniqueName } from '../support/samba.js';
import { makeStack, startStackAgent, submit } from '../support/stack.js';
import { startScimmyServer } from '../support/scimmy-server.js';
import { listChanges } from '../../src/outbox/queries.js';

test('one change reaches IIJ and a generic SCIM target; a paused IIJ does not stop the SCIM target', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const scim = await startScimmyServer({ type: 'bearer', token: 'scimmy-test-token-0123456789' });
  const stack = await makeStack(dc);
  // Add the second target: matched by userName (the UPN), bearer token from secret.yml.
  writeFileSync(
    stack.configFile,
    readFileSync(stack.configFile, 'utf8').replace(
      'queue:',
      `  - name: other\n    type: scim\n    url: ${scim.scimBase}\n    match: userName\n    timeout: 2s\nqueue:`,
    ),
  );
  const secretFile = path.join(stack.dir, 'secret.yml');
  writeFileSync(secretFile, readFileSync(secretFile, 'utf8') + `  other:\n    access_token: scimmy-test-token-0123456789\n`, { mode: 0o600 });
  const agent = await startStackAgent(stack);
  try {
    const name = uniqueName('two');
    await createUser(dc, name);
    await stack.emulator.addUser({ userName: `${name}@example.jp`, externalId: `${name}@example.test` });
    await scim.addUser({ userName: `${name}@example.test` });

    const pw1 = `Two-${Math.random().toString(36).slice(2, 9)}1A`;
    const id1 = await submit(agent.socketPath, name, pw1);
    const done = new Set<string>();
    await agent.journal.waitFor((e) => {
      if (e.change === id1 && e.id === 3000) done.add(String(e.target));
      return done.size === 2;
    }, 20_000);
    assert.equal((await stack.emulator.verifyPassword({ externalId: `${name}@example.test` }, pw1)).match, true);
    assert.equal(await scim.verifyPassword(`${name}@example.test`, pw1), true);

    // IIJ's token is revoked: IIJ pauses, the SCIM target still gets the next password.
    stack.emulator.revokeToken(stack.token);
    const pw2 = `Two-${Math.random().toString(36).slice(2, 9)}2B`;
    const id2 = await submit(agent.socketPath, name, pw2);
    const [paused, other] = await Promise.all([
      agent.journal.waitFor((e) => e.id === 4000 && e.target === 'iij', 20_000),
      agent.journal.waitFor((e) => e.change === id2 && e.id === 3000 && e.target === 'other', 20_000),
    ]);
    assert.equal(paused.status, 401);
    assert.equal(other.target, 'other');
    assert.equal(await scim.verifyPassword(`${name}@example.test`, pw2), true);
    assert.equal((await stack.emulator.verifyPassword({ externalId: `${name}@example.test` }, pw1)).match, true, 'IIJ keeps the old password while paused');
    const iijRow = listChanges(agent.outbox.reader, { account: name }).find((r) => r.captureId === id2 && r.target === 'iij');
    assert.equal(iijRow?.state, 'pending', 'the IIJ copy of the change stays queued');
    assert.equal(iijRow?.hasSecret, true);
  } finally {
    await agent.stop();
    await stack.emulator.close();
    await scim.close();
  }
});
