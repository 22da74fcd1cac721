// The delivery worker: takes due changes, resolves the account in AD, drops stale changes, sets the password at the
// target and records the outcome. Bounded concurrency; never two changes of one (account, target) in flight.
// It holds a plaintext password only for the duration of one attempt and never writes it anywhere.

import type { Directory } from '../directory/directory.js';
import { refusalFor } from '../intake/account-filter.js';
import { computeExternalId } from '../directory/external-id.js';
import type { UserAttributeConfig } from '../config/schema.js';
import { EndCode, NotProvisionedError, RefusedChangeError, RejectedChangeError, RetryableError, TargetUnusableError, errorCode } from '../errors.js';
import { EV } from '../journal/catalogue.js';
import type { Journal, JournalChild } from '../journal/journal.js';
import type { ChangeRow, Outbox } from '../outbox/store.js';
import { passwordFingerprint } from '../outbox/seal.js';
import type { RetryPolicy } from '../outbox/retry.js';
import type { Target } from '../targets/target.js';
import { transitionFor, safeMessage } from './outcome.js';
import { TargetGate } from './target-gate.js';
import { judgeStaleness } from './staleness.js';

export interface DeliveryTarget {
  target: Target;
  rule: UserAttributeConfig;
  /** Requests per second allowed to this target (targets[].rate_limit). */
  ratePerSecond: number;
}

/** A change costs two requests (search + write); the bucket is sized for a one-second burst. */
const REQUESTS_PER_CHANGE = 2;
/** How often the worker looks for expired rows and for work an operator made due from another process. */
const SWEEP_INTERVAL_MS = 5_000;

export interface DeliveryOptions {
  concurrency: number;
  retry: RetryPolicy;
  maxAgeMs: number;
  notProvisionedHorizonMs: number;
  fingerprintKey: Buffer;
  /** agent.clock_skew: how far pwdLastSet may lie after a capture's time before the change counts as stale (read per use). */
  clockSkewMs: number | (() => number);
  /** How often a paused target is probed again (queue.paused_probe_interval); 0 turns re-probing off. */
  pausedProbeIntervalMs?: number;
  now?: () => number;
}

export interface TargetHealth {
  paused: boolean;
  pausedReason?: string;
  pausedAt?: number;
  lastSuccessAt?: number;
  lastErrorAt?: number;
  lastError?: string;
}

export class DeliveryWorker {
  private readonly targets = new Map<string, DeliveryTarget>();
  private readonly health = new Map<string, TargetHealth>();
  private readonly gates = new Map<string, TargetGate>();
  private sweeper: NodeJS.Timeout | undefined;
  private prober: NodeJS.Timeout | undefined;
  private probing = false;
  /** Rows this worker is attempting now; an inflight row not in here lost its attempt (see releaseInflight). */
  private readonly owned = new Set<string>();
  private lastStorageAlarm = 0;
  private active = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private running = false;
  private pumping = false;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly now: () => number;

  constructor(
    private readonly outbox: Outbox,
    private directory: Directory,
    targets: readonly DeliveryTarget[],
    private readonly journal: Journal,
    private readonly opts: DeliveryOptions,
  ) {
    this.now = opts.now ?? Date.now;
    for (const t of targets) this.setTarget(t);
    // A fresh start tries every target again: a token fixed while the agent was down must not stay "paused".
    for (const t of targets) outbox.setTargetPaused(t.target.name, false);
  }

  setTarget(t: DeliveryTarget): void {
    const prev = this.targets.get(t.target.name);
    this.targets.set(t.target.name, t);
    if (!prev || prev.ratePerSecond !== t.ratePerSecond)
      this.gates.set(t.target.name, new TargetGate(t.ratePerSecond, Math.max(REQUESTS_PER_CHANGE, t.ratePerSecond), this.now()));
    if (!this.health.has(t.target.name)) this.health.set(t.target.name, { paused: false });
  }

  /** A reload's new queue and concurrency settings; attempts in flight keep the ones they started with. */
  updateOptions(o: Pick<DeliveryOptions, 'concurrency' | 'retry' | 'maxAgeMs' | 'notProvisionedHorizonMs'>): void {
    Object.assign(this.opts, o);
  }

  /** Swaps the directory after a configuration reload; attempts in flight finish with the old one. */
  setDirectory(d: Directory): void {
    this.directory = d;
  }

  /** A target removed from config.yml: its queued rows stay (they expire by max_age unless it comes back). */
  removeTarget(name: string): void {
    this.targets.delete(name);
    this.gates.delete(name);
    this.health.delete(name);
  }

  targetHealth(): ReadonlyMap<string, TargetHealth> {
    return this.health;
  }

  start(): void {
    this.running = true;
    this.sweep();
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref?.();
    const every = this.opts.pausedProbeIntervalMs ?? 0;
    if (every > 0) {
      this.prober = setInterval(() => void this.probePaused(), every);
      this.prober.unref?.();
    }
    this.notify();
  }

  /**
   * Probes every paused target once (a harmless authenticated search) and resumes those that answer: a token
   * renewed at the target, or an outage that looked like refused credentials, must not need an operator.
   */
  async probePaused(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      for (const [name, h] of [...this.health]) {
        const dt = this.targets.get(name);
        if (!h.paused || !dt || !this.running) continue;
        try {
          await dt.target.probe();
          if (this.targets.get(name) === dt) this.resume(name, 'probe');
        } catch (err) {
          this.journal.write(EV.targetProbeFailed, { target: name, code: errorCode(err), error: safeMessage(err) });
        }
      }
    } finally {
      this.probing = false;
    }
  }

  /** Expires open rows older than queue.max_age — also those of a paused target, which are never attempted. */
  private sweep(): void {
    try {
      for (const row of this.outbox.olderThan(this.now() - this.opts.maxAgeMs)) {
        if (row.state === 'inflight') continue;
        this.journal.write(EV.expired, { change: row.captureId, account: row.account, target: row.target, reason: 'max_age' });
        this.outbox.finish(row.id, 'expired', EndCode.expired, 'not delivered within queue.max_age');
      }
      this.outbox.releaseInflight(this.owned);
    } catch (err) {
      this.storageTrouble(err);
    }
    this.notify();
  }

  /**
   * The outbox could not be written (disk full, I/O error) outside an attempt's own error handling. The agent keeps
   * running: rows stay queued (an orphaned inflight row is released by the next sweep) and the alarm repeats at most
   * once a minute.
   */
  private storageTrouble(err: unknown, row?: ChangeRow): void {
    if (this.now() - this.lastStorageAlarm < 60_000) return;
    this.lastStorageAlarm = this.now();
    this.journal.write(EV.outboxWriteFailed, { code: errorCode(err), error: safeMessage(err), change: row?.captureId });
  }

  /** Stops taking new work and waits for in-flight attempts to finish. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.prober) clearInterval(this.prober);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.active > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  /** Called by intake after a commit, and by operators' actions: look for due work now. */
  notify(): void {
    if (!this.running || this.pumping) return;
    this.pumping = true;
    try {
      this.pump();
    } catch (err) {
      this.storageTrouble(err);
    } finally {
      this.pumping = false;
    }
  }

  /** Resumes a paused target (after a new token and a successful probe). */
  resume(name: string, by: 'reload' | 'probe' = 'reload'): void {
    const h = this.health.get(name);
    if (!h?.paused) return;
    this.health.set(name, { ...h, paused: false, pausedReason: undefined, pausedAt: undefined });
    this.outbox.setTargetPaused(name, false);
    this.journal.write(EV.targetResumed, { target: name, by });
    this.notify();
  }

  /** How many changes each target may start now: 0 when paused, held by Retry-After or out of rate tokens. */
  private allowance(now: number): Map<string, number> {
    const m = new Map<string, number>();
    for (const name of this.targets.keys()) {
      if (this.health.get(name)?.paused) continue;
      m.set(name, this.gates.get(name)!.available(now, REQUESTS_PER_CHANGE));
    }
    return m;
  }

  private pump(): void {
    const now = this.now();
    const rows = this.outbox.claimDue(this.opts.concurrency - this.active, this.allowance(now));
    for (const row of rows) {
      this.gates.get(row.target)?.take(now, REQUESTS_PER_CHANGE);
      this.active++;
      this.owned.add(row.id);
      void this.attempt(row)
        .catch((err: unknown) => this.storageTrouble(err, row))
        .finally(() => {
          this.owned.delete(row.id);
          this.active--;
          if (this.active === 0 && !this.running) this.idleWaiters.splice(0).forEach((r) => r());
          this.notify();
        });
    }
    this.arm(now);
  }

  /** Sets the timer to the earliest moment a queued row of an unpaused target may start. */
  private arm(now: number): void {
    if (!this.running || this.active >= this.opts.concurrency) return;
    let due: number | undefined;
    for (const [target, at] of this.outbox.nextDueByTarget(this.targets.keys())) {
      const gate = this.gates.get(target);
      if (!gate || this.health.get(target)?.paused) continue;
      const t = Math.max(at, gate.nextAt(now, REQUESTS_PER_CHANGE));
      if (due === undefined || t < due) due = t;
    }
    if (due === undefined) return;
    const at = Math.max(due, now + 5);
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.notify();
    }, at - now);
    this.timer.unref?.();
  }

  private async attempt(row: ChangeRow): Promise<void> {
    const dt = this.targets.get(row.target);
    const log = this.journal.child({ change: row.captureId, account: row.account, target: row.target, attempt: row.attempts + 1 });
    if (!dt) {
      this.outbox.reschedule(row.id, 'pending', this.now() + this.opts.retry.maxMs, null, null, false);
      return;
    }
    if (this.now() - row.receivedAt >= this.opts.maxAgeMs) {
      log.write(EV.expired, { reason: 'max_age' });
      this.outbox.finish(row.id, 'expired', EndCode.expired, 'not delivered within queue.max_age');
      return;
    }
    // Only the newest capture is ever sent (docs/architecture.md#outbox-states). A row that was in flight when a newer change arrived is not
    // superseded at intake; if that attempt then failed, or the agent crashed (recoverInflight makes it due *after* the
    // newer row), it would be sent last and overwrite the newer password. Found by test/integration/guarantees-crash.
    const newer = this.outbox.newerCapture(row);
    if (newer) {
      const why = `a newer change ${newer} for this account was captured after this one`;
      log.write(EV.superseded, { reason: why });
      this.outbox.finish(row.id, 'superseded', EndCode.superseded, why);
      return;
    }
    let password: string | undefined;
    try {
      password = this.outbox.openSecret(row);
      dt.target.checkPassword(password);
      const user = await this.directory.resolve({ account: row.account, rid: row.rid ?? undefined, guid: row.guid ?? undefined }, [dt.rule.ad_bind.externalId]);
      if (!user) {
        log.write(EV.unknownAccount);
        this.outbox.finish(row.id, 'rejected', EndCode.unknownAccount, 'account not found in Active Directory');
        return;
      }
      if (!user.inScope) {
        log.write(EV.outOfScope, { dn: user.dn });
        this.outbox.finish(row.id, 'rejected', EndCode.outOfScope, 'account is outside ad.ldap.filter.user / base_dn');
        return;
      }
      // The name the capture gave passed intake's filter; the object AD resolved it to must pass it too (a look-alike
      // name such as "krbtgt\u00a0" that AD matched, or an account turned into a computer or trust account since).
      const refusal = refusalFor(user.sAMAccountName, user.userAccountControl);
      if (refusal) {
        const why = `account ${user.sAMAccountName} (${user.dn}) is never forwarded (${refusal})`;
        log.write(EV.refused, { reason: refusal, dn: user.dn });
        this.outbox.finish(row.id, 'rejected', RefusedChangeError.code, why);
        return;
      }
      const stale = judgeStaleness({ kvno: row.kvno, capturedAt: row.capturedAt }, user.version, typeof this.opts.clockSkewMs === 'function' ? this.opts.clockSkewMs() : this.opts.clockSkewMs);
      if (stale.stale) {
        log.write(EV.superseded, { reason: stale.why });
        this.outbox.finish(row.id, 'superseded', EndCode.superseded, stale.why);
        return;
      }
      if (stale.kvno !== row.kvno) {
        // First sight of a version-less capture, or a captured version above AD's (never trusted beyond what AD says).
        this.outbox.recordVersion(row.id, stale.kvno ?? undefined, user.version.pwdLastSet, true);
        row.kvno = stale.kvno;
      }
      const externalId = computeExternalId(user, dt.rule);
      if (!externalId) {
        log.write(EV.noExternalId, { attribute: dt.rule.ad_bind.externalId, dn: user.dn });
        this.outbox.finish(row.id, 'rejected', EndCode.noExternalId, `attribute ${dt.rule.ad_bind.externalId} is empty`);
        return;
      }
      // Keyed on the AD object, not the name: after a rename the same password is not sent again.
      const fingerprint = passwordFingerprint(this.opts.fingerprintKey, user.guid.toLowerCase(), row.target, password);
      const kvno = row.kvno;
      const guid = user.guid;
      if (this.outbox.lastDelivered({ account: row.account, guid }, row.target)?.fingerprint === fingerprint) {
        log.write(EV.duplicateSuppressed);
        this.outbox.finish(row.id, 'done', EndCode.duplicate, 'same password already delivered', { fingerprint, kvno, guid });
        return;
      }
      const started = this.now();
      const tuser = await dt.target.find(externalId);
      log.write(EV.searchCompleted, { externalId, found: tuser !== undefined });
      if (!tuser) throw new NotProvisionedError(`no user with ${dt.rule.ad_bind.externalId}-derived value ${JSON.stringify(externalId)} at ${row.target}`);
      await dt.target.setPassword(tuser, password);
      // Event first, then the commit: a crash in between repeats the attempt (a no-op by fingerprint) and the event,
      // but never leaves a final row without its event (invariant 1, docs/architecture.md#invariants). The same order holds for every final state.
      log.write(EV.synced, { externalId, targetUserId: tuser.id, latencyMs: this.now() - row.receivedAt, requestMs: this.now() - started });
      this.outbox.finish(row.id, 'done', undefined, undefined, { fingerprint, kvno, guid });
      this.markSuccess(row.target);
    } catch (err) {
      this.failed(row, err, log);
    } finally {
      password = undefined;
    }
  }

  private failed(row: ChangeRow, err: unknown, log: JournalChild): void {
    const now = this.now();
    const t = transitionFor(err, {
      attempts: row.attempts, now, receivedAt: row.receivedAt, waitingSince: row.waitingSince, maxAgeMs: this.opts.maxAgeMs,
      notProvisionedHorizonMs: this.opts.notProvisionedHorizonMs, retry: this.opts.retry,
    });
    const code = errorCode(err);
    const message = safeMessage(err);
    const detail = err instanceof RejectedChangeError ? err.detail : undefined;
    this.markError(row.target, message);
    switch (t.kind) {
      case 'pause-target': {
        this.outbox.reschedule(row.id, 'pending', now, code, message, false);
        const h = this.health.get(row.target)!;
        if (!h.paused) {
          this.health.set(row.target, { ...h, paused: true, pausedReason: message, pausedAt: now });
          this.outbox.setTargetPaused(row.target, true, message);
          log.write(t.event, { code, error: message, status: err instanceof TargetUnusableError ? err.status : undefined });
        }
        return;
      }
      case 'final':
        log.write(t.event, { code, error: message, detail });
        this.outbox.finish(row.id, t.state, code, message);
        return;
      case 'retry':
        if (err instanceof RetryableError && err.retryAfterMs !== undefined) this.gates.get(row.target)?.hold(now + err.retryAfterMs);
        this.outbox.reschedule(row.id, t.state, now + t.delayMs, code, message, t.countAttempt);
        log.write(t.event, { code, error: message, retryInMs: Math.round(t.delayMs) });
        return;
    }
  }

  private markSuccess(target: string): void {
    const h = this.health.get(target);
    if (h) h.lastSuccessAt = this.now();
  }

  private markError(target: string, message: string): void {
    const h = this.health.get(target);
    if (h) {
      h.lastErrorAt = this.now();
      h.lastError = message;
    }
  }
}
