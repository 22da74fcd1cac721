// One syncpasswords object → one intake frame (change or skip) → the agent's ack → the `DONE-EXIT: ` reply line.
// Runs inside the agent for each object the native hook hands over (docs/operations-samba.md#the-hook); `send` is the
// agent's own intake, so the frame is validated and committed like any socket frame and tested without sockets. Never puts the password (or any
// attribute value other than the account name) into the reply line or an error message.

import { parseLdifEntry, type LdifEntry } from './ldif.js';
import { sambaEntryToChange } from './samba-entry.js';
import { encodeFrame, type IntakeReply } from '../intake/frame-codec.js';
import { FrameTooLargeError, LdifError, RefusedChangeError } from '../errors.js';
import { printableAccount } from '../intake/account-filter.js';

type HookReply = IntakeReply;

/** The frame's bytes, or undefined when it cannot fit in one frame (the caller then drops optional attributes). */
function encodeIntakeFrame(message: unknown): Buffer | undefined {
  try {
    return encodeFrame(message);
  } catch (err) {
    if (err instanceof FrameTooLargeError) return undefined;
    throw err;
  }
}

export interface ForwardOptions {
  /** This DC's name for the frame's `dc` field; without it the agent uses its configured agent.dc. */
  dc?: string;
  /** Sends one encoded frame and resolves with the agent's reply (wipes the bytes); rejects when unreachable. */
  send: (bytes: Buffer) => Promise<HookReply>;
  now?: Date;
}

/**
 * `done: true` → print `line` (it starts with `DONE-EXIT: `) and exit 0: syncpasswords advances its cache.
 * `done: false` → print `message` to stderr and exit non-zero: syncpasswords stops WITHOUT advancing its cache,
 * so the object is handed over again when it restarts (nothing is lost; docs/operations-samba.md#the-done-exit-protocol-and-why-a-failure-loses-nothing).
 */
export type ForwardOutcome = { done: true; line: string } | { done: false; /** stable error code, also at the end of message */ code: string; message: string };

/**
 * Decides and forwards. Calls without a password change (disable, rename, UPN change, the first run over every
 * user) are forwarded like any other: the agent's outbox supersedes a change whose msDS-KeyVersionNumber is not
 * newer than one queued or delivered, so re-deliveries never cause a second request to the target.
 * Disabled users (userAccountControl 0x2) are forwarded too: see docs/operations-samba.md "Disabled users".
 */
export async function forwardSambaObject(ldif: Buffer, opts: ForwardOptions): Promise<ForwardOutcome> {
  let entry: LdifEntry;
  try {
    entry = parseLdifEntry(ldif);
  } catch (err) {
    const e = err as Error & { code?: string };
    const code = e.code ?? LdifError.code;
    return { done: false, code, message: `syncpasswords handed over invalid LDIF: ${e.message} [${code}]` };
  }
  let result;
  try {
    result = sambaEntryToChange(entry, { dc: opts.dc, now: opts.now });
  } finally {
    entry.wipe(); // every value buffer, the cleartext among them
  }

  if (result.kind === 'skip') {
    const frame = { v: 1, type: 'skip', source: 'samba', ...dcField(opts), reason: result.reason, ...(result.account ? { account: result.account.slice(0, 256) } : {}) };
    const reply = await ask(opts, encodeIntakeFrame(frame)!);
    if (!reply.ok) return { done: false, code: reply.code, message: refusedBy('skip report', result.account, reply) };
    return { done: true, line: `DONE-EXIT: skip ${result.reason}${result.account ? ` ${printableAccount(result.account)}` : ''}` };
  }

  const frame = result.frame;
  try {
    let bytes = encodeIntakeFrame(frame);
    let note = '';
    if (!bytes && frame.attrs) {
      // Only the informational attrs can make a frame this big (the password is at most 1024 characters): the agent
      // resolves the user from AD at send time anyway, so send the change without them rather than block the sync.
      delete frame.attrs;
      note = ' (attributes left out: frame too large)';
      bytes = encodeIntakeFrame(frame);
    }
    if (!bytes) return { done: false, code: FrameTooLargeError.code, message: `the change for ${printableAccount(frame.account)} does not fit in one intake frame [${FrameTooLargeError.code}]` };
    const reply = await ask(opts, bytes);
    if (reply.ok) {
      const kvno = frame.version?.kvno === undefined ? '' : ` kvno=${frame.version.kvno}`;
      return { done: true, line: `DONE-EXIT: queued ${printableAccount(frame.account)}${kvno} change=${printableAccount(reply.id, 64)}${note}` };
    }
    // A refusal is the agent's final word on this account (krbtgt, computer, …) and already journaled (2001):
    // failing would stop syncpasswords on this object forever. Any other error may pass: fail, retry later.
    if (reply.code === RefusedChangeError.code) return { done: true, line: `DONE-EXIT: refused ${printableAccount(frame.account)}` };
    return { done: false, code: reply.code, message: refusedBy('change', frame.account, reply) };
  } finally {
    frame.password = '';
  }
}

async function ask(opts: ForwardOptions, bytes: Buffer): Promise<HookReply> {
  try {
    return await opts.send(bytes);
  } finally {
    bytes.fill(0);
  }
}

function refusedBy(what: string, account: string | undefined, reply: { code: string; message: string }): string {
  // The agent's message is its own words, but it is printed on the hook's output: one line, no control characters.
  return `the agent did not accept the ${what}${account ? ` for ${printableAccount(account)}` : ''}: ${printableAccount(String(reply.message), 300)} [${printableAccount(String(reply.code), 40)}]`;
}

/** The frame's `dc` field, when the hook was told one (else the agent names itself: agent.dc). */
function dcField(opts: ForwardOptions): { dc?: string } {
  return opts.dc ? { dc: opts.dc } : {};
}
