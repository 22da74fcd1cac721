// The IIJ ID emulator as the benchmarks run it: emulator/server.ts's own pipeline (request log, injected latency,
// faults, token auth, rate limit), routes, password hashing and policy — plus one bench-only shortcut in front
// of POST /Users/.search. Never used by tests or the demo: they use startEmulator unchanged.
//
// Why the shortcut: the emulator answers a search by rendering every user and running scimmy's filter on each
// (emulator/scim-routes.ts `list`), ~37 µs per user on the bench machine — 180+ ms per search with 5 000 users.
// A benchmark of the agent against that measures the emulator. The shortcut picks candidates by comparing the
// raw externalId case-insensitively (a superset of what `externalId eq "v"` can match), then renders only those
// and runs the emulator's own UserFilter on them, so the answer is the one `list` would give.

import type { AddressInfo } from 'node:net';
import express, { type RequestHandler } from 'express';
import { EmulatorControl, initialPolicy } from '../../emulator/control.js';
import { controlRoutes } from '../../emulator/control-routes.js';
import { validateFaultInput } from '../../emulator/faults.js';
import { isPlainObject, UserFilter } from '../../emulator/filter.js';
import { project } from '../../emulator/projection.js';
import { ScimError } from '../../emulator/scim-error.js';
import { PendingTimers, scimErrorHandler, scimPipeline, sendScim, sendScimError } from '../../emulator/scim-pipeline.js';
import { LIST_RESPONSE, SEARCH_REQUEST, scimRoutes } from '../../emulator/scim-routes.js';
import type { FaultSettingsInput } from '../../emulator/types.js';

export interface BenchEmulator {
  control: EmulatorControl;
  scimBase: string;
  /** Searches answered by the shortcut / passed on to the emulator's own route. */
  searchStats: { indexed: number; fallback: number };
  /** Every SCIM request received, by method (what a target's rate limit counts). */
  requestCounts: Record<string, number>;
  close(): Promise<void>;
}

/** `externalId eq "v"` anywhere in the filter (IIJ's agent and ours send `externalId pr and (externalId eq "v")`). */
const EXTERNAL_ID_EQ = /externalId\s+eq\s+"((?:[^"\\]|\\.)*)"/i;

export async function startBenchEmulator(opts: { hashCost: number; faults?: FaultSettingsInput }): Promise<BenchEmulator> {
  const now = Date.now;
  const control = new EmulatorControl({
    now, hashCost: opts.hashCost, faults: validateFaultInput({ ...opts.faults }), seed: {}, policy: initialPolicy(undefined), requestLogLimit: 1000,
  });
  // Second shortcut, same reasoning: UserStore.assertUnique scans every user on every PATCH. A write that keeps the
  // user's own userName and externalId cannot create a duplicate (both were unique when stored), so only a write
  // that changes one of them goes through the full scan.
  const users = control.users as unknown as {
    assertUnique(attributes: Record<string, unknown>, exceptId?: string, allowDuplicate?: boolean): void;
  };
  const fullCheck = users.assertUnique.bind(control.users);
  users.assertUnique = (attributes, exceptId, allowDuplicate) => {
    const own = exceptId === undefined ? undefined : safeGet(exceptId);
    if (own && String(own.attributes.userName).toLowerCase() === String(attributes.userName).toLowerCase() && own.attributes.externalId === attributes.externalId) return;
    fullCheck(attributes, exceptId, allowDuplicate);
  };
  const safeGet = (id: string) => {
    try {
      return control.users.get(id);
    } catch {
      return undefined;
    }
  };
  const timers = new PendingTimers();
  const searchStats = { indexed: 0, fallback: 0 };
  const requestCounts: Record<string, number> = {};
  const countRequest: RequestHandler = (req, _res, next) => {
    requestCounts[req.method] = (requestCounts[req.method] ?? 0) + 1;
    next();
  };
  // Lower-cased externalId → user ids; rebuilt when the user count changes (the bench only adds users).
  let index = new Map<string, string[]>();
  let indexedCount = -1;
  const candidates = (value: string): string[] => {
    const users = control.users.all();
    if (users.length !== indexedCount) {
      index = new Map();
      for (const u of users) {
        const key = String(u.attributes.externalId ?? '').toLowerCase();
        index.set(key, [...(index.get(key) ?? []), u.id]);
      }
      indexedCount = users.length;
    }
    return index.get(value.toLowerCase()) ?? [];
  };

  const fastSearch: RequestHandler = (req, res, next) => {
    if (req.method !== 'POST' || req.path !== '/Users/.search') return next();
    const body: unknown = req.body;
    if (!isPlainObject(body) || !Array.isArray(body.schemas) || !body.schemas.includes(SEARCH_REQUEST) || typeof body.filter !== 'string') return next();
    const m = EXTERNAL_ID_EQ.exec(body.filter);
    if (!m || body.startIndex !== undefined || body.count !== undefined || body.excludedAttributes !== undefined) {
      searchStats.fallback++;
      return next();
    }
    let filter: UserFilter;
    let value: string;
    try {
      value = JSON.parse(`"${m[1]!}"`) as string;
      filter = new UserFilter(body.filter);
    } catch (err) {
      return next(err instanceof ScimError ? err : new ScimError(400, 'invalidFilter', 'The filter is invalid.'));
    }
    searchStats.indexed++;
    const attributes = Array.isArray(body.attributes) ? body.attributes.map(String) : undefined;
    const matched = candidates(value)
      .map((id) => control.users.render(control.users.get(id), control.scimBase))
      .filter((u) => filter.matches(u));
    sendScim(res, 200, {
      schemas: [LIST_RESPONSE], totalResults: matched.length, startIndex: 1, itemsPerPage: matched.length,
      Resources: matched.map((u) => project(u, attributes, undefined)),
    });
  };

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use('/scim/v2', countRequest, ...scimPipeline(control, timers, now), fastSearch, scimRoutes(control), scimErrorHandler);
  app.use('/_emulator', controlRoutes(control, 'bench-admin-key-not-secret'));
  app.use((req, res) => sendScimError(res, new ScimError(404, undefined, `${req.method} ${req.path} is not served here.`)));
  const server = app.listen({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  control.scimBase = `${url}/scim/v2/`;
  return {
    control, scimBase: control.scimBase, searchStats, requestCounts,
    close: () =>
      new Promise<void>((resolve) => {
        timers.cancelAll();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
