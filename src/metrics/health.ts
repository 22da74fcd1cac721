// Pure: the /healthz verdict. Healthy = the intake accepts changes and no target is paused (invariant 6, docs/architecture.md#invariants).

export interface HealthInput {
  intakeRunning: boolean;
  targets: ReadonlyMap<string, { paused: boolean; pausedReason?: string | undefined }>;
  expiredTokens?: readonly string[];
}

export interface HealthVerdict {
  status: 'ok' | 'failing';
  reasons: string[];
}

export function healthVerdict(h: HealthInput): HealthVerdict {
  const reasons: string[] = [];
  if (!h.intakeRunning) reasons.push('intake is not running');
  for (const [name, t] of h.targets) if (t.paused) reasons.push(`target ${name} is paused: ${t.pausedReason ?? 'unknown reason'}`);
  for (const name of h.expiredTokens ?? []) reasons.push(`target ${name}: access token expired (targets[].token_expires)`);
  return { status: reasons.length === 0 ? 'ok' : 'failing', reasons };
}
