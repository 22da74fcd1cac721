// startEmulator: an IIJ ID Service API emulator (SCIM 2.0) on 127.0.0.1 for the demo, tests and benchmarks.
// Never binds anything but loopback, and never imports from src/ (the client under test lives there).

import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { EmulatorControl, initialPolicy } from './control.js';
import { controlRoutes } from './control-routes.js';
import { validateFaultInput } from './faults.js';
import { DEFAULT_HASH_COST, isValidHashCost } from './password-hash.js';
import { PendingTimers, scimErrorHandler, scimPipeline, sendScimError } from './scim-pipeline.js';
import { ScimError } from './scim-error.js';
import { scimRoutes } from './scim-routes.js';
import type { Emulator, EmulatorOptions } from './types.js';

export type * from './types.js';

const HOST = '127.0.0.1';

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const now = opts.clock ?? Date.now;
  const hashCost = opts.passwordHashCost ?? DEFAULT_HASH_COST;
  if (!isValidHashCost(hashCost)) throw new RangeError('passwordHashCost must be a power of two between 2 and 2^20');
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError('port must be an integer 0..65535');
  const adminKey = opts.adminKey ?? randomBytes(18).toString('base64url');
  const faults = validateFaultInput({ ...opts.faults, ...(opts.rateLimit ? { rateLimit: opts.rateLimit } : {}) });

  const control = new EmulatorControl({
    now, hashCost, faults,
    seed: opts.seed ?? {},
    policy: initialPolicy(opts.policy),
    requestLogLimit: opts.requestLogLimit ?? 10_000,
  });
  const timers = new PendingTimers();

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag'); // ETags are the resource versions the SCIM routes set, not express' body hashes
  app.use('/scim/v2', ...scimPipeline(control, timers, now), scimRoutes(control), scimErrorHandler);
  app.use('/_emulator', controlRoutes(control, adminKey));
  app.use((req, res) => sendScimError(res, new ScimError(404, undefined, `${req.method} ${req.path} is not served here.`)));

  const server = app.listen({ port, host: HOST });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  const url = `http://${HOST}:${address.port}`;
  control.scimBase = `${url}/scim/v2/`;
  try {
    await control.loadSeed();
  } catch (err) {
    server.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      timers.cancelAll();
      server.close(() => resolve());
      // Held 'timeout' requests and idle keep-alive sockets would otherwise keep close() waiting.
      server.closeAllConnections();
    });
    return closing;
  };

  return {
    url,
    scimBase: control.scimBase,
    port: address.port,
    adminKey,
    close,
    addUser: (input) => control.addUser(input),
    getUser: (selector) => control.getUser(selector),
    listUsers: () => control.listUsers(),
    setPendingDeletion: (selector, pending) => control.setPendingDeletion(selector, pending),
    verifyPassword: (selector, password) => control.verifyPassword(selector, password),
    addToken: (input) => control.addToken(input),
    revokeToken: (token) => control.revokeToken(token),
    listTokens: () => control.listTokens(),
    setFaults: (input) => control.setFaults(input),
    getFaults: () => control.getFaults(),
    setPolicy: (input) => control.setPolicy(input),
    getPolicy: () => control.getPolicy(),
    requestLog: () => control.log.list(),
    clearRequestLog: () => control.log.clear(),
    reset: () => control.reset(),
  };
}
