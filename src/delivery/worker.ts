// The delivery worker: takes due changes, resolves the account in AD, drops stale changes, sets the password at the
// target and records the outcome. Bounded concurrency; never two changes of one (account, target) in flight.
// It holds a plaintext password only for the duration of one attempt and never writes it anywhere.

import type { Directory, PasswordVersion } from '../directory/directory.js';
import type { UserAttributeConfig } from '../config/schema.js';
import { EndCode, NotProvisionedError, RejectedChangeError, RetryableError, TargetUnusableError, errorCode } from '../errors.js';
import { EV, type EventDef } from '../journal/catalogue.js';
import type { Fields, Journal, JournalChild } from '../journal/journal.js';
import type { ChangeRow, ClaimedRow, Outbox, Settled } from '../outbox/store.js';
import { passwordFingerprint } from '../outbox/seal.js';
import type { RetryPolicy } from '../outbox/retry.js';
import type { Target } from '../targets/target.js';
import type { FinalState } from '../outbox/states.js';
import type { CommittedChange } from '../intake/intake.js';
import { limitConcurrency } from './concurrency-limit.js';
import { decide, versionAtCapture, type Ending } from './decide.js';
import { transitionFor, safeMessage } from './outcome.js';
import { TargetGate } from './target-gate.js';

export interface DeliveryTarget {
  target: Target;
  rule: UserAttributeConfig;
  /** Requests per second allowed to this target (targets[].rate_limit). */
  ratePerSecond: number;
}

/**
 * What a change reserves from its target's rate limit when it starts (search + write); when it ends, the target's
 * own count of requests sent replaces the reservation (Target.requestsSent): a cached id costs one, a listing or a
 * probe costs what it sent. The bucket is sized for a one-second burst.
 */
const REQUESTS_PER_CHANGE = 2;
/** How often the worker looks for expired rows and for work an operator made due from another process. */
const SWEEP_INTERVAL_MS = 5_000;
/** The longest an outcome waits for others to share its commit (settleSoon), by default; its event waits with it. */
const SETTLE_WITHIN_MS = 50;

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
  /** The longest a settled outcome waits for others to share its commit (default SETTLE_WITHIN_MS). */
  settleWithinMs?: number;
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

/**
 * How an attempt ends for its row: final (the sealed password erased in the same commit), or due again; or a claimed
 * row goes back unattempted (its target paused before it started, or the worker stopped).
 */
type Settlement =
  | {
      kind: 'final'; state: FinalState; code?: string; why?: string; event: EventDef; fields?: Fields;
      delivered?: { fingerprint: string; kvno: number | null; guid?: string };
    }
  | {
      kind: 'again'; state: 'pending' | 'waiting'; dueAt: number; code: string | null; why: string | null; countAttempt: boolean;
      event?: EventDef; fields?: Fields;
    }
  | { kind: 'release'; state: 'pending' | 'waiting'; event?: undefined; fields?: undefined };

function toSettled(row: ChangeRow, s: Settlement): Settled {
  switch (s.kind) {
    case 'final':
      return { kind: 'final', seq: row.seq, account: row.account, target: row.target, state: s.state, code: s.code, error: s.why, delivered: s.delivered };
    case 'again':
      return { kind: 'again', seq: row.seq, state: s.state, dueAt: s.dueAt, code: s.code, error: s.why, countAttempt: s.countAttempt };
    case 'release':
      return { kind: 'release', seq: row.seq, state: s.state };
  }
}

function ending(d: Ending): Settlement {
  return { kind: 'final', state: d.state, code: d.code, why: d.why, event: d.event, fields: d.fields, delivered: d.delivered };
}

export class DeliveryWorker {
  private readonly targets = new Map<string, DeliveryTarget>();
  private readonly health = new Map<string, TargetHealth>();
  private readonly gates = new Map<string, TargetGate>();
  /** Requests of each target object already charged to its gate (Target.requestsSent at the last settle). */
  private readonly charged = new WeakMap<Target, number>();
  private sweeper: NodeJS.Timeout | undefined;
  private prober: NodeJS.Timeout | undefined;
  private probing = false;
  /** Rows this worker is attempting now; an inflight row not in here lost its attempt (see releaseInflight). */
  private readonly owned = new Set<string>();
  private lastStorageAlarm = 0;
  private active = 0;
  /**
   * Rows claimed ahead of a free slot, at most `concurrency`: in flight in the outbox and owned here. An attempt that
   * ends starts the next one at once (fill), so a slot never waits for a turn's commit and claim, and the turn, off
   * that path, can wait for several outcomes to share one commit (settleSoon). A row takes its target's rate limit
   * when it starts, not when it is claimed.
   */
  private readonly ready: ClaimedRow[] = [];
  /** Bounds how long settled outcomes wait for a turn (settleSoon). */
  private settleTimer: NodeJS.Timeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private running = false;
  /** A turn (commit what settled, free those slots, claim) is scheduled for this event-loop iteration. */
  private turnScheduled = false;
  /** Outcomes settled since the last turn: the next one journals and commits them together. */
  private settled: Array<{ row: ChangeRow; log: JournalChild | Journal; s: Settlement }> = [];
  /** Rows whose attempt ended (or that were released) since the last turn: no longer owned once the turn committed. */
  private ended: ChangeRow[] = [];
  private readonly idleWaiters: Array<() => void> = [];
  private readonly now: () => number;
  /** Bounded like delivery: 2 000 unversioned captures once meant 812 LDAP searches at the same time. */
  private readonly readVersion: (c: CommittedChange) => Promise<PasswordVersion | undefined>;

  constructor(
    private readonly outbox: Outbox,
    private directory: Directory,
    targets: readonly DeliveryTarget[],
    private readonly journal: Journal,
    private readonly opts: DeliveryOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.readVersion = limitConcurrency(opts.concurrency, async (c: CommittedChange) => (await this.directory.resolve({ account: c.account, rid: c.rid, guid: c.guid }, []))?.version);
    for (const t of targets) this.setTarget(t);
    // A fresh start tries every target again: a token fixed while the agent was down must not stay "paused".
    for (const t of targets) outbox.setTargetPaused(t.target.name, false);
  }

  setTarget(t: DeliveryTarget): void {
    const prev = this.targets.get(t.target.name);
    this.targets.set(t.target.name, t);
    if (!prev || prev.ratePerSecond !== t.ratePerSecond)
      this.gates.set(t.target.name, new TargetGate(t.ratePerSecond, Math.max(REQUESTS_PER_CHANGE, t.ratePerSecond), this.now()));
    if (!this.charged.has(t.target)) this.charged.set(t.target, t.target.requestsSent?.() ?? 0);
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
        this.settle(row, this.journal.child({ change: row.captureId, account: row.account, target: row.target }), {
          kind: 'final', state: 'expired', code: EndCode.expired, why: 'not delivered within queue.max_age', event: EV.expired, fields: { reason: 'max_age' },
        });
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

  /** Stops taking new work and waits for in-flight attempts to finish and their outcomes to be committed. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.prober) clearInterval(this.prober);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const row of this.ready.splice(0)) this.release(row);
    if (this.active > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
    this.turn(); // outcomes settled since the last turn (the sweep's expiries) are committed before stop() returns
  }

  /** Called by intake after a commit, and by operators' actions: look for due work in this turn of the event loop. */
  notify(): void {
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(() => this.turn());
  }

  /**
   * One turn of the worker, at most once per event-loop iteration: journal every outcome settled since the last turn,
   * commit them in one transaction together with one claim that tops up the claimed rows, and start those that have a
   * free slot. An outcome is committed before the next claim, so the next change of the same (account, target) is
   * claimed only after this one's final state is in the outbox (and while it is not, its row is still in flight there).
   */
  private turn(): void {
    this.turnScheduled = false;
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    const batch = this.settled.splice(0);
    this.journal.batch(() => {
      for (const { log, s } of batch) if (s.event) log.write(s.event, s.fields ?? {});
    });
    for (const row of this.ended.splice(0)) this.owned.delete(row.id);
    if (!this.running) {
      this.commit(batch);
      if (this.active === 0) this.idleWaiters.splice(0).forEach((r) => r());
      return;
    }
    const now = this.now();
    let rows: ClaimedRow[];
    try {
      rows = this.outbox.settleAndClaim(batch.map(({ row, s }) => toSettled(row, s)), 2 * this.opts.concurrency - this.active - this.ready.length, this.allowance(now));
    } catch (err) {
      this.lostCommit(err, batch);
      return;
    }
    for (const row of rows) {
      this.owned.add(row.id);
      this.ready.push(row);
    }
    this.fill(now);
    this.arm(now);
  }

  /** Commits settled outcomes on their own (a stopping worker claims nothing). */
  private commit(batch: ReadonlyArray<{ row: ChangeRow; s: Settlement }>): void {
    if (batch.length === 0) return;
    try {
      this.outbox.settleAll(batch.map(({ row, s }) => toSettled(row, s)));
    } catch (err) {
      this.lostCommit(err, batch);
    }
  }

  /**
   * The turn's commit failed (disk full): its rows stay in flight in the outbox, their attempts no longer own them,
   * and the next sweep makes them due again (releaseInflight). Their events were written, so at worst an attempt and
   * its event repeat — never a final state without its event.
   */
  private lostCommit(err: unknown, batch: ReadonlyArray<{ row: ChangeRow }>): void {
    this.storageTrouble(err, batch[0]?.row);
  }

  /**
   * Intake committed and acked these changes. The password version of a change is recorded here, by delivery, and
   * nowhere else: a capture that carried none (Windows filter, CLI) gets AD's version read right after its ack, so
   * the staleness check at send time compares against *this* change's version even when the attempt comes much
   * later (target paused, user not provisioned); its rows are claimed after the look-up. A failed look-up leaves the
   * row to record the version at first sight (decide.ts).
   */
  committed(changes: readonly CommittedChange[]): void {
    let notifyNow = false;
    for (const c of changes) {
      if (c.versioned) {
        notifyNow = true;
        continue;
      }
      // After the ack on purpose: capture must never wait for the DC's LDAP answer.
      void this.readVersion(c)
        .then((v) => {
          const version = versionAtCapture(v, c.capturedAt, this.skewMs());
          if (version) this.outbox.recordCaptureVersion(c.captureId, version.kvno ?? undefined, version.pwdLastSet);
        })
        .catch(() => undefined /* recorded at the first attempt instead */)
        .finally(() => this.notify());
    }
    if (notifyNow) this.notify();
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

  /**
   * How many changes of each target a claim may take now: what its gate lets start (0 when paused, held by
   * Retry-After or out of rate tokens), less the claimed rows of that target already waiting to start.
   */
  private allowance(now: number): Map<string, number> {
    const waiting = new Map<string, number>();
    for (const row of this.ready) waiting.set(row.target, (waiting.get(row.target) ?? 0) + 1);
    const m = new Map<string, number>();
    for (const name of this.targets.keys()) {
      if (this.health.get(name)?.paused) continue;
      m.set(name, Math.max(0, this.gates.get(name)!.available(now, REQUESTS_PER_CHANGE) - (waiting.get(name) ?? 0)));
    }
    return m;
  }

  /**
   * Starts claimed rows, oldest first, while slots are free and their target's gate lets them. A row of a paused
   * target, or of one a Retry-After holds, goes back to the outbox unattempted rather than sit in flight there.
   */
  private fill(now: number): void {
    for (let i = 0; this.running && this.active < this.opts.concurrency && i < this.ready.length; ) {
      const row = this.ready[i]!;
      const gate = this.gates.get(row.target);
      if (this.health.get(row.target)?.paused || gate?.isHeld(now)) {
        this.ready.splice(i, 1);
        this.release(row);
        continue;
      }
      if (gate && gate.available(now, REQUESTS_PER_CHANGE) < 1) {
        i++;
        continue;
      }
      this.ready.splice(i, 1);
      gate?.take(now, REQUESTS_PER_CHANGE);
      this.launch(row);
    }
  }

  /** Starts the attempt of one claimed row; when it ends, its slot goes to the next claimed row at once. */
  private launch(row: ClaimedRow): void {
    const target = this.targets.get(row.target)?.target;
    this.active++;
    void this.attempt(row)
      .catch((err: unknown) => this.storageTrouble(err, row))
      .finally(() => {
        if (target) this.settleRequests(row.target, target);
        this.active--;
        this.ended.push(row);
        this.fill(this.now());
        this.settleSoon();
      });
  }

  /** A claimed row goes back to the outbox unattempted, in the next turn's commit; no event (nothing happened). */
  private release(row: ClaimedRow): void {
    this.settled.push({ row, log: this.journal, s: { kind: 'release', state: row.claimedFrom } });
    this.ended.push(row);
    this.settleSoon();
  }

  /**
   * Replaces a finished change's reservation by the requests its target really sent since the last settle (its own,
   * and those of attempts still running, which then settle to a refund). A target that does not count keeps the
   * reservation as its charge.
   */
  private settleRequests(name: string, target: Target): void {
    if (!target.requestsSent) return;
    const sent = target.requestsSent();
    const spent = sent - (this.charged.get(target) ?? 0);
    this.charged.set(target, sent);
    this.gates.get(name)?.settle(this.now(), REQUESTS_PER_CHANGE, spent);
  }

  /**
   * Sets the timer to the earliest moment a row of an unpaused target may start: a claimed row waiting for its gate
   * while a slot is free, or a queued row while there is room to claim.
   */
  private arm(now: number): void {
    if (!this.running) return;
    const dueAt = new Map<string, number>();
    if (this.active < this.opts.concurrency) for (const row of this.ready) dueAt.set(row.target, now);
    if (this.active + this.ready.length < 2 * this.opts.concurrency)
      for (const [target, at] of this.outbox.nextDueByTarget(this.targets.keys())) dueAt.set(target, Math.min(at, dueAt.get(target) ?? at));
    let due: number | undefined;
    for (const [target, at] of dueAt) {
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

  private async attempt(row: ClaimedRow): Promise<void> {
    const dt = this.targets.get(row.target);
    const log = this.journal.child({ change: row.captureId, account: row.account, target: row.target, attempt: row.attempts + 1 });
    if (!dt) {
      // The target left config.yml while the row was claimed: due again later, not an attempt.
      this.settle(row, log, { kind: 'again', state: 'pending', dueAt: this.now() + this.opts.retry.maxMs, code: null, why: null, countAttempt: false });
      return;
    }
    const facts = { row, maxAgeMs: this.opts.maxAgeMs, skewMs: this.skewMs(), newerCapture: row.newerCapture };
    const early = decide({ ...facts, now: this.now() });
    if (early.kind === 'end') {
      this.settle(row, log, ending(early));
      return;
    }
    let password: string | undefined;
    try {
      password = this.outbox.openSecret(row);
      dt.target.checkPassword(password);
      const user = await this.directory.resolve({ account: row.account, rid: row.rid ?? undefined, guid: row.guid ?? undefined }, [dt.rule.ad_bind.externalId]);
      const d = decide({
        ...facts,
        now: this.now(),
        ad: user
          ? {
              user, rule: dt.rule, lastDelivered: this.outbox.lastDelivered({ account: row.account, guid: user.guid }, row.target),
              fingerprint: passwordFingerprint(this.opts.fingerprintKey, user.guid.toLowerCase(), row.target, password),
            }
          : { user, rule: dt.rule, lastDelivered: undefined, fingerprint: '' },
      });
      if (d.kind === 'resolve') throw new Error('decide asked for the directory twice'); // unreachable: `ad` was given
      if (d.record) {
        this.outbox.recordVersion(row.id, d.record.kvno ?? undefined, d.record.pwdLastSet, true);
        row.kvno = d.record.kvno;
      }
      if (d.kind === 'end') {
        this.settle(row, log, ending(d));
        return;
      }
      const started = this.now();
      const tuser = await dt.target.find(d.externalId, d.guid);
      log.write(EV.searchCompleted, { externalId: d.externalId, found: tuser !== undefined });
      if (!tuser) throw new NotProvisionedError(`no user with ${dt.rule.ad_bind.externalId}-derived value ${JSON.stringify(d.externalId)} at ${row.target}`);
      // An id cache may have found the cached id refused and written to the id a new search gave.
      const written = (await dt.target.setPassword(tuser, password)) ?? tuser;
      this.settle(row, log, {
        kind: 'final', state: 'done', event: EV.synced,
        fields: { externalId: d.externalId, targetUserId: written.id, latencyMs: this.now() - row.receivedAt, requestMs: this.now() - started },
        delivered: { fingerprint: d.fingerprint, kvno: d.kvno, guid: d.guid },
      });
      this.markSuccess(row.target);
    } catch (err) {
      this.failed(row, err, log);
    } finally {
      password = undefined;
    }
  }

  /**
   * Ends an attempt for its row: the event first, then the commit, both in the next turn together with the other
   * outcomes settled by then (turn(), settleSoon()). A crash in between repeats the attempt (a no-op by
   * fingerprint) and its event, but never leaves a row final without its event (docs/architecture.md#invariants,
   * invariant 1). Every branch that ends an attempt comes through here.
   */
  private settle(row: ChangeRow, log: JournalChild | Journal, s: Settlement): void {
    this.settled.push({ row, log, s });
    this.settleSoon();
  }

  /**
   * Asks for a turn when one is needed now — the claimed rows run low, no attempt is running whose end would ask, the
   * worker is stopping, or `concurrency` outcomes wait — and otherwise lets the outcomes wait, at most
   * settleWithinMs, to share the next turn's commit: at one commit per outcome, the commit and claim cost more CPU
   * than the rest of the outbox work together (bench/REPORT.md §2).
   */
  private settleSoon(): void {
    const c = this.opts.concurrency;
    if (!this.running || this.active === 0 || 2 * this.ready.length < c || this.settled.length >= c) {
      this.notify();
      return;
    }
    if (this.settleTimer || this.turnScheduled) return;
    // Not unref'd: outcomes waiting for a commit are work in progress, like the attempts that are still running.
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      this.notify();
    }, this.opts.settleWithinMs ?? SETTLE_WITHIN_MS);
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
        const h = this.health.get(row.target)!;
        const first = !h.paused;
        if (first) {
          this.health.set(row.target, { ...h, paused: true, pausedReason: message, pausedAt: now });
          this.outbox.setTargetPaused(row.target, true, message);
        }
        this.settle(row, log, {
          kind: 'again', state: 'pending', dueAt: now, code, why: message, countAttempt: false,
          ...(first && { event: t.event, fields: { code, error: message, status: err instanceof TargetUnusableError ? err.status : undefined } }),
        });
        return;
      }
      case 'final':
        this.settle(row, log, { kind: 'final', state: t.state, code, why: message, event: t.event, fields: { code, error: message, detail } });
        return;
      case 'retry':
        if (err instanceof RetryableError && err.retryAfterMs !== undefined) this.gates.get(row.target)?.hold(now + err.retryAfterMs);
        this.settle(row, log, {
          kind: 'again', state: t.state, dueAt: now + t.delayMs, code, why: message, countAttempt: t.countAttempt,
          event: t.event, fields: { code, error: message, retryInMs: Math.round(t.delayMs) },
        });
        return;
    }
  }

  private skewMs(): number {
    return typeof this.opts.clockSkewMs === 'function' ? this.opts.clockSkewMs() : this.opts.clockSkewMs;
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
