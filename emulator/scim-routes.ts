// The SCIM 2.0 Users endpoints as IIJ ID documents them (search, get, create, replace, patch, delete).
// Never returns a password: every response body is built by UserStore.render.

import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { EmulatorControl } from './control.js';
import { isPlainObject, UserFilter } from './filter.js';
import { attributeList, project } from './projection.js';
import { ScimError } from './scim-error.js';
import { sendScim } from './scim-pipeline.js';
import type { StoredUser } from './users.js';

export const SEARCH_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
export const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const DEFAULT_COUNT = 100;
const MAX_COUNT = 1000;

function route(handler: (req: Request, res: Response) => Promise<void> | void): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    Promise.resolve().then(() => handler(req, res)).catch(next);
  };
}

interface Query {
  filter: string | undefined;
  attributes: string[] | undefined;
  excluded: string[] | undefined;
  startIndex: number;
  count: number;
}

function integer(raw: unknown, fallback: number): number {
  if (raw === undefined || raw === null || raw === '') return fallback;
  const value = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isInteger(value)) throw new ScimError(400, 'invalidValue', 'startIndex and count must be integers.');
  return value;
}

function readQuery(source: Record<string, unknown>): Query {
  const filter = source.filter;
  if (filter !== undefined && typeof filter !== 'string') throw new ScimError(400, 'invalidFilter', 'The filter must be a string.');
  return {
    filter,
    attributes: attributeList(source.attributes),
    excluded: attributeList(source.excludedAttributes),
    // RFC 7644 §3.4.2.4: startIndex < 1 is read as 1, a negative count as 0.
    startIndex: Math.max(1, integer(source.startIndex, 1)),
    count: Math.min(MAX_COUNT, Math.max(0, integer(source.count, DEFAULT_COUNT))),
  };
}

export function scimRoutes(control: EmulatorControl): Router {
  const router = Router();
  const render = (user: StoredUser): Record<string, unknown> => control.users.render(user, control.scimBase);

  const list = (res: Response, query: Query): void => {
    const filter = query.filter === undefined ? undefined : new UserFilter(query.filter);
    const matched = control.users.all().map(render).filter((u) => filter === undefined || filter.matches(u));
    const page = matched.slice(query.startIndex - 1, query.startIndex - 1 + query.count);
    sendScim(res, 200, {
      schemas: [LIST_RESPONSE],
      totalResults: matched.length,
      startIndex: query.startIndex,
      itemsPerPage: page.length,
      Resources: page.map((u) => project(u, query.attributes, query.excluded)),
    });
  };

  router.post('/Users/.search', route((req, res) => {
    const body: unknown = req.body;
    if (!isPlainObject(body) || !Array.isArray(body.schemas) || !body.schemas.includes(SEARCH_REQUEST)) {
      throw new ScimError(400, 'invalidSyntax', `schemas must contain ${SEARCH_REQUEST}.`);
    }
    list(res, readQuery(body));
  }));

  router.get('/Users', route((req, res) => list(res, readQuery(req.query as Record<string, unknown>))));

  router.get('/Users/:id', route((req, res) => {
    const query = readQuery(req.query as Record<string, unknown>);
    sendScim(res, 200, project(render(control.users.get(req.params.id ?? '')), query.attributes, query.excluded));
  }));

  router.post('/Users', route(async (req, res) => {
    const user = await control.users.create(requireBody(req), 'scim');
    const body = render(user);
    sendScim(res, 201, body, { Location: `${control.scimBase}Users/${user.id}`, ETag: `W/"${user.version}"` });
  }));

  router.put('/Users/:id', route(async (req, res) => {
    const user = await control.users.replace(req.params.id ?? '', requireBody(req));
    sendScim(res, 200, render(user), { ETag: `W/"${user.version}"` });
  }));

  router.patch('/Users/:id', route(async (req, res) => {
    const outcome = await control.users.patch(req.params.id ?? '', requireBody(req));
    // Nothing visible changed when only the password was set: 204, as scimmy-based servers answer (see README).
    if (!outcome.changedOtherAttributes) sendScim(res, 204, undefined);
    else sendScim(res, 200, render(outcome.stored), { ETag: `W/"${outcome.stored.version}"` });
  }));

  router.delete('/Users/:id', route(async (req, res) => {
    await control.users.delete(req.params.id ?? '');
    sendScim(res, 204, undefined);
  }));

  router.use(route((req) => {
    throw new ScimError(404, undefined, `${req.method} ${req.path} is not an endpoint of this emulator.`);
  }));
  return router;
}

function requireBody(req: Request): unknown {
  if (req.body === undefined || !req.is(['application/json', 'application/scim+json'])) {
    throw new ScimError(400, 'invalidSyntax', 'The request body must be JSON (Content-Type: application/scim+json).');
  }
  return req.body;
}
