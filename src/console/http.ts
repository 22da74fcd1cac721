// The console's HTTP plumbing: replies with the strict security headers every response carries, form bodies
// (size-capped, urlencoded only) and errors that become a status line. Never echoes a request body.

import type http from 'node:http';

export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const MAX_BODY = 16 * 1024;

/** A refusal with its status; the message is fixed text chosen by the console, never request data. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** What a route answers; send() adds the security headers. */
export interface Reply {
  status: number;
  type: string;
  body: string | Buffer;
  headers?: Record<string, string | string[]>;
}

export const htmlReply = (body: string, status = 200, headers: Record<string, string | string[]> = {}): Reply => ({ status, type: 'text/html; charset=utf-8', body, headers });
export const redirectReply = (to: string, headers: Record<string, string | string[]> = {}): Reply => ({ status: 303, type: 'text/plain; charset=utf-8', body: '', headers: { Location: to, ...headers } });

export function send(res: http.ServerResponse, r: Reply): void {
  res.writeHead(r.status, { ...SECURITY_HEADERS, 'Content-Type': r.type, ...r.headers });
  res.end(r.body);
}

export function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') return reject(new HttpError(415, 'form posts only'));
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, 'request too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}
