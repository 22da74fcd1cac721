// What happens to every /scim/v2 request before a route sees it: logging, latency, faults, auth, rate limit, body.
// Never logs a body or a full token; never busy-waits (delays are timers the server can cancel on close).

import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { READ_SCOPE, WRITE_SCOPE, tokenPreview, type Caller } from './auth.js';
import type { EmulatorControl } from './control.js';
import { ScimError } from './scim-error.js';

export const SCIM_CONTENT_TYPE = 'application/scim+json; charset=utf-8';

/** Timers the server must cancel on close (latency, held 'timeout' requests). */
export class PendingTimers {
  private readonly timers = new Set<NodeJS.Timeout>();

  after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  cancelAll(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

export function sendScim(res: Response, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.status(status);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (body === undefined) {
    res.end();
    return;
  }
  res.setHeader('Content-Type', SCIM_CONTENT_TYPE);
  res.send(JSON.stringify(body));
}

export function sendScimError(res: Response, error: ScimError): void {
  sendScim(res, error.status, error.toBody(), error.headers);
}

interface Locals {
  caller?: Caller;
  fault?: string;
}

function locals(res: Response): Locals {
  return res.locals as Locals;
}

function bearerPreview(req: Request): string | null {
  const match = /^Bearer +(\S+)/i.exec(req.header('authorization') ?? '');
  return match?.[1] ? tokenPreview(match[1]) : null;
}

export function scimPipeline(control: EmulatorControl, timers: PendingTimers, now: () => number): RequestHandler[] {
  const logRequest: RequestHandler = (req, res, next) => {
    const started = now();
    const path = req.originalUrl.split('?')[0] ?? req.originalUrl;
    res.on('close', () => {
      control.log.push({
        at: new Date(started).toISOString(),
        method: req.method,
        path,
        status: res.writableFinished ? res.statusCode : null,
        token: bearerPreview(req),
        ...(locals(res).fault === undefined ? {} : { fault: locals(res).fault }),
        durationMs: Math.max(0, now() - started),
      });
    });
    next();
  };

  const addLatency: RequestHandler = (_req, _res, next) => {
    const ms = control.faults.latencyMs;
    if (ms > 0) timers.after(ms, next);
    else next();
  };

  const injectFaults: RequestHandler = (req, res, next) => {
    const decision = control.faults.pick(req.method, req.path);
    if (!decision) return next();
    if (decision.kind === 'reset') {
      locals(res).fault = 'reset';
      req.socket.destroy();
      return;
    }
    if (decision.kind === 'timeout') {
      locals(res).fault = 'timeout';
      // Hold the request past the client's timeout, then drop the connection without an answer.
      timers.after(control.faults.timeoutMs, () => req.socket.destroy());
      return;
    }
    locals(res).fault = String(decision.status);
    const headers: Record<string, string> = {};
    if (decision.retryAfter !== undefined && (decision.status === 429 || decision.status === 503)) {
      headers['Retry-After'] = String(decision.retryAfter);
    }
    // No scimType for 429: RFC 7644's "tooMany" means too many results, not a rate limit.
    sendScimError(res, new ScimError(decision.status, undefined, `Injected fault: HTTP ${decision.status}.`, headers));
  };

  const authenticate: RequestHandler = (req, res, next) => {
    // Search is a read even though it is a POST (IIJ: POST /Users/.search needs escim_read_users).
    const isRead = req.method === 'GET' || req.method === 'HEAD' || (req.method === 'POST' && req.path.endsWith('/.search'));
    try {
      const caller = control.tokens.authenticate(req.header('authorization'), isRead ? READ_SCOPE : WRITE_SCOPE);
      locals(res).caller = caller;
    } catch (err) {
      return next(err);
    }
    const wait = control.limiter.take(locals(res).caller?.key ?? '', control.faults.rateLimit);
    if (wait !== undefined) {
      sendScimError(res, new ScimError(429, undefined, 'Too many requests for this access token.', { 'Retry-After': String(wait) }));
      return;
    }
    next();
  };

  const parseBody = express.json({ type: ['application/json', 'application/scim+json'], limit: '256kb' });

  return [logRequest, addLatency, injectFaults, authenticate, parseBody];
}

/** Last handler: SCIM error JSON for everything, with fixed details for parser errors (they quote the body). */
export function scimErrorHandler(err: unknown, _req: Request, res: Response, _next: NextFunction): void {
  if (err instanceof ScimError) return sendScimError(res, err);
  const type = typeof err === 'object' && err !== null ? (err as { type?: unknown }).type : undefined;
  if (type === 'entity.parse.failed') return sendScimError(res, new ScimError(400, 'invalidSyntax', 'The request body is not valid JSON.'));
  if (type === 'entity.too.large') return sendScimError(res, new ScimError(413, undefined, 'The request body is too large.'));
  if (type !== undefined) return sendScimError(res, new ScimError(400, 'invalidSyntax', 'The request body could not be read.'));
  sendScimError(res, new ScimError(500, undefined, 'Internal server error.'));
}
