/**
 * Small helpers for the page-server tests that run real CRIU (kept apart from the generic live-CRIU
 * harness being written on another branch, so the two can be merged later): find CRIU >= 4.0, build
 * a fixture program, start it and kill it by pid, run criu with a clean environment.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { ROOT } from './fixtures.js';

/** The criu binary to use: $PAGESTACK_CRIU, else `criu` on PATH when its version is >= 4.0. */
export function findCriu(): { criu: string } | { skip: string } {
  const env = process.env['PAGESTACK_CRIU'];
  const candidates = env ? [env] : ['criu'];
  for (const c of candidates) {
    const r = spawnSync(c, ['--version'], { encoding: 'utf8' });
    const m = /Version: (\d+)\.(\d+)/.exec(r.stdout ?? '');
    if (!m) continue;
    if (Number(m[1]) >= 4) return { criu: c };
    if (env) return { skip: `PAGESTACK_CRIU=${env} is CRIU ${m[1]}.${m[2]}, need >= 4.0` };
  }
  return { skip: env ? `PAGESTACK_CRIU=${env} does not run` : 'no CRIU >= 4.0 (set PAGESTACK_CRIU)' };
}

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
export function logTail(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no log at ${path})`;
  }
}
