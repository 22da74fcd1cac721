// Intake: validates a captured change, refuses what must never travel, commits it sealed to the outbox and only
// then acknowledges. Journals every decision; never journals the password.

import os from 'node:os';
import { FrameTooLargeError, LdifError, RefusedChangeError, StorageError, type PwsyncError } from '../errors.js';
import { EV } from '../journal/catalogue.js';
import type { Journal } from '../journal/journal.js';
import type { InsertResult, Outbox } from '../outbox/store.js';
import { refusalFor } from './account-filter.js';
import type { ChangeFrame, IntakeReply, SkipFrame } from './frame.js';
import { answerEncodedFrame, type IntakeHandler, type SambaObjectOutcome } from './intake-connection.js';

/**
 * Turns one syncpasswords object (raw LDIF) into frames and hands each to `submit`, which answers like the intake
 * socket would (src/capture/samba-forward.ts). Injected by the agent: the decision is capture logic, not intake's.
 */
export type SambaForward = (
  ldif: Buffer,
  submit: (bytes: Buffer) => Promise<IntakeReply>,
) => Promise<{ done: true; line: string } | { done: false; code: string; message: string }>;

/** A change intake committed and acked: what delivery needs to know of it beyond its rows. */
export interface CommittedChange {
  captureId: string;
  account: string;
  rid?: number;
  guid?: string;
  capturedAt: string;
  /** The capture carried its password version (Samba); otherwise delivery reads AD's for it (delivery/worker.ts). */
  versioned: boolean;
}

export interface IntakeOptions {
  targets: () => readonly string[];
  /** After each commit is synced, in the turn after its acks, with the changes it acked (delivery takes over from here). */
  onCommitted: (changes: readonly CommittedChange[]) => void;
  /**
   * The DC a change is named with in events and rows: agent.dc when configured (one agent per DC, so its own name is
   * authoritative), else what the frame says, else this host's name.
   */
  dc?: () => string | undefined;
  /** Handles the native Samba hook's objects; without it the agent refuses them. */
  sambaForward?: SambaForward;
}

export class Intake implements IntakeHandler {
  constructor(
    private readonly outbox: Outbox,
    private readonly journal: Journal,
    private readonly opts: IntakeOptions,
  ) {}

  private batch: Array<{ frame: ChangeFrame; resolve: (r: { id: string }) => void; reject: (e: unknown) => void }> = [];
  private flushScheduled = false;

  /** Refuses at once what must never travel; otherwise resolves with the change id once its commit is on disk. */
  accept(frame: ChangeFrame): Promise<{ id: string }> {
    const reason = refusalFor(frame.account, frame.uac);
    if (reason) {
      this.journal.write(EV.refused, { account: frame.account, reason, source: frame.source, dc: this.dcOf(frame) });
      return Promise.reject(new RefusedChangeError(reason, `account ${frame.account} is never forwarded (${reason})`));
    }
    return new Promise((resolve, reject) => {
      this.batch.push({ frame, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // Group commit: frames that arrived in the same turn of the event loop share one transaction (and its fsync).
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.batch.splice(0);
    /** Batch entries whose 2000 is already journaled (inside the transaction, see below). */
    const announced = new Set<number>();
    let results: InsertResult[];
    try {
      results = this.outbox.insertChangesUnsynced(
        batch.map(({ frame }) => ({
          account: frame.account, targets: this.opts.targets(), source: frame.source, dc: this.dcOf(frame), rid: frame.rid, guid: frame.guid,
          kvno: frame.version?.kvno, pwdLastSet: frame.version?.pwdLastSet, capturedAt: frame.capturedAt, password: frame.password,
        })),
        (rows, inserted, index) => {
          // A change superseded by its own insert (a version already delivered: the hook re-sends an object on every
          // attribute change) gets its 3004 before the commit, like every final state — so its 2000 comes first.
          if (rows.some((r) => r.captureId === inserted.captureId)) {
            this.announce(batch[index]!.frame, inserted);
            announced.add(index);
          }
          for (const s of rows) this.journal.write(EV.superseded, { change: s.captureId, account: s.account, target: s.target, reason: 'not the newest captured change for this account' });
        },
      );
    } catch (err) {
      const e = err instanceof StorageError ? err : new StorageError('outbox write failed', { cause: err });
      for (const { frame, reject } of batch) {
        this.journal.write(EV.intakeStorageFailed, { account: frame.account, source: frame.source, code: e.code, error: e.message });
        reject(e);
      }
      return;
    }
    // Journaled right after the commit, while the disk syncs it on the thread pool: off the ack's path, and before
    // delivery — which sees the rows from this commit on — can journal anything about these changes. A crash before
    // the sync leaves a committed, unacked change (and its 2000): the capture side retries, and the store keeps one of
    // the two (docs/architecture.md#durability).
    batch.forEach(({ frame }, i) => {
      if (!announced.has(i)) this.announce(frame, results[i]!);
    });
    this.outbox.synced().then(
      () => {
        batch.forEach(({ resolve }, i) => resolve({ id: results[i]!.captureId }));
        const committed = batch.map(({ frame }, i) => ({
          captureId: results[i]!.captureId, account: frame.account, rid: frame.rid, guid: frame.guid, capturedAt: frame.capturedAt, versioned: frame.version !== undefined,
        }));
        // The replies go out from the microtasks these resolves queue; delivery takes over in the next turn, so its
        // claim and look-ups never run between the commit and its ack.
        setImmediate(() => this.opts.onCommitted(committed));
      },
      (err: unknown) => {
        const e = err instanceof StorageError ? err : new StorageError('outbox sync failed', { cause: err });
        batch.forEach(({ frame, reject }, i) => {
          this.journal.write(EV.intakeStorageFailed, { change: results[i]!.captureId, account: frame.account, source: frame.source, code: e.code, error: e.message });
          reject(e);
        });
      },
    );
  }

  private announce(frame: ChangeFrame, result: InsertResult): void {
    this.journal.write(EV.captured, {
      change: result.captureId, account: frame.account.toLowerCase(), source: frame.source, dc: this.dcOf(frame), rid: frame.rid,
      kvno: frame.version?.kvno, capturedAt: frame.capturedAt, targets: result.ids.length,
    });
  }

  /**
   * One object from the native Samba hook: decided by `sambaForward`, its frame validated and committed exactly like
   * a socket frame (answerEncodedFrame → accept), so the DONE-EXIT line exists only after the commit.
   */
  async sambaObject(ldif: Buffer): Promise<SambaObjectOutcome> {
    const forward = this.opts.sambaForward;
    if (!forward) return { done: false, line: 'this agent does not take Samba objects' };
    const outcome = await forward(ldif, (bytes) => answerEncodedFrame(this, bytes, SAMBA_HOOK_PEER));
    if (outcome.done) return outcome;
    // An object the hook can never hand over as it is (syncpasswords retries it until an operator acts): loud.
    if (outcome.code === LdifError.code || outcome.code === FrameTooLargeError.code)
      this.frameRejected(outcome.code === LdifError.code ? new LdifError(withoutCode(outcome.message)) : new FrameTooLargeError(withoutCode(outcome.message)), SAMBA_HOOK_PEER);
    return { done: false, line: outcome.message };
  }

  skipped(frame: SkipFrame): void {
    this.journal.write(EV.hookSkipped, { account: frame.account, reason: frame.reason, source: frame.source, dc: this.dcOf(frame) });
  }

  private dcOf(frame: { dc?: string }): string {
    return this.opts.dc?.() ?? frame.dc ?? os.hostname();
  }

  frameRejected(err: PwsyncError, peer: string): void {
    this.journal.write(EV.intakeFrameRejected, { code: err.code, error: err.message, peer });
  }
}

/** The peer named in events for objects of the native Samba hook. */
const SAMBA_HOOK_PEER = 'samba-hook';

function withoutCode(message: string): string {
  return message.replace(/ \[E_[A-Z0-9_]+\]$/, '');
}
