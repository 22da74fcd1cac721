// The /_emulator/ control API for tests and the demo (users, tokens, faults, policy, verify, request log, reset).
// Never under /scim, never without the X-Emulator-Admin key, and never answers with a password or a hash.

import express, { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { adminKeyMatches } from './auth.js';
import { UnknownUserError, type EmulatorControl } from './control.js';
import { FaultConfigError } from './faults.js';
import { isPlainObject } from './filter.js';
import { PolicyConfigError } from './policy.js';
import { ScimError } from './scim-error.js';
import type { UserSelector } from './types.js';

class BadControlRequest extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function route(handler: (req: Request, res: Response) => Promise<void> | void): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    Promise.resolve().then(() => handler(req, res)).catch(next);
  };
}

function body(req: Request): Record<string, unknown> {
  const value: unknown = req.body;
  if (!isPlainObject(value)) throw new BadControlRequest(400, 'the body must be a JSON object');
  return value;
}

/** Exactly one of id, userName, externalId. */
function selectorOf(value: Record<string, unknown>): UserSelector {
  const given = (['id', 'userName', 'externalId'] as const).filter((k) => typeof value[k] === 'string');
  const key = given[0];
  if (given.length !== 1 || key === undefined) throw new BadControlRequest(400, 'give exactly one of id, userName, externalId');
  const selected = value[key] as string;
  return key === 'id' ? { id: selected } : key === 'userName' ? { userName: selected } : { externalId: selected };
}

export function controlRoutes(control: EmulatorControl, adminKey: string): Router {
  const router = Router();
  router.use((req, res, next) => {
    if (adminKeyMatches(req.header('x-emulator-admin'), adminKey)) return next();
    res.status(401).json({ error: 'X-Emulator-Admin header missing or wrong' });
  });
  router.use(express.json({ limit: '256kb' }));

  router.get('/users', route((_req, res) => void res.json(control.listUsers())));
  router.post('/users', route(async (req, res) => {
    res.status(201).json(await control.addUser(body(req) as Parameters<EmulatorControl['addUser']>[0]));
  }));
  router.get('/users/:id', route((req, res) => {
    const user = control.getUser({ id: req.params.id ?? '' });
    if (!user) throw new UnknownUserError('no such user');
    res.json(user);
  }));
  router.post('/users/:id/pending-deletion', route((req, res) => {
    const { pending } = body(req);
    if (typeof pending !== 'boolean') throw new BadControlRequest(400, 'pending must be a boolean');
    res.json(control.setPendingDeletion({ id: req.params.id ?? '' }, pending));
  }));

  router.get('/tokens', route((_req, res) => void res.json(control.listTokens())));
  router.post('/tokens', route((req, res) => {
    const input = body(req);
    const token = control.addToken(input as unknown as Parameters<EmulatorControl['addToken']>[0]);
    // The full token goes back once, to whoever created it (like IIJ's console shows a new token once).
    res.status(201).json({ token, scopes: input.scopes, expiresAt: input.expiresAt ?? null });
  }));
  router.post('/tokens/revoke', route((req, res) => {
    const { token } = body(req);
    if (typeof token !== 'string') throw new BadControlRequest(400, 'token must be a string');
    if (!control.revokeToken(token)) throw new BadControlRequest(404, 'no such token');
    res.json({ revoked: true });
  }));

  router.get('/faults', route((_req, res) => void res.json(control.getFaults())));
  router.post('/faults', route((req, res) => void res.json(control.setFaults(body(req)))));

  router.get('/policy', route((_req, res) => void res.json(control.getPolicy())));
  router.post('/policy', route((req, res) => void res.json(control.setPolicy(body(req)))));

  router.post('/verify', route(async (req, res) => {
    const input = body(req);
    if (typeof input.password !== 'string') throw new BadControlRequest(400, 'password must be a string');
    res.json(await control.verifyPassword(selectorOf(input), input.password));
  }));

  router.get('/requests', route((_req, res) => void res.json(control.log.list())));
  router.delete('/requests', route((_req, res) => {
    control.log.clear();
    res.status(204).end();
  }));
  router.post('/reset', route(async (_req, res) => {
    await control.reset();
    res.status(204).end();
  }));

  router.use((_req, res) => void res.status(404).json({ error: 'unknown control endpoint' }));
  router.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const [status, message] = controlError(err);
    res.status(status).json({ error: message });
  });
  return router;
}

function controlError(err: unknown): [number, string] {
  if (err instanceof BadControlRequest) return [err.status, err.message];
  if (err instanceof UnknownUserError) return [404, err.message];
  if (err instanceof ScimError) return [err.status, err.message];
  if (err instanceof FaultConfigError || err instanceof PolicyConfigError || err instanceof TypeError) return [400, err.message];
  const type = typeof err === 'object' && err !== null ? (err as { type?: unknown }).type : undefined;
  if (type !== undefined) return [400, 'the body must be valid JSON'];
  return [500, 'internal error'];
}
