// Windows FILETIME (pwdLastSet, lastLogonTimestamp …: 100 ns ticks since 1601-01-01 UTC, as a decimal string
// in LDAP) ⇄ Date. Pure. Comparisons use BigInt: the values exceed Number.MAX_SAFE_INTEGER (2^53).

/** Ticks between 1601-01-01 and 1970-01-01 (11 644 473 600 s × 10^7). */
const EPOCH_DIFF = 116444736000000000n;
const TICKS_PER_MS = 10000n;
/** 0x7FFFFFFFFFFFFFFF: AD's "never" (accountExpires); never a real time. */
const NEVER = 0x7fffffffffffffffn;

function parse(ft: string | bigint): bigint {
  if (typeof ft === 'bigint') return ft;
  if (!/^-?\d{1,20}$/.test(ft.trim())) throw new RangeError('FILETIME must be a decimal integer string');
  return BigInt(ft.trim());
}

/**
 * FILETIME → Date, or undefined when the value is not a point in time: pwdLastSet `0` means "must change at
 * next logon" (MS-ADA3 pwdLastSet), and 0x7FFFFFFFFFFFFFFF means "never".
 */
export function filetimeToDate(ft: string | bigint): Date | undefined {
  const t = parse(ft);
  if (t <= 0n || t >= NEVER) return undefined;
  return new Date(Number((t - EPOCH_DIFF) / TICKS_PER_MS));
}

/** Date → FILETIME decimal string (millisecond precision; sub-ms ticks are zero). */
export function dateToFiletime(date: Date): string {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('invalid Date');
  const t = BigInt(ms) * TICKS_PER_MS + EPOCH_DIFF;
  if (t < 0n) throw new RangeError('date before 1601-01-01');
  return t.toString();
}

/** Orders two FILETIME strings numerically (-1, 0, 1); string comparison would be wrong for unequal lengths. */
export function compareFiletime(a: string | bigint, b: string | bigint): -1 | 0 | 1 {
  const x = parse(a);
  const y = parse(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
