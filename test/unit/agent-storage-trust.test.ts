// The agent's data dir, key and outbox belong together (issue 13 #2, #12, #13): a lost key, a lost or emptied
// outbox, a 0755 data_dir. Real agent (in process) with a fixed directory and a fake target; no DC needed.

import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startAgent } from '../../src/agent.js';
import { sendChange } from '../../src/capture/intake-client.js';
import { loadConfig } from '../../src/config/load.js';
import { StaticDirectory } from '../../src/directory/static-directory.js';
import { OutboxMismatchError, OutboxSchemaVersionError, RetryableError, UnsafePermissionsError, UnsealError } from '../../src/errors.js';
import { Journal, type JournalEntry } from '../../src/journal/journal.js';
import { bindOutbox, checkOutboxPresent } from '../../src/outbox/binding.js';
import { secureDataDir } from '../../src/outbox/data-dir.js';
import { loadOrCreateKeys } from '../../src/outbox/key-file.js';
import { Outbox } from '../../src/outbox/store.js';
import { countsByState } from '../../src/outbox/queries.js';
import { SCHEMA_VERSION } from '../../src/outbox/schema.js';
import { openSqlite } from '../../src/outbox/sqlite-driver.js';
import { rawConnection } from '../support/outbox-raw.js';
import type { Target } from '../../src/targets/target.js';

const NOBODY = 65534;

/** A target that is down (rows stay queued, retried later). */
const stuckTarget = (): Target => ({
  name: 'iij',
  checkPassword: () => {},
  find: async () => {
    throw new RetryableError('iij: down for the test');
  },
  setPassword: async () => {},
  probe: async () => ({ canRead: true, writeVerified: false }),
  close: async () => {},
});

function writeConfig(): { dir: string; configFile: string; dataDir: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'pwsync-store-'));
  const dataDir = path.join(dir, 'data');
  writeFileSync(
    path.join(dir, 'config.yml'),
    `agent:\n  data_dir: ${dataDir}\n  intake:\n    socket: ${dir}/run/intake.sock\nlog:\n  stderr: false\n` +
      `ad:\n  ldap:\n    server:\n      addresses: [127.0.0.1]\n      user: reader\n    base_dn: 'DC=x'\n` +
      `targets:\n  - name: iij\n    type: iij\n    url: http://127.0.0.1:9/scim/v2/\nqueue:\n  retry:\n    initial: 1h\n    max: 2h\nconsole:\n  enabled: false\n`,
    { mode: 0o600 },
  );
  writeFileSync(path.join(dir, 'secret.yml'), `ad:\n  ldap:\n    server:\n      password: bindpw\ntargets:\n  iij:\n    access_token: tok-0123456789\n`, { mode: 0o600 });
  return { dir, configFile: path.join(dir, 'config.yml'), dataDir };
}

async function start(configFile: string, events: JournalEntry[] = []) {
  const loaded = loadConfig(configFile);
  const journal = new Journal({ file: loaded.config.log.file, stderr: false });
  journal.on('event', (e: JournalEntry) => events.push(e));
  try {
    return { agent: await startAgent(loaded, { journal, targets: [stuckTarget()], directory: new StaticDirectory(['alice', 'dave'].map((n) => ({ sAMAccountName: n, userPrincipalName: `${n}@example.test`, guid: '0b7d5b0c-7e62-4a4a-9b6f-0c1f0e5d7a11' }))) }), journal };
  } catch (err) {
    journal.close();
    throw err;
  }
}

async function queueOne(configFile: string): Promise<void> {
  const { agent, journal } = await start(configFile);
  const r = await sendChange(agent.socketPath, { v: 1, type: 'change', source: 'cli', account: 'alice', capturedAt: new Date().toISOString(), password: 'Queued-Pw-1!' });
  assert.equal(r.ok, true);
  await agent.stop();
  journal.close();
}

describe('lost key (#2)', () => {
  it('refuses to start when agent.key is gone but sealed rows are queued: event 1020, no new key left behind', async () => {
    const { configFile, dataDir } = writeConfig();
    await queueOne(configFile);
    rmSync(path.join(dataDir, 'agent.key'));
    const events: JournalEntry[] = [];
    await assert.rejects(start(configFile, events), (e: unknown) => e instanceof UnsealError && e.code === 'E_UNSEALABLE' && /restore the agent\.key/.test(e.message));
    assert.ok(events.some((e) => e.id === 1020), 'event 1020 journaled');
    assert.ok(!existsSync(path.join(dataDir, 'agent.key')), 'the new, useless key was removed');
  });

  it('refuses a replaced key too; starts with a new key when nothing sealed is queued', async () => {
    const { configFile, dataDir } = writeConfig();
    await queueOne(configFile);
    writeFileSync(path.join(dataDir, 'agent.key'), Buffer.alloc(64, 9), { mode: 0o600 });
    await assert.rejects(start(configFile), UnsealError);
    // An empty queue needs no old key.
    const { configFile: c2, dataDir: d2 } = writeConfig();
    const { agent, journal } = await start(c2);
    await agent.stop();
    journal.close();
    rmSync(path.join(d2, 'agent.key'));
    const again = await start(c2);
    await again.agent.stop();
    again.journal.close();
  });

  it('an outbox from before the key check (no stored check) is tested by opening its rows', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pwsync-bind-'));
    const file = path.join(dir, 'outbox.sqlite');
    const { keys } = loadOrCreateKeys(path.join(dir, 'agent.key'));
    const box = new Outbox(file, keys.sealKey);
    box.insertChange({ account: 'bob', targets: ['iij'], source: 'cli', capturedAt: new Date().toISOString(), password: 'Old-Pw-1!' });
    box.close();
    const other = { sealKey: Buffer.alloc(32, 1), fingerprintKey: Buffer.alloc(32, 2) };
    const wrong = new Outbox(file, other.sealKey);
    assert.throws(() => bindOutbox(wrong, other, file, 'agent.key', path.join(dir, 'outbox.id')), UnsealError);
    wrong.close();
    const right = new Outbox(file, keys.sealKey);
    bindOutbox(right, keys, file, 'agent.key', path.join(dir, 'outbox.id'));
    assert.equal(right.meta('outbox_id'), readFileSync(path.join(dir, 'outbox.id'), 'utf8').trim());
    right.close();
  });

  it('a row that cannot be unsealed is rejected with 3020, never retried as transient', async () => {
    const { transitionFor } = await import('../../src/delivery/outcome.js');
    const t = transitionFor(new UnsealError('x'), {
      attempts: 0, now: 0, receivedAt: 0, waitingSince: null, maxAgeMs: 1e9, notProvisionedHorizonMs: 1e9, retry: { initialMs: 1, maxMs: 2 },
    });
    assert.equal(t.kind, 'final');
    assert.equal(t.event.id, 3020);
    const dir = mkdtempSync(path.join(tmpdir(), 'pwsync-unseal-'));
    const box = new Outbox(path.join(dir, 'outbox.sqlite'), Buffer.alloc(32, 3));
    const r = box.insertChange({ account: 'carol', targets: ['iij'], source: 'cli', capturedAt: new Date().toISOString(), password: 'Pw-3!' });
    rawConnection(box).prepare(`UPDATE changes SET box = X'00112233445566778899aabbccddeeff00' WHERE id = ?`).run(r.ids[0]);
    assert.throws(() => box.openSecret(box.get(r.ids[0]!)!), UnsealError);
    box.close();
  });
});

describe('lost or emptied outbox (#12)', () => {
  for (const how of ['deleted', 'truncated to 0 bytes'] as const) {
    it(`refuses to start on an outbox ${how} after rows were written: event 1021`, async () => {
      const { configFile, dataDir } = writeConfig();
      await queueOne(configFile);
      const file = path.join(dataDir, 'outbox.sqlite');
      for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
      if (how === 'truncated to 0 bytes') writeFileSync(file, '', { mode: 0o600 });
      const events: JournalEntry[] = [];
      await assert.rejects(start(configFile, events), (e: unknown) => e instanceof OutboxMismatchError && /outbox\.id/.test(e.message));
      assert.ok(events.some((e) => e.id === 1021));
      assert.equal(existsSync(file) ? statSync(file).size : -1, how === 'deleted' ? -1 : 0, 'the agent did not create a new queue');
    });
  }

  it('checkOutboxPresent accepts a first start (no outbox.id yet)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pwsync-first-'));
    checkOutboxPresent(path.join(dir, 'outbox.sqlite'), path.join(dir, 'outbox.id'));
  });

  it('config refuses a socket path that is the outbox', () => {
    const { dir, configFile } = writeConfig();
    writeFileSync(configFile, readFileSync(configFile, 'utf8').replace(`${dir}/run/intake.sock`, 'outbox.sqlite'), { mode: 0o600 });
    assert.throws(() => loadConfig(configFile), /agent\.intake\.socket .* a file or directory the agent keeps its data in/);
  });
});

describe('outbox schema version', () => {
  it('an outbox of a newer pwsync: not started, event 1024 with both versions, the file untouched', async () => {
    const { configFile, dataDir } = writeConfig();
    await queueOne(configFile);
    const file = path.join(dataDir, 'outbox.sqlite');
    const db = openSqlite(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const before = readFileSync(file);
    const events: JournalEntry[] = [];
    await assert.rejects(start(configFile, events), (e: unknown) => e instanceof OutboxSchemaVersionError && e.code === 'E_OUTBOX_SCHEMA_VERSION');
    const ev = events.find((e) => e.id === 1024);
    assert.ok(ev, 'event 1024');
    assert.equal(ev.fileVersion, SCHEMA_VERSION + 1);
    assert.equal(ev.supportedVersion, SCHEMA_VERSION);
    assert.ok(readFileSync(file).equals(before));
  });

  it('a first-release outbox (no version recorded): started, event 1006 from 1 to this version, the queued change kept', async () => {
    const { configFile, dataDir } = writeConfig();
    await queueOne(configFile);
    const db = openSqlite(path.join(dataDir, 'outbox.sqlite'));
    db.pragma('user_version = 0');
    db.close();
    const events: JournalEntry[] = [];
    const { agent, journal } = await start(configFile, events);
    try {
      assert.ok(events.some((e) => e.id === 1006 && e.from === 1 && e.to === SCHEMA_VERSION));
      const counts = countsByState(agent.outbox.reader);
      assert.equal((counts.pending ?? 0) + (counts.waiting ?? 0) + (counts.inflight ?? 0), 1, JSON.stringify(counts));
      assert.equal(Object.keys(counts).filter((k) => !['pending', 'waiting', 'inflight'].includes(k)).length, 0, JSON.stringify(counts));
    } finally {
      await agent.stop();
      journal.close();
    }
  });
});

describe('data_dir permissions (#13)', () => {
  it('an existing 0755 data_dir with 0644 files is tightened to 0700/0600 at start (event 1022), -wal/-shm included', async () => {
    const { configFile, dataDir } = writeConfig();
    mkdirSync(dataDir, { mode: 0o755 });
    chmodSync(dataDir, 0o755);
    writeFileSync(path.join(dataDir, 'journal.jsonl'), '', { mode: 0o644 });
    const events: JournalEntry[] = [];
    const { agent, journal } = await start(configFile, events);
    try {
      await sendChange(agent.socketPath, { v: 1, type: 'change', source: 'cli', account: 'dave', capturedAt: new Date().toISOString(), password: 'Pw-dave-1!' });
      assert.equal(statSync(dataDir).mode & 0o777, 0o700);
      for (const f of ['outbox.sqlite', 'outbox.sqlite-wal', 'outbox.sqlite-shm', 'journal.jsonl', 'agent.key', 'outbox.id']) {
        const p = path.join(dataDir, f);
        if (existsSync(p)) assert.equal(statSync(p).mode & 0o077, 0, `${f} is ${(statSync(p).mode & 0o777).toString(8)}`);
      }
      assert.ok(events.some((e) => e.id === 1022 && e.path === dataDir));
    } finally {
      await agent.stop();
      journal.close();
    }
  });

  it('a data_dir owned by another user is refused', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pwsync-foreign-'));
    chownSync(dir, NOBODY, NOBODY);
    assert.throws(() => secureDataDir(dir), (e: unknown) => e instanceof UnsafePermissionsError && /owned by uid 65534/.test(e.message));
  });
});

describe('config.yml permissions at reload (#4)', () => {
  it('a config.yml made world-writable while the agent runs is refused at reload (1003); the old config stays', async () => {
    const { configFile } = writeConfig();
    const events: JournalEntry[] = [];
    const { agent, journal } = await start(configFile, events);
    try {
      const failed = journal.waitFor((e) => e.id === 1003, 10_000);
      chmodSync(configFile, 0o666);
      writeFileSync(configFile, readFileSync(configFile, 'utf8').replace('url: http://127.0.0.1:9/scim/v2/', 'url: http://127.0.0.1:10/scim/v2/'));
      const e = await failed;
      assert.match(String(e.error), /writable by group or others/);
      assert.ok(!events.some((x) => x.id === 1002), 'the change was applied');
    } finally {
      await agent.stop();
      journal.close();
    }
  });
});

describe('plain http allowed explicitly (#5)', () => {
  it('journals 1023 at start, with the URL userinfo redacted', async () => {
    const { configFile } = writeConfig();
    writeFileSync(
      configFile,
      readFileSync(configFile, 'utf8').replace('url: http://127.0.0.1:9/scim/v2/', 'url: http://u:Url-SECRET-1@10.255.255.1:9/scim/v2/\n    allow_insecure_http: true'),
      { mode: 0o600 },
    );
    const events: JournalEntry[] = [];
    const { agent, journal } = await start(configFile, events);
    try {
      const ev = events.find((e) => e.id === 1023);
      assert.ok(ev, 'event 1023');
      assert.equal(ev.url, 'http://[redacted]@10.255.255.1:9/scim/v2/');
      assert.ok(!JSON.stringify(events).includes('Url-SECRET-1'));
    } finally {
      await agent.stop();
      journal.close();
    }
  });
});
