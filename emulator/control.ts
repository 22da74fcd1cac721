// The emulator's state and every control operation, shared by the in-process API and /_emulator/ routes.
// Never exposes a password, a hash or a full token it did not just create.

import { FaultInjector, RateLimiter } from './faults.js';
import { DEFAULT_POLICY, resolvePolicy } from './policy.js';
import { RequestLog } from './request-log.js';
import { TokenStore } from './auth.js';
import { UserStore } from './users.js';
import type {
  FaultSettings, FaultSettingsInput, NewUserInput, PasswordCheck, PasswordPolicy, SeedFile, TokenInput, TokenSnapshot,
  UserSelector, UserSnapshot,
} from './types.js';

export interface ControlSetup {
  readonly now: () => number;
  readonly hashCost: number;
  readonly seed: SeedFile;
  readonly policy: PasswordPolicy;
  readonly faults: FaultSettingsInput;
  readonly requestLogLimit: number;
}

export class UnknownUserError extends Error {
  override readonly name = 'UnknownUserError';
}

export class EmulatorControl {
  readonly tokens: TokenStore;
  readonly users: UserStore;
  readonly log: RequestLog;
  readonly limiter: RateLimiter;
  faults: FaultInjector;
  private policy: PasswordPolicy;
  /** Set once the server listens; rendered users carry it in meta.location. */
  scimBase = '';

  constructor(private readonly setup: ControlSetup) {
    this.policy = setup.policy;
    this.tokens = new TokenStore(setup.now);
    this.users = new UserStore({ now: setup.now, hashCost: setup.hashCost, policy: () => this.policy });
    this.log = new RequestLog(setup.requestLogLimit);
    this.limiter = new RateLimiter(setup.now);
    this.faults = new FaultInjector(setup.faults);
  }

  /** Loads the seed; also used by reset(). */
  async loadSeed(): Promise<void> {
    for (const token of this.setup.seed.tokens ?? []) this.tokens.add(token);
    for (const user of this.setup.seed.users ?? []) await this.addUser(user);
  }

  async reset(): Promise<void> {
    this.users.clear();
    this.tokens.clear();
    this.log.clear();
    this.limiter.clear();
    this.policy = this.setup.policy;
    this.faults = new FaultInjector(this.setup.faults);
    await this.loadSeed();
  }

  async addUser(input: NewUserInput): Promise<UserSnapshot> {
    const user = await this.users.create(input, 'control');
    return this.users.snapshot(user, this.scimBase);
  }

  getUser(selector: UserSelector): UserSnapshot | undefined {
    const user = this.users.select(selector);
    return user && this.users.snapshot(user, this.scimBase);
  }

  listUsers(): UserSnapshot[] {
    return this.users.all().map((u) => this.users.snapshot(u, this.scimBase));
  }

  setPendingDeletion(selector: UserSelector, pending: boolean): UserSnapshot {
    const user = this.users.select(selector);
    if (!user) throw new UnknownUserError('no such user');
    return this.users.snapshot(this.users.setPendingDeletion(user.id, pending), this.scimBase);
  }

  verifyPassword(selector: UserSelector, password: string): Promise<PasswordCheck> {
    const user = this.users.select(selector);
    if (!user) return Promise.reject(new UnknownUserError('no such user'));
    return this.users.verify(user, password);
  }

  addToken(input: TokenInput): string {
    return this.tokens.add(input);
  }

  revokeToken(token: string): boolean {
    return this.tokens.revoke(token);
  }

  listTokens(): TokenSnapshot[] {
    return this.tokens.list();
  }

  setFaults(input: FaultSettingsInput): FaultSettings {
    return this.faults.update(input);
  }

  getFaults(): FaultSettings {
    return this.faults.snapshot();
  }

  setPolicy(input: Partial<PasswordPolicy>): PasswordPolicy {
    this.policy = resolvePolicy(this.policy, input);
    return { ...this.policy };
  }

  getPolicy(): PasswordPolicy {
    return { ...this.policy };
  }
}

export function initialPolicy(input: Partial<PasswordPolicy> | undefined): PasswordPolicy {
  return resolvePolicy(DEFAULT_POLICY, input);
}
