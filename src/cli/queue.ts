// `pwsync queue list|show|retry|drop`: operator control over queued changes, on the outbox file (works while the
// agent runs; the agent notices a retried change within seconds). Never shows a password: rows hold it sealed.

import path from 'node:path';
import { loadConfig } from '../config/load.js';
import { OUTBOX_FILE, Outbox, type ChangeRow } from '../outbox/store.js';
import { openOutboxReader } from '../outbox/reader.js';
import { changeById, listChanges } from '../outbox/queries.js';
import { FINAL_STATES, OPEN_STATES, type ChangeState } from '../outbox/states.js';
import { fail, parseWithPositionals } from './args.js';
import { dropChange, retryChange } from '../outbox/operator.js';
import { Journal } from '../journal/journal.js';

const ALL_STATES: readonly string[] = [...OPEN_STATES, ...FINAL_STATES];

export async function queueCommand(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  const { values: a, positionals } = parseWithPositionals(rest, {
    config: { type: 'string' }, secret: { type: 'string' }, state: { type: 'string', multiple: true }, account: { type: 'string' },
    limit: { type: 'string' }, json: { type: 'boolean' },
  });
  if (!a.config) return fail('queue: --config FILE is required');
  const { config } = loadConfig(a.config, a.secret);
  const file = path.join(config.agent.data_dir, OUTBOX_FILE);
  const id = positionals[0];
  switch (action) {
    case 'list': {
      const states = (a.state ?? ['pending', 'waiting', 'inflight']) as ChangeState[];
      const bad = states.find((s) => !ALL_STATES.includes(s));
      if (bad) return fail(`queue list: unknown --state value (one of ${ALL_STATES.join(', ')})`);
      const outbox = openOutboxReader(file);
      try {
        const rows = listChanges(outbox, { states, account: a.account, limit: a.limit ? Number(a.limit) : 100 });
        process.stdout.write(a.json ? JSON.stringify(rows, null, 2) + '\n' : rows.map(formatRow).join('\n') + (rows.length ? '\n' : 'no changes\n'));
      } finally {
        outbox.close();
      }
      return 0;
    }
    case 'show': {
      if (!id) return fail('queue show: give a change ID');
      const outbox = openOutboxReader(file);
      try {
        const row = changeById(outbox, id);
        if (!row) return fail(`queue show: no change ${shownId(id)}`);
        process.stdout.write(JSON.stringify(row, null, 2) + '\n');
        return 0;
      } finally {
        outbox.close();
      }
    }
    case 'retry':
    case 'drop': {
      if (!id) return fail(`queue ${action}: give a change ID`);
      if (positionals.length > 1) return fail(`queue ${action}: give one change ID (extra arguments not shown)`);
      // Writes go through the agent's own file with the same pragmas; no key is needed to retry or drop a row.
      const outbox = Outbox.openForOperator(file);
      // The agent's journal shows an operator's act like the console's (5000/5001), journaled before the commit.
      const journal = new Journal({ file: config.log.file, level: config.log.loglevel });
      try {
        const r = action === 'retry' ? retryChange(outbox, journal, id, 'cli') : dropChange(outbox, journal, id, 'cli');
        if (!r.ok) {
          return fail(
            r.why === 'no-change'
              ? `queue ${action}: no change ${shownId(id)}`
              : r.why === 'not-sealed'
                ? `queue retry: change ${id} is ${r.state} and its sealed password is gone; the user must change the password again`
                : `queue ${action}: change ${id} is ${r.state}; only pending and waiting changes can be ${action === 'retry' ? 'retried' : 'dropped'}`,
          );
        }
        process.stdout.write(`${action === 'retry' ? 'retrying' : 'dropped'} ${id}\n`);
        return 0;
      } finally {
        journal.close();
        outbox.close();
      }
    }
    default:
      return fail('queue: use list, show, retry or drop');
  }
}

function formatRow(r: ChangeRow): string {
  const when = r.state === 'waiting' ? ` next ${new Date(r.nextAttemptAt).toISOString()}` : '';
  return `${r.captureId}  ${r.state.padEnd(10)} ${r.account} → ${r.target}  attempts=${r.attempts}${when}${r.lastErrorCode ? `  ${r.lastErrorCode}: ${r.lastError ?? ''}` : ''}`;
}

/** Change IDs are UUIDs; anything else an operator typed there is not echoed (it may be a pasted secret). */
function shownId(id: string): string {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id) ? id : 'with that ID';
}
