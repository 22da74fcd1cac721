// The emulator's user directory: create, replace, patch, pending deletion, password set and verify.
// Holds passwords only as scrypt hashes; never renders, logs or returns a password or a hash.

import { randomUUID } from 'node:crypto';
import { KeyedMutex } from './keyed-mutex.js';
import { applyPatch } from './patch.js';
import { hashPassword, passwordMatches, type PasswordHash } from './password-hash.js';
import { policyViolation } from './policy.js';
import { ScimError } from './scim-error.js';
import type { PasswordCheck, PasswordPolicy, UserSelector, UserSnapshot } from './types.js';
import {
  CORE_USER, EXTENSION_URNS, USER_SCHEMAS, displayNameOf, normaliseAttributes, validateAttributes, withDefaults,
  type UserAttributes,
} from './user-schema.js';
import { isPlainObject } from './filter.js';

/** Kept so the history rule can be raised at run time without losing older hashes. */
const HASHES_KEPT = 24;
const PENDING_DETAIL = 'User is pending deletion.';

export interface StoredUser {
  readonly id: string;
  readonly created: number;
  lastModified: number;
  version: number;
  attributes: UserAttributes;
  pendingDeletion: boolean;
  /** Newest first. */
  passwords: PasswordHash[];
  passwordSetCount: number;
  lastPasswordSetAt: number | null;
}

export interface UserStoreOptions {
  readonly now: () => number;
  readonly hashCost: number;
  readonly policy: () => PasswordPolicy;
}

export type Source = 'scim' | 'control';

export interface PatchOutcome {
  readonly stored: StoredUser;
  /** false when only the password changed (answered 204 No Content). */
  readonly changedOtherAttributes: boolean;
}

/** IIJ shows timestamps in Japan time with an explicit offset (+09:00), to the second. */
function japanTime(ms: number): string {
  return new Date(ms + 9 * 3600_000).toISOString().replace(/\.\d{3}Z$/, '+09:00');
}

export class UserStore {
  private readonly users = new Map<string, StoredUser>();
  private readonly locks = new KeyedMutex();

  constructor(private readonly options: UserStoreOptions) {}

  clear(): void {
    this.users.clear();
  }

  all(): StoredUser[] {
    return [...this.users.values()];
  }

  select(selector: UserSelector): StoredUser | undefined {
    if ('id' in selector) return this.users.get(selector.id);
    if ('userName' in selector) {
      const wanted = selector.userName.toLowerCase();
      return this.all().find((u) => String(u.attributes.userName).toLowerCase() === wanted);
    }
    if (selector.externalId === '') return undefined;
    return this.all().find((u) => u.attributes.externalId === selector.externalId);
  }

  /** 404 SCIM error when absent. */
  get(id: string): StoredUser {
    const user = this.users.get(id);
    if (!user) throw new ScimError(404, undefined, `User ${id} not found.`);
    return user;
  }

  async create(body: unknown, source: Source): Promise<StoredUser> {
    if (!isPlainObject(body)) throw new ScimError(400, 'invalidSyntax', 'The request body must be a User object.');
    if (source === 'scim') requireUserSchema(body);
    const { password, pendingDeletion, allowDuplicateExternalId, rest } = takeEmulatorFields(body, source);
    const attributes = withDefaults(normaliseAttributes(rest));
    if (source === 'control' && attributes.emails === undefined) {
      attributes.emails = [{ value: attributes.userName, primary: true }];
    }
    validateAttributes(attributes, true);
    const hash = password === undefined ? undefined : await this.preparePassword(undefined, password, source);
    // Synchronous from here: the uniqueness check and the insert cannot interleave with another request.
    this.assertUnique(attributes, undefined, allowDuplicateExternalId);
    const now = this.options.now();
    const user: StoredUser = {
      id: randomUUID(), created: now, lastModified: now, version: 1, attributes, pendingDeletion,
      passwords: hash ? [hash] : [], passwordSetCount: 0, lastPasswordSetAt: null,
    };
    if (hash && source === 'scim') this.countPasswordSet(user, now);
    this.users.set(user.id, user);
    return user;
  }

  replace(id: string, body: unknown): Promise<StoredUser> {
    return this.locks.run(id, async () => {
      this.writable(id);
      if (!isPlainObject(body)) throw new ScimError(400, 'invalidSyntax', 'The request body must be a User object.');
      requireUserSchema(body);
      const { password, rest } = takeEmulatorFields(body, 'scim');
      const attributes = withDefaults(normaliseAttributes(rest));
      validateAttributes(attributes, true);
      const hash = password === undefined ? undefined : await this.preparePassword(this.get(id), password, 'scim');
      const user = this.writable(id);
      this.assertUnique(attributes, id);
      this.commit(user, attributes, hash);
      return user;
    });
  }

  patch(id: string, body: unknown): Promise<PatchOutcome> {
    return this.locks.run(id, async () => {
      const before = this.writable(id);
      const result = applyPatch(before.attributes, body);
      validateAttributes(result.attributes, true);
      const hash = result.password === undefined ? undefined : await this.preparePassword(before, result.password, 'scim');
      const user = this.writable(id);
      this.assertUnique(result.attributes, id);
      this.commit(user, result.attributes, hash);
      return { stored: user, changedOtherAttributes: result.changedOtherAttributes };
    });
  }

  /** DELETE at IIJ does not remove the user at once: it enters pending deletion (our assumption, see README). */
  delete(id: string): Promise<void> {
    return this.locks.run(id, async () => {
      const user = this.writable(id);
      user.pendingDeletion = true;
      this.touch(user);
    });
  }

  setPendingDeletion(id: string, pending: boolean): StoredUser {
    const user = this.get(id);
    if (user.pendingDeletion !== pending) {
      user.pendingDeletion = pending;
      this.touch(user);
    }
    return user;
  }

  async verify(user: StoredUser, password: string): Promise<PasswordCheck> {
    const current = user.passwords[0];
    const match = current === undefined ? false : await passwordMatches(password, current);
    return {
      match,
      passwordSetCount: user.passwordSetCount,
      lastPasswordSetAt: user.lastPasswordSetAt === null ? null : new Date(user.lastPasswordSetAt).toISOString(),
    };
  }

  render(user: StoredUser, scimBase: string): Record<string, unknown> {
    const { userName, externalId, name, ...others } = user.attributes;
    const extensions: Record<string, unknown> = {};
    const core: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(others)) {
      if ((EXTENSION_URNS as readonly string[]).includes(key)) extensions[key] = value;
      else core[key] = value;
    }
    return {
      schemas: [...USER_SCHEMAS],
      id: user.id,
      externalId: externalId ?? '',
      meta: {
        resourceType: 'User',
        created: japanTime(user.created),
        lastModified: japanTime(user.lastModified),
        location: `${scimBase}Users/${user.id}`,
        version: `W/"${user.version}"`,
      },
      userName,
      ...(name === undefined ? {} : { name }),
      displayName: displayNameOf(user.attributes),
      ...core,
      groups: [],
      ...Object.fromEntries(EXTENSION_URNS.map((urn) => [urn, extensions[urn] ?? {}])),
    };
  }

  snapshot(user: StoredUser, scimBase: string): UserSnapshot {
    return {
      id: user.id,
      userName: String(user.attributes.userName),
      externalId: typeof user.attributes.externalId === 'string' ? user.attributes.externalId : '',
      pendingDeletion: user.pendingDeletion,
      passwordSetCount: user.passwordSetCount,
      lastPasswordSetAt: user.lastPasswordSetAt === null ? null : new Date(user.lastPasswordSetAt).toISOString(),
      scim: this.render(user, scimBase),
    };
  }

  /** The user, if it exists and may be written: 404 when absent, 409 mutability when pending deletion. */
  private writable(id: string): StoredUser {
    const user = this.get(id);
    if (user.pendingDeletion) throw new ScimError(409, 'mutability', PENDING_DETAIL);
    return user;
  }

  /** Policy (SCIM writes only) and history, then the hash. The plaintext goes no further than this. */
  private async preparePassword(user: StoredUser | undefined, password: string, source: Source): Promise<PasswordHash> {
    if (source === 'scim') {
      if (password === '') throw new ScimError(400, 'invalidValue', 'The password cannot be set to the empty string.');
      const policy = this.options.policy();
      const violation = policyViolation(password, policy);
      if (violation !== undefined) throw new ScimError(400, 'invalidValue', violation);
      if (user && policy.history > 0) {
        for (const old of user.passwords.slice(0, policy.history)) {
          if (await passwordMatches(password, old)) {
            throw new ScimError(400, 'invalidValue', `The password must differ from the last ${policy.history} passwords.`);
          }
        }
      }
    }
    return hashPassword(password, this.options.hashCost);
  }

  private commit(user: StoredUser, attributes: UserAttributes, hash: PasswordHash | undefined): void {
    user.attributes = attributes;
    const now = this.touch(user);
    if (hash) {
      user.passwords = [hash, ...user.passwords].slice(0, HASHES_KEPT);
      this.countPasswordSet(user, now);
    }
  }

  private countPasswordSet(user: StoredUser, now: number): void {
    user.passwordSetCount += 1;
    user.lastPasswordSetAt = now;
  }

  private touch(user: StoredUser): number {
    const now = this.options.now();
    user.lastModified = now;
    user.version += 1;
    return now;
  }

  private assertUnique(attributes: UserAttributes, exceptId: string | undefined, allowDuplicateExternalId = false): void {
    const userName = String(attributes.userName).toLowerCase();
    const externalId = typeof attributes.externalId === 'string' ? attributes.externalId : '';
    for (const other of this.users.values()) {
      if (other.id === exceptId) continue;
      const sameName = String(other.attributes.userName).toLowerCase() === userName;
      const sameExternal = !allowDuplicateExternalId && externalId !== '' && other.attributes.externalId === externalId;
      if (!sameName && !sameExternal) continue;
      // Wording from IIJ Directory Sync's documented errors.
      if (other.pendingDeletion) {
        throw new ScimError(409, 'uniqueness', 'A user with the same userName or externalId has not been deleted yet.');
      }
      throw new ScimError(409, 'uniqueness', sameExternal ? 'externalId has already been taken' : 'userName has already been taken');
    }
  }
}

function requireUserSchema(body: Record<string, unknown>): void {
  const schemas = body.schemas;
  if (!Array.isArray(schemas) || !schemas.includes(CORE_USER)) {
    throw new ScimError(400, 'invalidSyntax', `schemas must contain ${CORE_USER}.`);
  }
}

/** Takes password (and, for the control API, pendingDeletion) out of a user body. */
function takeEmulatorFields(body: Record<string, unknown>, source: Source):
  { password: string | undefined; pendingDeletion: boolean; allowDuplicateExternalId: boolean; rest: Record<string, unknown> } {
  const rest: Record<string, unknown> = {};
  let password: string | undefined;
  let pendingDeletion = false;
  let allowDuplicateExternalId = false;
  for (const [key, value] of Object.entries(body)) {
    if (key.toLowerCase() === 'password') {
      if (typeof value !== 'string') throw new ScimError(400, 'invalidValue', 'password must be a string.');
      password = value;
    } else if (source === 'control' && key === 'pendingDeletion') {
      if (typeof value !== 'boolean') throw new ScimError(400, 'invalidValue', 'pendingDeletion must be a boolean.');
      pendingDeletion = value;
    } else if (source === 'control' && key === 'allowDuplicateExternalId') {
      // Control-API back door: IIJ enforces externalId uniqueness, but a client must still survive 2+ search hits
      // (data migrated before the rule, or a different target), so tests can create that inconsistency on purpose.
      allowDuplicateExternalId = value === true;
    } else rest[key] = value;
  }
  return { password, pendingDeletion, allowDuplicateExternalId, rest };
}
