// IIJ ID password policy as the emulator enforces it: pure checks on a candidate password.
// Never echoes the password: every violation detail names the rule only.

import type { PasswordPolicy } from './types.js';

// IIJ documents a configurable minimum of 6..24 characters; the maximum and the character rules are our
// assumptions (see README "Password policy").
export const DEFAULT_POLICY: Readonly<PasswordPolicy> = { minLength: 8, maxLength: 24, complexity: true, history: 0 };
const MIN_LENGTH_RANGE = { low: 6, high: 24 } as const;

export class PolicyConfigError extends Error {
  override readonly name = 'PolicyConfigError';
}

/** Merges and validates a policy; throws PolicyConfigError on a setting IIJ could not have. */
export function resolvePolicy(base: Readonly<PasswordPolicy>, input: Partial<PasswordPolicy> = {}): PasswordPolicy {
  const policy: PasswordPolicy = { ...base };
  for (const key of ['minLength', 'maxLength', 'history'] as const) {
    const value = input[key];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value < 0) throw new PolicyConfigError(`policy.${key} must be a non-negative integer`);
    policy[key] = value;
  }
  if (input.complexity !== undefined) {
    if (typeof input.complexity !== 'boolean') throw new PolicyConfigError('policy.complexity must be a boolean');
    policy.complexity = input.complexity;
  }
  if (policy.minLength < MIN_LENGTH_RANGE.low || policy.minLength > MIN_LENGTH_RANGE.high) {
    throw new PolicyConfigError(`policy.minLength must be between ${MIN_LENGTH_RANGE.low} and ${MIN_LENGTH_RANGE.high} (IIJ's range)`);
  }
  if (policy.maxLength < policy.minLength) throw new PolicyConfigError('policy.maxLength must be >= policy.minLength');
  return policy;
}

/** Printable ASCII, space included. Anything else (multibyte, control characters) is refused. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * Returns the human-readable rule the password breaks, or undefined when it is acceptable.
 * History is checked elsewhere (it needs the stored hashes).
 */
export function policyViolation(password: string, policy: Readonly<PasswordPolicy>): string | undefined {
  if (password.length === 0) return 'The password must not be empty.';
  // Checked first: a multibyte password's length in UTF-16 units would otherwise give a misleading detail.
  if (!PRINTABLE_ASCII.test(password)) {
    return 'The password may contain only printable ASCII characters (no multibyte or control characters).';
  }
  if (password.length < policy.minLength) return `The password must be at least ${policy.minLength} characters long.`;
  if (password.length > policy.maxLength) return `The password must be at most ${policy.maxLength} characters long.`;
  if (policy.complexity && characterClasses(password) < 3) {
    return 'The password must contain at least 3 of these 4 character types: upper-case letters, lower-case letters, digits, symbols.';
  }
  return undefined;
}

function characterClasses(password: string): number {
  let classes = 0;
  if (/[A-Z]/.test(password)) classes += 1;
  if (/[a-z]/.test(password)) classes += 1;
  if (/[0-9]/.test(password)) classes += 1;
  if (/[^A-Za-z0-9]/.test(password)) classes += 1;
  return classes;
}
