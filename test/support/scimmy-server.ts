// A second, independent SCIM 2.0 server for tests: scimmy parses filters, PATCH and projections (code we did not
// write), express serves it on 127.0.0.1. Test-only; never imports from src/ and never stores a plaintext password.

import { randomBytes, randomUUID, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import express from 'express';
import SCIMMY from 'scimmy';
import SCIMMYRouters from 'scimmy-routers';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number) => Promise<Buffer>;

export type ScimmyAuth = { type: 'basic'; user: string; password: string } | { type: 'bearer'; token: string };

export interface ScimmyRequest {
  method: string;
  /** Path without query string. */
  path: string;
  /** The raw `filter` query parameter as the server received it (decoded by express), if any. */
  filter?: string;
  status?: number;
}

export interface ScimmyUserInput {
  userName: string;
  externalId?: string;
  password?: string;
}

export interface ScimmyServer {
  readonly url: string;
  /** e.g. http://127.0.0.1:PORT/scim/v2/ */
  readonly scimBase: string;
  /** Adds a user straight into the store (uniqueness is NOT enforced, so tests can create duplicates). */
  addUser(input: ScimmyUserInput): Promise<{ id: string }>;
  verifyPassword(userName: string, password: string): Promise<boolean>;
  /** How many times a password was written through SCIM (POST/PUT/PATCH) for this user. */
  passwordWrites(userName: string): number;
  readonly requestCount: number;
  requests(): ScimmyRequest[];
  close(): Promise<void>;
}

interface StoredUser {
  id: string;
  attributes: Record<string, unknown>;
  passwordHash?: { salt: Buffer; hash: Buffer };
  passwordWrites: number;
  created: Date;
  lastModified: Date;
}

/** One store per server; scimmy's resource declarations are process-global, so handlers find it via ctx. */
class Store {
  readonly users = new Map<string, StoredUser>();

  async setPassword(user: StoredUser, password: string): Promise<void> {
    const salt = randomBytes(16);
    user.passwordHash = { salt, hash: await scrypt(password, salt, 32) };
    user.passwordWrites += 1;
  }

  view(u: StoredUser): Record<string, unknown> {
    return { ...u.attributes, id: u.id, meta: { resourceType: 'User', created: u.created, lastModified: u.lastModified } };
  }
}

interface Ctx {
  store: Store;
}

// scimmy's generic handler types do not fit a plain store; the handlers below check what they use.
type LooseHandler = (...args: never[]) => unknown;
interface LooseResource {
  ingress(h: LooseHandler): LooseResource;
  egress(h: LooseHandler): LooseResource;
  degress(h: LooseHandler): LooseResource;
}

let declared = false;

function declareUserResource(): void {
  if (declared) return;
  declared = true;
  SCIMMY.Config.set({ patch: true, filter: true, changePassword: true });
  (SCIMMY.Resources.declare(SCIMMY.Resources.User) as unknown as LooseResource)
    .ingress(async (resource: { id?: string }, instance: Record<string, unknown>, ctx: Ctx) => {
      const store = ctx.store;
      // password is writeOnly/returned:never in scimmy's schema, so it is absent from JSON.stringify(instance).
      const password = instance['password'] as string | undefined;
      const plain = JSON.parse(JSON.stringify(instance)) as Record<string, unknown>;
      delete plain['password'];
      delete plain['meta'];
      delete plain['id'];
      let user: StoredUser | undefined;
      if (resource.id) {
        user = store.users.get(resource.id);
        if (!user) throw new SCIMMY.Types.Error(404, null as unknown as string, `Resource ${resource.id} not found`);
        user.attributes = plain;
        user.lastModified = new Date();
      } else {
        const now = new Date();
        user = { id: randomUUID(), attributes: plain, passwordWrites: 0, created: now, lastModified: now };
        store.users.set(user.id, user);
      }
      if (typeof password === 'string') await store.setPassword(user, password);
      return store.view(user);
    })
    .egress((resource: { id?: string; filter?: { match(list: unknown[]): unknown[] } }, ctx: Ctx) => {
      const store = ctx.store;
      if (resource.id) {
        const user = store.users.get(resource.id);
        if (!user) throw new SCIMMY.Types.Error(404, null as unknown as string, `Resource ${resource.id} not found`);
        return store.view(user);
      }
      const all = [...store.users.values()].map((u) => store.view(u));
      return resource.filter ? resource.filter.match(all) : all;
    })
    .degress((resource: { id?: string }, ctx: Ctx) => {
      if (!resource.id || !ctx.store.users.delete(resource.id)) {
        throw new SCIMMY.Types.Error(404, null as unknown as string, `Resource ${resource.id} not found`);
      }
    });
}

export async function startScimmyServer(auth: ScimmyAuth): Promise<ScimmyServer> {
  declareUserResource();
  const store = new Store();
  const log: ScimmyRequest[] = [];
  const expected =
    auth.type === 'basic' ? `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}` : `Bearer ${auth.token}`;

  const app = express();
  app.use((req, res, next) => {
    const entry: ScimmyRequest = { method: req.method, path: req.path };
    if (typeof req.query['filter'] === 'string') entry.filter = req.query['filter'];
    log.push(entry);
    res.on('finish', () => (entry.status = res.statusCode));
    next();
  });
  app.use(
    '/scim/v2',
    new SCIMMYRouters({
      type: auth.type,
      docUri: 'https://example.test/scim-auth',
      handler: (req) => {
        const given = Buffer.from(req.header('authorization') ?? '');
        const want = Buffer.from(expected);
        if (given.length !== want.length || !timingSafeEqual(given, want)) throw new Error('Authorization failure');
        return 'tester';
      },
      context: (): Ctx => ({ store }),
    }) as unknown as express.Router,
  );

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  const byUserName = (userName: string): StoredUser | undefined =>
    [...store.users.values()].find((u) => u.attributes['userName'] === userName);

  return {
    url,
    scimBase: `${url}/scim/v2/`,
    async addUser(input) {
      const now = new Date();
      const attributes: Record<string, unknown> = {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        userName: input.userName,
        active: true,
      };
      if (input.externalId !== undefined) attributes['externalId'] = input.externalId;
      const user: StoredUser = { id: randomUUID(), attributes, passwordWrites: 0, created: now, lastModified: now };
      store.users.set(user.id, user);
      if (input.password !== undefined) {
        await store.setPassword(user, input.password);
        user.passwordWrites = 0; // seeding is not a SCIM write
      }
      return { id: user.id };
    },
    async verifyPassword(userName, password) {
      const h = byUserName(userName)?.passwordHash;
      if (!h) return false;
      return timingSafeEqual(await scrypt(password, h.salt, 32), h.hash);
    },
    passwordWrites: (userName) => byUserName(userName)?.passwordWrites ?? 0,
    get requestCount() {
      return log.length;
    },
    requests: () => log.map((e) => ({ ...e })),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
