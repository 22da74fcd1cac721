// A bare HTTP client for tests of the console and the metrics listener: the request exactly as given (Host, Origin,
// source address, no cookie jar, no redirects followed), so tests can forge what a browser would not send.

import http from 'node:http';

export interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  method?: string;
  cookie?: string;
  /** Sent as application/x-www-form-urlencoded; makes the default method POST. */
  form?: Record<string, string>;
  host?: string;
  origin?: string;
  /** Local (source) address, e.g. another 127.0.0.0/8 address for a per-client throttle. */
  from?: string;
}

export function request(base: string, p: string, opts: RequestOptions = {}): Promise<Res> {
  const u = new URL(p, base);
  const body = opts.form ? new URLSearchParams(opts.form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: opts.method ?? (body ? 'POST' : 'GET'),
        localAddress: opts.from,
        headers: {
          ...(opts.cookie ? { Cookie: opts.cookie } : {}),
          ...(body ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
          ...(opts.host ? { Host: opts.host } : {}),
          ...(opts.origin ? { Origin: opts.origin } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The session cookie a response set (name=value only). */
export const cookieOf = (r: Res): string => (r.headers['set-cookie']?.[0] ?? '').split(';')[0]!;

/** The CSRF token of a console form. */
export const csrfOf = (html: string): string => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
