/**
 * Registries for tests.
 *
 * `startRegistry()`: Debian's docker-registry (distribution 2.8) on 127.0.0.1, a free port, its
 * config and storage in the test's own temporary directory; `stop()` kills it by pid and removes
 * the directory. Without the binary the tests skip with one line (SKIP_REGISTRY); with env CI
 * set they fail instead (REGISTRY_REQUIRED).
 *
 * `startBadRegistry(handler)`: a node:http server on 127.0.0.1:0 answering as the test says
 * (401s, 404s, 416s, wrong media types, wrong bytes, huge manifests), for the hostile cases.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { onPath } from './live-criu.js';

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const REGISTRY_BIN = onPath('docker-registry', `${process.env['PATH'] ?? ''}:${SYSTEM_PATH}`);
export const REGISTRY_REQUIRED = !!process.env['CI'];
export const SKIP_REGISTRY: false | string =
  REGISTRY_BIN !== null || REGISTRY_REQUIRED
    ? false
    : 'registry tests skipped: docker-registry is not installed (apt-get install docker-registry)';

export interface Registry {
  /** host:port */
  host: string;
  dir: string;
  pid: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = netServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export async function startRegistry(): Promise<Registry> {
  if (REGISTRY_BIN === null)
    throw new Error('docker-registry is not installed, but CI requires the registry tests');
  const dir = mkdtempSync(join(tmpdir(), 'psreg-'));
  for (let tries = 0; ; tries++) {
    const port = await freePort();
    const cfg = join(dir, 'config.yml');
    writeFileSync(
      cfg,
      `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`,
    );
    const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
    });
    const host = `127.0.0.1:${port}`;
    let up = false;
    for (let i = 0; i < 100 && child.exitCode === null; i++) {
      try {
        const r = await fetch(`http://${host}/v2/`);
        await r.body?.cancel();
        if (r.status === 200) {
          up = true;
          break;
        }
      } catch {}
      await sleep(50);
    }
    const pid = child.pid!;
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise<void>((r) => child.once('exit', () => r()));
        process.kill(pid, 'SIGTERM');
        await Promise.race([gone, sleep(3000)]);
        if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    };
    if (up) return { host, dir, pid, stop };
    if (child.exitCode === null) process.kill(pid, 'SIGKILL');
    if (tries >= 2) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`docker-registry did not start on ${host}: ${err.trim()}`);
    }
  }
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

export interface BadRegistry {
  host: string;
  server: Server;
  /** Requests seen (method and url), in order. */
  seen: string[];
  stop(): Promise<void>;
}

export async function startBadRegistry(handler: Handler): Promise<BadRegistry> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}`);
      handler(req, res, Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    server,
    seen,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
