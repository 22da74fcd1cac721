// Tests only: the SQLite connection behind an Outbox or a read handle, to stage what no API may do — tamper with a
// sealed row, break the CHECK constraint, fill the disk on the agent's own connection. src/ never reaches it.

import type { OutboxReader } from '../../src/outbox/reader.js';
import type { SqlDatabase } from '../../src/outbox/sqlite-driver.js';
import type { Outbox } from '../../src/outbox/store.js';

export function rawConnection(o: Outbox | OutboxReader): SqlDatabase {
  return (o as unknown as { db: SqlDatabase }).db;
}
