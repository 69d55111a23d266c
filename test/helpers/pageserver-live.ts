/**
 * Small helpers for the page-server tests that run real CRIU (which CRIU, and whether the tests
 * run, is live-criu.ts's): build a fixture program, start it and kill it by pid, run criu with a
 * clean environment.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { ROOT } from './fixtures.js';

/** Builds test/fixtures/criu-4.2/prog/<name>.c into `dir`; returns the binary's path. */
export function buildProgram(name: string, dir: string): string {
  const out = join(dir, name);
  execFileSync('gcc', [
    '-O2',
    '-Wall',
    '-pthread',
    '-o',
    out,
    join(ROOT, 'test', 'fixtures', 'criu-4.2', 'prog', `${name}.c`),
  ]);
  return out;
}

/** Pids this test file started (or had restored): killed after its tests, by pid. */
const started = new Set<number>();
after(() => {
  for (const pid of started) killPid(pid);
});

export function track(pid: number): void {
  started.add(pid);
}

export function killPid(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
  if (signal === 'SIGKILL') started.delete(pid);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts a fixture program in its own session with a clean environment (as the fixtures' README). */
export function startProgram(bin: string, args: string[], cwd: string, log: string): ChildProcess {
  const child = spawn('sh', ['-c', `exec setsid "$0" "$@" </dev/null >>"${log}" 2>&1`, bin, ...args], {
    cwd,
    env: { PATH: '/usr/bin:/bin' },
    stdio: 'ignore',
  });
  if (child.pid) track(child.pid);
  return child;
}

export async function waitFor<T>(
  what: string,
  fn: () => T | null | undefined | false,
  timeoutMs = 20000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 25));
  }
}

/** Waits until `path` exists and returns its text. */
export function waitFile(path: string, timeoutMs = 20000): Promise<string> {
  return waitFor(path, () => (existsSync(path) ? readFileSync(path, 'utf8') : null), timeoutMs);
}

export interface CriuRun {
  code: number | null;
  stderr: string;
}

/** Runs criu as the fixtures' README says: clean environment, cwd `cwd`. */
export function runCriu(criu: string, args: string[], cwd: string): Promise<CriuRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(criu, args, {
      cwd,
      env: { PATH: '/usr/sbin:/usr/bin:/bin' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr: err }));
  });
}

/** The last lines of a CRIU log, for assertion messages. */
/**
 * `criu dump -t PID -D d --page-server --address 127.0.0.1 --port PORT --leave-running` (with
 * `extra` options, e.g. TLS), logging at -v4 to `log` (default d/dump.log).
 */
export function pageServerDump(
  criu: string,
  pid: number,
  d: string,
  port: string | number,
  cwd: string,
  extra: readonly string[] = [],
  log = join(d, 'dump.log'),
): Promise<CriuRun> {
  return runCriu(
    criu,
    [
      'dump',
      '-t',
      String(pid),
      '-D',
      d,
      '--page-server',
      '--address',
      '127.0.0.1',
      '--port',
      String(port),
      '--leave-running',
      ...extra,
      '-v4',
      '-o',
      log,
    ],
    cwd,
  );
}

/**
 * A lazy restore from the restore-side directory R: `criu lazy-pages --page-server` pulling from
 * the page server on `port`, then `criu restore --lazy-pages -d` once the daemon's socket is there.
 * `restored` runs as soon as the restore returns (to track the restored pids before waiting for
 * the daemon). Returns both runs (logs in `dir`: lazy-pages.log, lazy-restore.log); the caller asserts.
 */
export async function lazyRestore(
  criu: string,
  R: string,
  port: string,
  dir: string,
  restored: () => void,
): Promise<{ restore: CriuRun; daemon: CriuRun }> {
  const daemon = runCriu(
    criu,
    [
      'lazy-pages',
      '--page-server',
      '--address',
      '127.0.0.1',
      '--port',
      port,
      '-D',
      R,
      '-v4',
      '-o',
      join(dir, 'lazy-pages.log'),
    ],
    dir,
  );
  await waitFor('lazy-pages.socket', () => existsSync(join(R, 'lazy-pages.socket')));
  const restore = await runCriu(
    criu,
    ['restore', '-D', R, '--lazy-pages', '-d', '-v4', '-o', join(dir, 'lazy-restore.log')],
    dir,
  );
  restored();
  return { restore, daemon: await daemon };
}

export function logTail(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no log at ${path})`;
  }
}

export interface TestCerts {
  ca: string;
  srvCert: string;
  srvKey: string;
  cliCert: string;
  cliKey: string;
}

/**
 * A throw-away ECDSA P-256 CA with a server and a client certificate for 127.0.0.1 (SAN IP, as CRIU
 * checks names: PAGESERVER.md 9.1), made with openssl in `dir`. `prefix` names a second, unrelated set.
 */
export function makeCerts(dir: string, prefix = ''): TestCerts {
  const p = (n: string) => join(dir, `${prefix}${n}`);
  const ossl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc'];
  ossl([
    'req',
    '-x509',
    '-new',
    ...ec,
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.pem'),
    '-days',
    '30',
    '-subj',
    `/CN=pagestack test CA ${prefix}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  for (const [n, eku] of [
    ['srv', 'serverAuth'],
    ['cli', 'clientAuth'],
  ] as const) {
    ossl(['req', '-new', ...ec, '-keyout', p(`${n}.key`), '-out', p(`${n}.csr`), '-subj', '/CN=127.0.0.1']);
    writeFileSync(
      p(`${n}.ext`),
      [
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature',
        `extendedKeyUsage=${eku}`,
        'subjectAltName=IP:127.0.0.1',
        '',
      ].join('\n'),
    );
    ossl([
      'x509',
      '-req',
      '-in',
      p(`${n}.csr`),
      '-CA',
      p('ca.pem'),
      '-CAkey',
      p('ca.key'),
      '-CAcreateserial',
      '-days',
      '30',
      '-sha256',
      '-extfile',
      p(`${n}.ext`),
      '-out',
      p(`${n}.pem`),
    ]);
  }
  return {
    ca: p('ca.pem'),
    srvCert: p('srv.pem'),
    srvKey: p('srv.key'),
    cliCert: p('cli.pem'),
    cliKey: p('cli.key'),
  };
}

/** Whether openssl is there to make certificates. */
export const HAVE_OPENSSL = spawnSync('openssl', ['version']).status === 0;
