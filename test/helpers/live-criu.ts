/**
 * Live CRIU for tests: the fixture programs of test/fixtures/criu-4.2/prog/ built with gcc, started,
 * dumped by a real CRIU (4.0 or newer), signalled, restored, and asked to check their own memory.
 *
 * Finding CRIU: env PAGESTACK_CRIU (a criu binary), else `criu` on PATH; used only if its
 * `--version` says 4.0 or newer, and only as root (CRIU needs it). PAGESTACK_CRIT (CRIU's crit) is
 * picked up as `LIVE.crit` for diagnosis; no test needs it. Without a usable CRIU the live tests skip with one line,
 * except in CI (env CI set): there a skip would hide that nothing was tested, so it is a failure.
 *
 * Restores run in a fresh pid namespace (`unshare -p -f --mount-proc`): a restored task gets the
 * pid it had when it was dumped, and in a new namespace that pid is always free, while the dumped
 * original may still run (it is only a child of ours, reaped by us; this machine's init reaps
 * orphans late, so "kill the original, restore at once" is racy). The namespace's init is a shell
 * that runs `criu restore -d` and then sleeps; killing that init kills everything restored in the
 * namespace at once. Every process started here is killed by its pid in an `after` hook (and on
 * process exit), also when a test fails.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
} from 'node:fs';
import { delimiter, join, resolve as resolvePath } from 'node:path';
import { after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PAGE_SIZE } from '../../src/image/pagemap.js';
import { openStackDir } from '../../src/source/open.js';
import { cli } from './cli.js';
import { testDir } from './files.js';
import { FIX } from './fixtures.js';
import { gdbBatch, gdbWords } from './gdb.js';

/** The environment CRIU runs with (it must not see the test runner's). */
const CLEAN_PATH = '/usr/sbin:/usr/bin:/bin';
const CLEAN_ENV = { PATH: CLEAN_PATH };

export interface LiveCriu {
  criu: string;
  /** crit of the same CRIU (PAGESTACK_CRIT), when given and present. */
  crit: string | null;
  /** `--version`'s number, e.g. "4.2". */
  version: string;
}

/** `name` as an executable in the directories of `path` (default: PATH), or null. */
export function onPath(name: string, path = process.env['PATH'] ?? CLEAN_PATH): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not in this directory
    }
  }
  return null;
}

/**
 * A program named by an environment variable: a path (relative ones taken from the current
 * directory, as the user typed it: the tests run criu from other directories) or a name on PATH.
 */
function programFromEnv(value: string): string | null {
  return value.includes('/') ? resolvePath(value) : onPath(value);
}

function findCriu(): { live: LiveCriu; reason: null } | { live: null; reason: string } {
  const fromEnv = process.env['PAGESTACK_CRIU'];
  const criu = fromEnv ? programFromEnv(fromEnv) : onPath('criu');
  if (fromEnv && !criu) return { live: null, reason: `PAGESTACK_CRIU=${fromEnv}: no such program on PATH` };
  if (!criu) return { live: null, reason: 'no CRIU: PAGESTACK_CRIU is not set and there is no criu on PATH' };
  const where = fromEnv ? `PAGESTACK_CRIU=${fromEnv}` : criu;
  if (!existsSync(criu)) return { live: null, reason: `${where} does not exist` };
  const v = spawnSync(criu, ['--version'], { env: CLEAN_ENV, encoding: 'utf8', timeout: 10_000 });
  const m = /Version:\s*(\d+)\.(\d+)/.exec(`${v.stdout ?? ''}`);
  if (!m) {
    const why = v.error
      ? v.error.message
      : (v.stderr || v.stdout || `exit ${v.status}`).trim().split('\n')[0];
    return { live: null, reason: `${where} --version did not print a version (${why})` };
  }
  const version = `${m[1]}.${m[2]}`;
  if (Number(m[1]) < 4)
    return { live: null, reason: `${where} is CRIU ${version}; the live tests need 4.0 or newer` };
  if (process.getuid?.() !== 0)
    return { live: null, reason: `CRIU ${version} found, but the tests do not run as root` };
  for (const tool of ['gcc', 'unshare', 'gdb']) {
    if (!onPath(tool, `${process.env['PATH'] ?? ''}${delimiter}${CLEAN_PATH}`)) {
      return { live: null, reason: `CRIU ${version} found, but ${tool} is not installed` };
    }
  }
  const critEnv = process.env['PAGESTACK_CRIT'];
  const critPath = critEnv ? programFromEnv(critEnv) : null;
  const crit = critPath && existsSync(critPath) ? critPath : null;
  return { live: { criu, crit, version }, reason: null };
}

const found = findCriu();
/** The CRIU the live tests use, or null. */
export const LIVE: LiveCriu | null = found.live;
/** In CI (env CI set, not "0"/"false") the live tests must run: a missing CRIU fails them. */
export const LIVE_REQUIRED = !!process.env['CI'] && !/^(0|false)$/i.test(process.env['CI'] ?? '');
/** Why the live tests cannot run, or null. */
export const LIVE_UNAVAILABLE: string | null = found.reason;
/**
 * The `skip` option of live tests: the one-line reason, or false (also when CRIU is missing in CI,
 * where `requireLive` then fails the tests instead).
 */
export const SKIP_LIVE: false | string =
  LIVE_UNAVAILABLE === null || LIVE_REQUIRED ? false : `live CRIU tests skipped: ${LIVE_UNAVAILABLE}`;

/** The CRIU to use; throws (fails the test) when there is none, which only happens in CI. */
export function requireLive(): LiveCriu {
  if (LIVE) return LIVE;
  throw new Error(`live CRIU tests must run in CI (CI=${process.env['CI']}), but: ${LIVE_UNAVAILABLE}`);
}

// ---------------------------------------------------------------------------------------------
// the pattern of the fixture programs

/** The bytes of `pages` pages at `addr` as the programs write them: u64le(A ^ seed) per word. */
export function patternBytes(addr: number, pages: number, seed: bigint): Buffer {
  const b = Buffer.allocUnsafe(pages * 4096);
  for (let o = 0; o < b.length; o += 8) b.writeBigUInt64LE(BigInt(addr + o) ^ seed, o);
  return b;
}

/** One patterned run of a process's memory: `pages` pages at `addr` with `seed`. */
export interface PatternRun {
  addr: number;
  pages: number;
  seed: bigint;
}

// ---------------------------------------------------------------------------------------------
// running things

/** The last `n` lines of a (log) file, for failure messages. */
export function tail(path: string, n = 25): string {
  try {
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    return lines.slice(-n).join('\n');
  } catch {
    return `(no ${path})`;
  }
}

function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<{
  code: number | null;
  out: string;
}> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? '/', env: CLEAN_ENV, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end();
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** Whether `pid` is running (a zombie counts as gone). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /s.test(stat);
  } catch {
    return false;
  }
}

/** The result a program wrote on SIGUSR2: its marker line and the numbers in it. */
export interface Verified {
  /** The marker's text, e.g. `pid 25238 step 2 bad_words 0`. */
  line: string;
  pid: number;
  step: number | null;
  badWords: number;
}

/** A restore of an image directory in a pid namespace of its own. */
export interface Restore {
  ok: boolean;
  /** CRIU neither finished nor failed in time (and was killed). */
  hung: boolean;
  /** CRIU's exit status and output (also when it failed). */
  code: number | null;
  output: string;
  /** The restore log. */
  log: string;
  /** pid at dump time (inside the namespace) -> host pid of the restored task. */
  pids: Map<number, number>;
  /** Kills everything restored (the namespace's init); safe to call twice. */
  kill(): Promise<void>;
}

/**
 * One test file's live CRIU session: a work directory, the programs it built, everything it
 * started. Create it at the top of a test file; it kills what it started after the file's tests.
 */
export class LiveSession {
  readonly dir: string;
  readonly bin: string;
  readonly logs: string;
  readonly criu: LiveCriu | null;
  private readonly started = new Set<number>();
  private readonly children = new Set<ChildProcess>();
  private logCount = 0;

  constructor(name: string) {
    this.criu = LIVE;
    // `after` hooks run in the order they were registered: kill first, then remove the directory
    after(() => this.killAll());
    this.dir = testDir(`live-${name}`);
    this.bin = join(this.dir, 'bin');
    this.logs = join(this.dir, 'logs');
    mkdirSync(this.bin);
    mkdirSync(this.logs);
    process.once('exit', () => {
      for (const pid of this.started) killPid(pid);
    });
  }

  private get criuPath(): string {
    return requireLive().criu;
  }

  /** Builds a fixture program (`single`, `tree`, `series`) into this session's bin directory. */
  build(prog: 'single' | 'tree' | 'series'): string {
    const out = join(this.bin, prog);
    if (existsSync(out)) return out;
    const src = join(FIX, 'prog', `${prog}.c`);
    const r = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-pthread', '-o', out, src], {
      encoding: 'utf8',
      env: { PATH: `${process.env['PATH'] ?? ''}${delimiter}${CLEAN_PATH}` },
    });
    if (r.status !== 0) throw new Error(`gcc ${src}: ${(r.stderr || r.error?.message || '').trim()}`);
    return out;
  }

  /**
   * Starts a program in its own session with a clean environment, stdin /dev/null and output
   * appended to a log, and waits for its `ready` marker files; returns the pid in each marker
   * (the first number), by marker name. `markers` is a fresh directory for this start.
   */
  async start(
    prog: 'single' | 'tree' | 'series',
    ready: string[],
    timeoutMs = 10_000,
  ): Promise<{ markers: string; pids: Map<string, number>; log: string }> {
    const exe = this.build(prog);
    const markers = join(this.dir, `markers-${prog}-${this.logCount++}`);
    mkdirSync(markers);
    const log = join(this.logs, `${prog}-${this.logCount}.log`);
    const out = openSync(log, 'a');
    const inp = openSync('/dev/null', 'r');
    let child: ChildProcess;
    try {
      child = spawn(exe, [markers, prog], {
        cwd: this.dir,
        detached: true, // setsid: a session of its own
        env: { PATH: '/usr/bin:/bin', HOME: this.dir, LANG: 'C.UTF-8' },
        stdio: [inp, out, out],
      });
    } finally {
      closeSync(out);
      closeSync(inp);
    }
    if (child.pid === undefined) throw new Error(`could not start ${exe}`);
    this.started.add(child.pid);
    this.children.add(child);
    const pid = child.pid;
    child.on('exit', () => {
      // reaped by us: the pid may be reused from now on
      this.children.delete(child);
      this.started.delete(pid);
    });
    const pids = new Map<string, number>();
    for (const m of ready) {
      const text = await this.waitMarker(markers, m, timeoutMs, () =>
        child.exitCode !== null || child.signalCode !== null ? `${prog} exited: ${tail(log, 5)}` : null,
      );
      const p = Number(/^\d+/.exec(text)?.[0]);
      if (p !== pid) this.started.add(p);
      pids.set(m, p);
    }
    return { markers, pids, log };
  }

  /** Waits until `<markers>/<name>` exists; returns its text. `dead` says why to stop waiting. */
  async waitMarker(
    markers: string,
    name: string,
    timeoutMs = 10_000,
    dead: () => string | null = () => null,
  ): Promise<string> {
    const path = join(markers, name);
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (existsSync(path)) return readFileSync(path, 'utf8');
      const why = dead();
      if (why) throw new Error(`waiting for ${name}: ${why}`);
      if (Date.now() > until) throw new Error(`no ${name} in ${markers} after ${timeoutMs} ms`);
      await sleep(5);
    }
  }

  /** Sends `signal` to `pid` (a process this session started or restored). */
  signal(pid: number, signal: NodeJS.Signals): void {
    process.kill(pid, signal);
  }

  /** Kills processes this session started, by pid, and forgets them. */
  stop(...pids: number[]): void {
    for (const pid of pids) {
      if (!this.started.has(pid)) continue;
      killPid(pid);
      this.started.delete(pid);
    }
  }

  /**
   * Sends SIGUSR2 to `hostPid` and returns what the program wrote to `<markers>/<name>` (its own
   * check of all its patterned memory).
   */
  async verifyProcess(hostPid: number, markers: string, name: string, timeoutMs = 10_000): Promise<Verified> {
    rmSync(join(markers, name), { force: true });
    process.kill(hostPid, 'SIGUSR2');
    const line = (
      await this.waitMarker(markers, name, timeoutMs, () => (running(hostPid) ? null : `pid ${hostPid} died`))
    ).trim();
    const m = /^pid (\d+)(?: step (\d+))? bad_words (\d+)$/.exec(line);
    if (!m) throw new Error(`${name}: unexpected marker text ${JSON.stringify(line)}`);
    return {
      line,
      pid: Number(m[1]),
      step: m[2] === undefined ? null : Number(m[2]),
      badWords: Number(m[3]),
    };
  }

  /** `criu dump -t pid -D dir --leave-running`; throws with the log's tail when CRIU fails. */
  async dump(pid: number, dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    const log = join(this.logs, `dump-${this.logCount++}.log`);
    const r = await run(this.criuPath, [
      'dump',
      '-t',
      String(pid),
      '-D',
      dir,
      '--leave-running',
      '-v4',
      '-o',
      log,
    ]);
    if (r.code !== 0) {
      throw new Error(`criu dump -t ${pid} -D ${dir} failed (exit ${r.code}):\n${r.out}\n${tail(log)}`);
    }
  }

  /**
   * `criu restore -d -D dir` in a new pid namespace; resolves when CRIU is done (ok or not). The
   * restored tasks are found by their pid namespace; `ok` is CRIU's success.
   */
  async restore(dir: string, o: { timeoutMs?: number; verbosity?: number } = {}): Promise<Restore> {
    const log = join(this.logs, `restore-${this.logCount++}.log`);
    const script = `"$0" restore -d -D "$1" -v${o.verbosity ?? 4} -o "$2" || exit $?; echo restored; exec sleep 3600`;
    const child = spawn(
      'unshare',
      ['-p', '-f', '--mount-proc', '--kill-child', 'sh', '-c', script, this.criuPath, dir, log],
      {
        cwd: '/',
        env: CLEAN_ENV,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    child.stdin.end();
    if (child.pid === undefined) throw new Error('could not start unshare');
    const unsharePid = child.pid;
    this.started.add(unsharePid);
    this.children.add(child);
    let output = '';
    let initPid: number | null = null;
    const closed = new Promise<number | null>((resolve) => {
      child.on('close', (code) => {
        this.children.delete(child);
        this.started.delete(unsharePid);
        if (initPid !== null) this.started.delete(initPid);
        resolve(code);
      });
    });
    const done = new Promise<boolean>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        output += d.toString();
        if (/^restored$/m.test(output)) resolve(true);
      });
      child.stderr.on('data', (d: Buffer) => {
        output += d.toString();
      });
      void closed.then(() => resolve(false));
    });
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      killPid(unsharePid); // and with it (--kill-child) the namespace's init and all in it
    }, o.timeoutMs ?? 20_000);
    const ok = await done;
    clearTimeout(timer);
    const kill = async (): Promise<void> => {
      if (initPid !== null) killPid(initPid);
      killPid(unsharePid);
      await closed;
    };
    const pids = new Map<number, number>();
    if (ok) {
      // the namespace's init is unshare's only child
      initPid = Number(
        readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(/\s+/)[0],
      );
      this.started.add(initPid);
      const ns = readlinkSync(`/proc/${initPid}/ns/pid`);
      for (const e of readdirSync('/proc')) {
        if (!/^\d+$/.test(e) || Number(e) === initPid) continue;
        try {
          if (readlinkSync(`/proc/${e}/ns/pid`) !== ns) continue;
          const nspid = /^NSpid:\s+(.*)$/m
            .exec(readFileSync(`/proc/${e}/status`, 'utf8'))?.[1]
            ?.trim()
            .split(/\s+/);
          if (nspid) pids.set(Number(nspid[nspid.length - 1]), Number(e));
        } catch {
          // exited meanwhile
        }
      }
    }
    const code = ok ? 0 : await closed;
    const result = { ok, hung, code, output: output.trim(), log: tail(log, 40), pids, kill };
    if (!ok) rmSync(log, { force: true }); // its tail is in the result; a hung CRIU's log grows fast
    return result;
  }

  /** Kills, by pid, everything this session started and is still running. */
  async killAll(): Promise<void> {
    for (const pid of this.started) killPid(pid);
    this.started.clear();
    const waits = [...this.children].map(
      (c) =>
        new Promise<void>((resolve) =>
          c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('close', () => resolve()),
        ),
    );
    await Promise.race([Promise.all(waits), sleep(3000)]);
  }
}

// ---------------------------------------------------------------------------------------------
// what every live dump and stack must satisfy

/** `pagestack verify DIR` says ok (exit 0, one `ok:` line, no error). */
export async function assertVerifies(dir: string): Promise<string> {
  const v = await cli(['verify', dir]);
  assert.equal(v.code, 0, `pagestack verify ${dir}:\n${v.out}${v.err}`);
  assert.doesNotMatch(v.out, /^error:/m, v.out);
  assert.match(v.out, /^ok: /m);
  return v.out.trim();
}

/** Through the library, process `pid` of the stack at `dir` holds exactly the pattern in `runs`. */
export async function assertReadsBack(dir: string, pid: number, runs: readonly PatternRun[]): Promise<void> {
  const stack = await openStackDir(dir);
  try {
    const mem = await stack.process(pid);
    for (const r of runs) {
      const got = Buffer.from(await mem.read(r.addr, r.pages * PAGE_SIZE));
      const want = patternBytes(r.addr, r.pages, r.seed);
      if (!got.equals(want)) {
        let page = 0;
        while (
          got
            .subarray(page * PAGE_SIZE, (page + 1) * PAGE_SIZE)
            .equals(want.subarray(page * PAGE_SIZE, (page + 1) * PAGE_SIZE))
        )
          page++;
        assert.fail(
          `${dir} pid ${pid}: page 0x${(r.addr + page * PAGE_SIZE).toString(16)} does not hold the pattern (seed 0x${r.seed.toString(16)})`,
        );
      }
    }
  } finally {
    await stack.close();
  }
}

/**
 * `pagestack export DIR --pid PID` gives an ELF core in which gdb finds the process (`exe` in its
 * "Core was generated by" line), `threads` LWPs, the first and last word of every run as the pattern
 * says, and no memory at the `absent` addresses.
 */
export async function assertGdbReads(
  dir: string,
  core: string,
  pid: number,
  o: { exe: string; runs: readonly PatternRun[]; absent?: readonly number[]; threads?: number },
): Promise<void> {
  const e = await cli(['export', dir, '--pid', String(pid), '-o', core]);
  assert.equal(e.code, 0, `pagestack export ${dir}: ${e.err}`);
  const want = new Map<number, bigint>();
  const cmds = ['info threads'];
  for (const r of o.runs) {
    for (const a of [r.addr, r.addr + r.pages * PAGE_SIZE - 8]) {
      want.set(a, BigInt(a) ^ r.seed);
      cmds.push(`x/1gx 0x${a.toString(16)}`);
    }
  }
  for (const a of o.absent ?? []) cmds.push(`x/1gx 0x${a.toString(16)}`);
  const out = gdbBatch(core, cmds);
  assert.ok(out.includes(`Core was generated by \`${o.exe}`), `gdb on ${core}:\n${out}`);
  const got = gdbWords(out);
  for (const [a, w] of want) {
    assert.equal(got.get(a), w, `gdb on ${core}: word at 0x${a.toString(16)}\n${out}`);
  }
  for (const a of o.absent ?? []) {
    assert.ok(
      out.includes(`Cannot access memory at address 0x${a.toString(16)}`),
      `gdb on ${core}: 0x${a.toString(16)} should be absent\n${out}`,
    );
  }
  const lwps = out.match(/^[ *]+\d+\s+LWP \d+/gm) ?? [];
  assert.equal(lwps.length, o.threads ?? 1, `gdb on ${core}: threads\n${out}`);
  rmSync(core, { force: true });
}
