// The console's view of the last `pwsync report mapping`: counts per target and the problem rows, from the copy the
// command saved in data_dir. Read-only; every value goes through html`` (escaped). No secret is ever in the report.

import { MAPPING_STATUSES } from '../mapping/classify.js';
import type { SavedMappingReport } from '../mapping/output.js';
import { STATUS_LABELS } from '../mapping/run.js';
import { html, type SafeHtml } from './html.js';

const SHOWN_ROWS = 1000;

export function mappingBody(v: { report: SavedMappingReport | undefined; error?: string | undefined }): SafeHtml {
  if (v.error) return html`<h2>Mapping</h2><div class="error">Cannot read the last mapping report: ${v.error}</div>`;
  const r = v.report;
  if (!r)
    return html`<h2>Mapping</h2><p id="mapping-none">No mapping report yet. Run <code>pwsync report mapping --config …</code> (read-only) to prove that
delivery finds every in-scope AD user at each target; its last result is shown here.</p>`;
  const rows = r.rows.slice(0, SHOWN_ROWS);
  return html`
<h2>Mapping: is every in-scope AD user found at each target?</h2>
<p>Report of <time>${r.generatedAt}</time>: ${r.adUsers} in-scope AD users. Run <code>pwsync report mapping</code> again after fixing.</p>
<table id="mapping-counts"><tr><th>Target</th><th>Read by</th>${MAPPING_STATUSES.map((s) => html`<th>${STATUS_LABELS[s]}</th>`)}</tr>
${r.targets.map(
    (t) => html`<tr data-target="${t.name}"><td>${t.name}</td><td>${t.method === 'listing' ? `listing (${t.targetUsers ?? 0} users)` : 'search per user'}</td>
${MAPPING_STATUSES.map((s) => html`<td class="count" data-status="${s}">${s === 'orphan' && t.method !== 'listing' ? '-' : t.counts[s]}</td>`)}</tr>`,
  )}</table>
<h3>Users that need attention</h3>
${r.omittedRows > 0 || r.rows.length > rows.length ? html`<p>Showing ${rows.length} of ${r.rows.length + r.omittedRows}; the CSV from <code>pwsync report mapping --format csv</code> has them all.</p>` : ''}
<table id="mapping-rows"><tr><th>Target</th><th>Status</th><th>Account</th><th>External ID</th><th>Target user ids</th><th>DN</th></tr>
${rows.map(
    (x) => html`<tr class="mapping-row" data-status="${x.status}"><td>${x.target}</td><td>${STATUS_LABELS[x.status]}</td><td>${x.account ?? ''}</td>
<td><code>${x.externalId ?? ''}</code></td><td>${x.targetUserIds.join(' ')}</td><td><code>${x.dn ?? ''}</code></td></tr>`,
  )}</table>`;
}
