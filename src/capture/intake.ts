// Intake: validates a captured change, refuses what must never travel, commits it sealed to the outbox and only
// then acknowledges. Journals every decision; never journals the password.

import { RefusedChangeError, StorageError, type PwsyncError } from '../errors.js';
import { EV } from '../journal/catalogue.js';
import type { Journal } from '../journal/journal.js';
import type { Outbox } from '../outbox/store.js';
import { refusalFor } from './account-filter.js';
import type { ChangeFrame } from './frame.js';
import type { IntakeHandler } from './intake-connection.js';

export interface IntakeOptions {
  targets: () => readonly string[];
  onCommitted: () => void;
}

export class Intake implements IntakeHandler {
  constructor(
    private readonly outbox: Outbox,
    private readonly journal: Journal,
    private readonly opts: IntakeOptions,
  ) {}

  async accept(frame: ChangeFrame): Promise<{ id: string }> {
    const reason = refusalFor(frame.account, frame.uac);
    if (reason) {
      this.journal.write(EV.refused, { account: frame.account, reason, source: frame.source, dc: frame.dc });
      throw new RefusedChangeError(reason, `account ${frame.account} is never forwarded (${reason})`);
    }
    let result;
    try {
      result = this.outbox.insertChange({
        account: frame.account, targets: this.opts.targets(), source: frame.source, dc: frame.dc, rid: frame.rid, guid: frame.guid,
        kvno: frame.version?.kvno, pwdLastSet: frame.version?.pwdLastSet, capturedAt: frame.capturedAt, password: frame.password,
      });
    } catch (err) {
      const e = err instanceof StorageError ? err : new StorageError('outbox write failed', { cause: err });
      this.journal.write(EV.intakeStorageFailed, { account: frame.account, source: frame.source, code: e.code, error: e.message });
      throw e;
    }
    this.journal.write(EV.captured, {
      change: result.captureId, account: frame.account.toLowerCase(), source: frame.source, dc: frame.dc, rid: frame.rid,
      kvno: frame.version?.kvno, capturedAt: frame.capturedAt, targets: result.ids.length,
    });
    for (const s of result.superseded) this.journal.write(EV.superseded, { change: s.captureId, account: s.account, target: s.target, by: result.captureId });
    this.opts.onCommitted();
    return { id: result.captureId };
  }

  frameRejected(err: PwsyncError, peer: string): void {
    this.journal.write(EV.intakeFrameRejected, { code: err.code, error: err.message, peer });
  }
}
