/**
 * The explorer's HTTP server (`pagestack ui`): the JSON API of types.ts over an Explorer, and the
 * page built by Vite into dist/web. It listens on 127.0.0.1 only and answers only requests that
 * are its own:
 *
 * - Host must be 127.0.0.1:PORT or localhost:PORT. A DNS-rebinding page (evil.example resolving
 *   to 127.0.0.1) sends Host: evil.example, so it gets 403 and never reads a byte of memory.
 * - Origin, when the browser sends one, must be http://127.0.0.1:PORT or http://localhost:PORT,
 *   and Sec-Fetch-Site, when sent, must be same-origin or none (typed in, a bookmark): a page
 *   of another site, or of the same site on another port (same-site: any other loopback server,
 *   which sends no Origin on a plain GET), cannot use the API.
 * - Only GET and HEAD; no CORS headers, so other origins cannot read answers either.
 * - A Content-Security-Policy of 'self' only: the page makes no request but to this server.
 *
 * Errors are JSON ({"error": {"class", "code", "message", "data"}}, the code from src/errors.ts)
 * with a status by code (STATUS): 400 bad parameter, 403 foreign request, 404 unknown path or
 * process, 422 images the library rejects, 500 a bug.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import {
  type ErrorCode,
  ForeignRequestError,
  NotFoundError,
  PagestackError,
  RequestError,
} from '../../errors.js';
import { DEFAULT_SEARCH_MATCHES, type Explorer } from './explorer.js';
import type { ErrorInfo } from './types.js';

export interface UiServerOptions {
  explorer: Explorer;
  /** Directory of the built page (index.html and assets/). */
  webRoot: string;
  /** 0 (default): a free port. */
  port?: number;
}

export interface UiServer {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
};

const CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/** HTTP statuses of the codes that are not 422 (the images or the stack cannot be used as asked). */
const STATUS: Partial<Record<ErrorCode, number>> = {
  PAGESTACK_BAD_REQUEST: 400,
  PAGESTACK_USAGE: 400,
  PAGESTACK_EMPTY_WINDOW: 400,
  PAGESTACK_LAYER_OUT_OF_RANGE: 400,
  PAGESTACK_PID_REQUIRED: 400,
  PAGESTACK_SEARCH_PATTERN: 400,
  PAGESTACK_FOREIGN_REQUEST: 403,
  PAGESTACK_NOT_FOUND: 404,
  PAGESTACK_NO_SUCH_PID: 404,
  PAGESTACK_NO_PAGEMAP: 404,
};

/** HTTP status of an error: by its code (src/errors.ts); 500 for what is not a PagestackError (a bug). */
export function statusOf(err: unknown): number {
  if (err instanceof PagestackError) return STATUS[err.code] ?? 422;
  return 500;
}

export function errorBody(err: unknown): ErrorInfo {
  const cls = err instanceof Error ? err.name : 'Error';
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof PagestackError) {
    return { error: { class: cls, code: err.code, message, data: { ...err.data } } };
  }
  const code = (err as { code?: unknown } | null)?.code;
  return {
    error: {
      class: cls,
      code: typeof code === 'string' ? code : null,
      message: `internal error: ${message}`,
      data: {},
    },
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}

/** Checks that a request comes from the explorer's own page (see the head comment). */
export function checkOwnRequest(req: IncomingMessage, port: number): void {
  const own = [`127.0.0.1:${port}`, `localhost:${port}`];
  const host = req.headers.host ?? '';
  if (!own.includes(host.toLowerCase())) {
    throw new ForeignRequestError(`Host '${host}' is not this server (${own.join(' or ')})`);
  }
  const origin = req.headers.origin;
  if (origin !== undefined && !own.some((h) => origin.toLowerCase() === `http://${h}`)) {
    throw new ForeignRequestError(
      `Origin '${origin}' is not this server: requests from other pages are refused`,
    );
  }
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw new ForeignRequestError(
      `Sec-Fetch-Site '${site}': a request from another page (only this server's own page may ask)`,
    );
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    throw new RequestError(`method ${req.method}: the explorer only answers GET`);
  }
}

/** A number parameter: hex (0x...) or decimal, up to 2^53. */
export function numberParam(q: URLSearchParams, name: string, fallback?: number): number {
  const text = q.get(name);
  if (text === null || text === '') {
    if (fallback !== undefined) return fallback;
    throw new RequestError(`missing parameter '${name}'`);
  }
  const t = text.trim().replace(/_/g, '');
  let v: number;
  if (/^0x[0-9a-f]+$/i.test(t)) {
    const big = BigInt(t);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new RequestError(`${name} '${text}' is beyond 2^53, which pagestack cannot address`);
    }
    v = Number(big);
  } else if (/^[0-9]+(\.[0-9]+)?$/.test(t)) {
    v = Number(t);
    if (!Number.isFinite(v) || v > Number.MAX_SAFE_INTEGER) {
      throw new RequestError(`${name} '${text}' is beyond 2^53, which pagestack cannot address`);
    }
  } else {
    throw new RequestError(`${name} '${text}': expected a number in hex (0x...) or decimal`);
  }
  return v;
}

function intParam(q: URLSearchParams, name: string, fallback?: number): number {
  const v = numberParam(q, name, fallback);
  if (!Number.isInteger(v)) throw new RequestError(`${name} '${q.get(name)}': expected a whole number`);
  return v;
}

function textParam(q: URLSearchParams, name: string): string {
  const v = q.get(name);
  if (v === null || v === '') throw new RequestError(`missing parameter '${name}'`);
  return v;
}

async function api(
  explorer: Explorer,
  path: string,
  q: URLSearchParams,
  signal: AbortSignal,
): Promise<unknown> {
  switch (path) {
    case '/api/stack':
      return explorer.stackInfo();
    case '/api/maps':
      return explorer.mapInfo(intParam(q, 'pid'));
    case '/api/runs':
      return explorer.runs(
        intParam(q, 'pid'),
        numberParam(q, 'from'),
        numberParam(q, 'to'),
        intParam(q, 'buckets'),
      );
    case '/api/at':
      return explorer.pageInfo(intParam(q, 'pid'), intParam(q, 'addr'));
    case '/api/read':
      return explorer.read(intParam(q, 'pid'), intParam(q, 'addr'), intParam(q, 'len', 4096));
    case '/api/diff':
      return explorer.diff(intParam(q, 'pid'), textParam(q, 'a'), textParam(q, 'b'));
    case '/api/diffruns':
      return explorer.diffRuns(
        intParam(q, 'pid'),
        textParam(q, 'a'),
        textParam(q, 'b'),
        numberParam(q, 'from'),
        numberParam(q, 'to'),
        intParam(q, 'buckets'),
      );
    case '/api/diffat':
      return explorer.diffAt(intParam(q, 'pid'), textParam(q, 'a'), textParam(q, 'b'), intParam(q, 'addr'));
    case '/api/search': {
      const mode = q.get('mode') ?? 'text';
      if (mode !== 'text' && mode !== 'hex' && mode !== 'regex') {
        throw new RequestError(`mode '${mode}': expected text, hex or regex`);
      }
      return explorer.search(
        intParam(q, 'pid'),
        textParam(q, 'q'),
        mode,
        q.get('utf16') === '1',
        intParam(q, 'max', DEFAULT_SEARCH_MATCHES),
        signal,
      );
    }
    default:
      throw new NotFoundError(`no API endpoint ${path}`);
  }
}

async function serveStatic(webRoot: string, path: string, res: ServerResponse): Promise<void> {
  let rel = 'index.html';
  if (path !== '/') {
    try {
      rel = decodeURIComponent(path.slice(1));
    } catch {
      throw new RequestError(`path '${path}': a malformed %-escape`);
    }
  }
  const file = normalize(join(webRoot, rel));
  if (!file.startsWith(webRoot.endsWith(sep) ? webRoot : webRoot + sep)) {
    send(res, 404, errorBody(new NotFoundError(`no file ${path}`)));
    return;
  }
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    if (rel === 'index.html') {
      send(res, 500, {
        error: {
          class: 'Error',
          code: 'ENOENT',
          message: `${file}: the page is not built (run npm run build)`,
          data: { file },
        },
      } satisfies ErrorInfo);
    } else send(res, 404, errorBody(new NotFoundError(`no file ${path}`)));
    return;
  }
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-cache',
  });
  res.end(body);
}

/** Starts the server on 127.0.0.1. */
export async function startUiServer(opts: UiServerOptions): Promise<UiServer> {
  const { explorer } = opts;
  const webRoot = normalize(opts.webRoot);
  let port = 0;
  const server = createServer((req, res) => {
    const handle = async (): Promise<void> => {
      checkOwnRequest(req, port);
      const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
      if (url.pathname.startsWith('/api/')) {
        // a page that goes away (or aborts) ends what it asked for, where that can be ended
        const gone = new AbortController();
        res.on('close', () => {
          if (!res.writableEnded) gone.abort();
        });
        send(res, 200, await api(explorer, url.pathname, url.searchParams, gone.signal));
      } else await serveStatic(webRoot, url.pathname, res);
    };
    handle().catch((err: unknown) => {
      if (!res.headersSent) send(res, statusOf(err), errorBody(err));
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
