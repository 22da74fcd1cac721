// One family of codes: every stable code is a static on its class (or an EndCode) in src/errors.ts, referenced
// from there everywhere else; nothing is declared that nothing produces, and the filter DLL retries only on codes
// the agent really answers. Reads source text; imports only src/errors.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as errors from '../../src/errors.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function files(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...files(full, ext));
    else if (name.endsWith(ext)) out.push(full);
  }
  return out.sort();
}

const ERRORS_TS = path.join(root, 'src', 'errors.ts');
const others = files(path.join(root, 'src'), '.ts').filter((f) => f !== ERRORS_TS);
const otherText = others.map((f) => readFileSync(f, 'utf8')).join('\n');

/** Classes exported by src/errors.ts that carry a static code. */
const coded = (Object.entries(errors) as Array<[string, unknown]>).filter(
  (e): e is [string, { code: string }] => typeof e[1] === 'function' && typeof (e[1] as { code?: unknown }).code === 'string',
);

test('no bare E_… literal in src outside src/errors.ts (codes are referenced as XError.code or EndCode.x)', () => {
  const hits: string[] = [];
  for (const f of others) {
    readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
      if (/['"`]E_[A-Z0-9_]*/.test(line)) hits.push(`${path.relative(root, f)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(hits, []);
});

test('every error class has its own code, and instances carry their class code', () => {
  const own = coded.filter(([, C]) => Object.prototype.hasOwnProperty.call(C, 'code'));
  const codes = own.map(([, C]) => C.code);
  assert.equal(new Set(codes).size, codes.length, `a code is declared twice: ${codes.join(', ')}`);
  assert.ok(codes.every((c) => /^E_[A-Z0-9_]+$/.test(c)), codes.join(', '));
  for (const c of Object.values(errors.EndCode)) assert.ok(!codes.includes(c), `${c} is both an EndCode and a class code`);
  assert.equal(new errors.StorageError('x').code, errors.StorageError.code);
  assert.equal(new errors.FrameTooLargeError('x').code, 'E_FRAME_TOO_LARGE', 'a subclass carries its own code, not its parent\'s');
  assert.equal(new errors.UnsafePermissionsError('x').code, errors.ConfigError.code, 'a subclass without a code inherits it');
  assert.equal(new errors.IntakeUnavailableError('x').code, errors.IntakeUnavailableError.code);
  assert.equal(errors.errorCode(new Error('boom')), errors.InternalError.code);
});

test('nothing is declared that nothing produces: every coded class and EndCode is used outside src/errors.ts', () => {
  const unused = coded
    .filter(([name]) => name !== 'PwsyncError')
    .filter(([name]) => !new RegExp(`\\b${name}\\b`).test(otherText))
    .map(([name]) => name);
  // errorCode() in src/errors.ts is what produces InternalError's code.
  assert.deepEqual(unused.filter((n) => n !== 'InternalError'), []);
  for (const key of Object.keys(errors.EndCode)) assert.match(otherText, new RegExp(`EndCode\\.${key}\\b`), `EndCode.${key} is never used`);
});

test('the filter DLL retries exactly on the retryable codes the agent answers', () => {
  const agentC = readFileSync(path.join(root, 'native', 'passfilt', 'agent.c'), 'utf8');
  const list = /retry\[\]\s*=\s*\{([^}]*)\}/.exec(agentC);
  assert.ok(list, 'retry[] in native/passfilt/agent.c');
  const retried = [...list[1]!.matchAll(/"\\"(E_[A-Z0-9_]+)\\""/g)].map((m) => m[1]).sort();
  // What intake answers when the fault is its own (src/intake/intake.ts, errorCode()): a later try can succeed.
  const agentRetryable = [errors.StorageError.code, errors.CorruptDatabaseError.code, errors.InternalError.code].sort();
  assert.deepEqual(retried, agentRetryable);
});
