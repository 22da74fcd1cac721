// Server-rendered console pages. Every value goes through html`` (escaped); the chart is numbers only.
// Pages show metadata (accounts, states, codes, times): no password, token or ciphertext is ever passed in.

import type { JournalEntry } from '../journal/journal.js';
import type { ChangeRow } from '../outbox/change-row.js';
import type { CoverageRow } from '../coverage/report.js';
import { html, trusted, type SafeHtml } from './html.js';
import { OUTCOMES, renderChartSvg, type ChartData } from './chart.js';
import type { TokenExpiry } from '../metrics/token-expiry.js';
import type { HealthVerdict } from '../metrics/health.js';

export interface PageContext {
  csrf: string;
  now: number;
  flash?: { kind: 'notice' | 'error'; text: string } | undefined;
}

const NAV: Array<[string, string]> = [['/', 'Overview'], ['/queue', 'Queue'], ['/events', 'Events'], ['/coverage', 'Coverage'], ['/mapping', 'Mapping'], ['/metrics', 'Metrics']];

export function layout(title: string, current: string, ctx: PageContext, body: SafeHtml, refreshSeconds?: number): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · pwsync</title><link rel="stylesheet" href="/static/console.css"><script src="/static/console.js" defer></script></head>
<body${refreshSeconds ? html` data-refresh="${refreshSeconds}"` : ''}>
<header><h1>pwsync</h1><nav>${NAV.map(([href, label]) => html`<a href="${href}"${href === current ? html` class="current"` : ''}>${label}</a>`)}</nav>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="${ctx.csrf}"><button type="submit">Log out</button></form></header>
<main>${ctx.flash ? html`<div class="${ctx.flash.kind}" role="status">${ctx.flash.text}</div>` : ''}${body}</main></body></html>`.value;
}

export function loginPage(csrf: string, error?: string): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in · pwsync</title><link rel="stylesheet" href="/static/console.css"></head>
<body><form class="login" method="post" action="/login"><h1>pwsync console</h1>
${error ? html`<div class="error" role="alert">${error}</div>` : ''}
<label for="token">Admin token (secret.yml console.admin_token)</label>
<input type="password" id="token" name="token" autocomplete="current-password" required autofocus>
<input type="hidden" name="csrf" value="${csrf}"><button type="submit">Log in</button></form></body></html>`.value;
}

export function formatTime(ms: number | null | undefined, now: number): string {
  if (ms === null || ms === undefined) return 'never';
  return `${new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')} (${formatAge(now - ms)} ago)`;
}

export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)}h`;
  return `${(s / 86_400).toFixed(1)}d`;
}

export interface TargetView {
  name: string;
  type: string;
  url: string;
  paused: boolean;
  reason: string | null;
  pausedAt: number | null;
  lastSuccessAt: number | null;
  lastErrorAt: number | null;
  lastError: string | null;
  expiry: TokenExpiry | undefined;
}

function expiryCell(x: TokenExpiry | undefined): SafeHtml {
  if (!x) return html`unknown (set targets[].token_expires)`;
  const date = new Date(x.expiresAt).toISOString().slice(0, 10);
  if (x.threshold === 0) return html`<span class="bad">EXPIRED on ${date}</span>`;
  if (x.threshold !== null) return html`<span class="warn">${date}: ${x.daysLeft} day(s) left</span>`;
  return html`${date} (${x.daysLeft} days left)`;
}

export function overviewBody(v: {
  targets: TargetView[];
  counts: Record<string, number>;
  oldestOpenAgeMs: number | null;
  chart: ChartData;
  health: HealthVerdict;
  now: number;
}): SafeHtml {
  const states = ['pending', 'waiting', 'inflight', 'done', 'superseded', 'rejected', 'expired'];
  return html`
<h2>Health</h2>
<p id="health">${v.health.status === 'ok' ? html`<span class="ok">OK</span>: intake running, every target delivering` : html`<span class="bad">FAILING</span>`}</p>
${v.health.reasons.length ? html`<ul>${v.health.reasons.map((r) => html`<li>${r}</li>`)}</ul>` : ''}
<h2>Targets</h2>
<div class="cards">${v.targets.map(
    (t) => html`<section class="card target" data-target="${t.name}"><h3>${t.name} <small>(${t.type})</small></h3><dl>
<dt>State</dt><dd class="target-state">${t.paused ? html`<span class="bad">PAUSED</span> since ${formatTime(t.pausedAt, v.now)}: <span class="reason">${t.reason ?? 'unknown'}</span>` : html`<span class="ok">running</span>`}</dd>
<dt>URL</dt><dd><code>${t.url}</code></dd>
<dt>Last success</dt><dd class="last-success">${formatTime(t.lastSuccessAt, v.now)}</dd>
<dt>Last error</dt><dd class="last-error">${t.lastError ? html`${formatTime(t.lastErrorAt, v.now)}: ${t.lastError}` : 'none'}</dd>
<dt>Token expiry</dt><dd class="token-expiry">${expiryCell(t.expiry)}</dd></dl></section>`,
  )}</div>
<h2>Queue</h2>
<table id="queue-counts"><tr>${states.map((s) => html`<th>${s}</th>`)}<th>oldest open</th></tr>
<tr>${states.map((s) => html`<td class="num" data-state="${s}">${v.counts[s] ?? 0}</td>`)}<td class="num">${v.oldestOpenAgeMs === null ? '-' : formatAge(v.oldestOpenAgeMs)}</td></tr></table>
<h2>Changes per minute, last 24 hours (UTC)</h2>
<p class="legend">${OUTCOMES.map((o) => html`<span><i class="sw sw-${o}"></i>${o}: ${v.chart.totals[o]}</span>`)}</p>
${trusted(renderChartSvg(v.chart))}`;
}

const STATE_LABEL: Record<string, string> = { done: 'synced' };
export const stateLabel = (s: string) => STATE_LABEL[s] ?? s;

function actionForms(r: ChangeRow, csrf: string): SafeHtml {
  const retry = r.hasSecret && r.state !== 'inflight'
    ? html`<form class="inline" method="post" action="/changes/retry"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="id" value="${r.id}"><button type="submit">Retry now</button></form>`
    : '';
  const drop = ['pending', 'waiting'].includes(r.state)
    ? html` <form class="inline" method="post" action="/changes/drop" data-confirm="${`Drop the change for ${r.account}? The user must change the password again.`}"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="id" value="${r.id}"><button type="submit">Drop</button></form>`
    : '';
  return html`${retry}${drop}`;
}

function changeRows(rows: readonly ChangeRow[], now: number, csrf: string | undefined): SafeHtml {
  return html`${rows.map(
    (r) => html`<tr class="change" data-change="${r.captureId}" data-account="${r.account}" data-state="${r.state}">
<td>${r.account}</td><td>${r.target}</td><td class="state">${stateLabel(r.state)}</td><td class="num">${r.attempts}</td>
<td>${formatTime(r.receivedAt, now)}</td><td>${r.lastErrorCode ?? ''} ${r.lastError ?? ''}</td><td><code>${r.captureId}</code></td>
${csrf === undefined ? '' : html`<td>${actionForms(r, csrf)}</td>`}</tr>`,
  )}`;
}

const HEAD = html`<tr><th>Account</th><th>Target</th><th>State</th><th>Attempts</th><th>Received</th><th>Last error</th><th>Change ID</th>`;

export function queueBody(v: { open: ChangeRow[]; expired: ChangeRow[]; recent: ChangeRow[]; now: number; csrf: string }): SafeHtml {
  return html`
<h2>Waiting and pending changes (${v.open.length})</h2>
<p>Retry makes a change due now (after fixing its cause, e.g. once the user exists at the target). Drop ends it; the user must change the password again.</p>
<table id="open-changes">${HEAD}<th>Actions</th></tr>${changeRows(v.open, v.now, v.csrf)}</table>
<h2>Expired changes (${v.expired.length})</h2>
<p>Their sealed passwords are erased: these users must change their password again to sync it.</p>
<table id="expired-changes">${HEAD}</tr>${changeRows(v.expired, v.now, undefined)}</table>
<h2>Recent changes</h2>
<table id="recent-changes">${HEAD}</tr>${changeRows(v.recent, v.now, undefined)}</table>`;
}

const BASE_KEYS = new Set(['ts', 'id', 'level', 'msg']);

export function eventsBody(v: { entries: JournalEntry[]; user: string; eventId: string; scanned: number }): SafeHtml {
  return html`
<h2>Recent events</h2>
<form method="get" action="/events" id="event-search"><label>User <input name="user" value="${v.user}"></label>
<label>Event ID <input name="id" value="${v.eventId}" inputmode="numeric" size="6"></label> <button type="submit">Search</button></form>
<p>${v.entries.length} matching of the last ${v.scanned} events, newest first. IDs are listed in docs/events.md and docs/console.md.</p>
<table id="events"><tr><th>Time</th><th>ID</th><th>Level</th><th>Message</th><th>Details</th></tr>
${v.entries.map(
    (e) => html`<tr class="event" data-id="${e.id}"><td>${e.ts}</td><td>${e.id}</td><td>${e.level}</td><td>${e.msg}</td>
<td>${Object.entries(e)
      .filter(([k]) => !BASE_KEYS.has(k))
      .map(([k, val]) => html`<code>${k}=${typeof val === 'string' ? val : JSON.stringify(val)}</code> `)}</td></tr>`,
  )}</table>`;
}

export function coverageBody(v: { rows: CoverageRow[] | undefined; missing: CoverageRow[]; userCount: number; error?: string | undefined }): SafeHtml {
  if (v.error) return html`<h2>Coverage</h2><div class="error">Cannot read the in-scope users from AD: ${v.error}</div>`;
  return html`
<h2>Coverage: users whose current AD password has not reached a target</h2>
<p>${v.userCount} in-scope users (ad.ldap.filter.user under base_dn); <strong id="missing-count">${v.missing.length}</strong> (user, target) pairs not synced.
<a href="/coverage.csv">Download CSV</a> · <a href="/coverage.csv?all=1">CSV with every user</a></p>
<p>"never": no password ever delivered; "stale": the AD password changed after the last delivery. Either way the user must change the password (on a DC with the agent) for it to sync.</p>
<table id="coverage"><tr><th>Target</th><th>Account</th><th>Status</th><th>AD pwdLastSet</th><th>Last delivery</th><th>Enabled</th><th>DN</th></tr>
${v.missing.map(
    (r) => html`<tr class="coverage-row" data-account="${r.account}"><td>${r.target}</td><td>${r.account}</td><td>${r.status}</td><td>${r.pwdLastSet ?? '-'}</td>
<td>${r.lastDelivery ?? 'never'}</td><td>${r.enabled === null ? '' : r.enabled ? 'yes' : 'no'}</td><td><code>${r.dn}</code></td></tr>`,
  )}</table>`;
}
