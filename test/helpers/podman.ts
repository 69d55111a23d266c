/**
 * Live podman for tests: a private podman (runc, vfs storage, cgroupfs, file events, k8s-file
 * logs, no network) whose whole state lives in one temporary directory, with CRIU found as the
 * live CRIU tests find it (live-criu.ts: PAGESTACK_CRIU, else `criu` on PATH, 4.0 or newer) put
 * first on podman's PATH as `criu` (runc runs whatever `criu` is on PATH).
 *
 * The setup is the one test/fixtures/archives/README.md describes for the archives there. Two
 * settings are needed on these machines: `default_ulimits` (root here has no CAP_SYS_RESOURCE, and
 * podman's default NOFILE of 1048576 makes `runc create` fail with EPERM), and `podman rm -t 0`
 * (the series program ignores SIGTERM: rm would wait 10 s for the stop timeout).
 *
 * Skipping: without podman, runc, or a usable CRIU the podman tests skip with one line; with env CI
 * and PAGESTACK_CRIU both set (CI's promise that CRIU is there) they fail instead.
 *
 * Cleanup (`cleanup()`, from the suite's `after` hook: also when a test fails): every container of the private store is
 * removed (`podman rm -a -f -t 0`), then any process still running whose command line names the
 * state directory (conmon, a container's task) is killed by its pid, mounts under it are
 * unmounted, and the directory is removed.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LIVE, LIVE_REQUIRED, LIVE_UNAVAILABLE, onPath } from './live-criu.js';

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function findPodman(): string | null {
  for (const tool of ['podman', 'runc']) {
    if (!onPath(tool, `${process.env['PATH'] ?? ''}:${SYSTEM_PATH}`)) return `${tool} is not installed`;
  }
  if (LIVE_UNAVAILABLE !== null) return LIVE_UNAVAILABLE;
  return null;
}

/** Why the podman tests cannot run, or null. */
export const PODMAN_UNAVAILABLE: string | null = findPodman();
/** In CI with PAGESTACK_CRIU set, the podman tests must run. */
export const PODMAN_REQUIRED = LIVE_REQUIRED && !!process.env['PAGESTACK_CRIU'];
/** The `skip` option of the podman tests: the one-line reason, or false. */
export const SKIP_PODMAN: false | string =
  PODMAN_UNAVAILABLE === null || PODMAN_REQUIRED ? false : `podman live tests skipped: ${PODMAN_UNAVAILABLE}`;

export interface PodmanRun {
  code: number | null;
  out: string;
  err: string;
}

/**
 * A private podman; create it in a `before` hook and call `cleanup()` from an `after` hook of the
 * same suite (an `after` registered inside a `before` runs when that hook ends).
 */
export class PodmanSession {
  /** The state directory (kept short: conmon's socket paths must fit in 108 bytes). */
  readonly dir: string;
  private readonly env: Record<string, string>;

  constructor() {
    if (PODMAN_UNAVAILABLE !== null || !LIVE) {
      throw new Error(
        `podman live tests must run here (CI and PAGESTACK_CRIU set), but: ${PODMAN_UNAVAILABLE}`,
      );
    }
    this.dir = mkdtempSync(join(tmpdir(), 'pspod-'));
    const d = this.dir;
    for (const sub of ['conf', 'criubin', 'tmp']) mkdirSync(join(d, sub));
    symlinkSync(LIVE.criu, join(d, 'criubin', 'criu'));
    writeFileSync(
      join(d, 'conf', 'containers.conf'),
      `[containers]\nnetns = "none"\nlog_driver = "k8s-file"\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n` +
        `[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nruntime = "runc"\ntmp_dir = "${d}/tmp"\n`,
    );
    writeFileSync(
      join(d, 'conf', 'storage.conf'),
      `[storage]\ndriver = "vfs"\nrunroot = "${d}/runroot"\ngraphroot = "${d}/storage"\n`,
    );
    this.env = {
      CONTAINERS_CONF: join(d, 'conf', 'containers.conf'),
      CONTAINERS_STORAGE_CONF: join(d, 'conf', 'storage.conf'),
      PATH: `${join(d, 'criubin')}:${SYSTEM_PATH}`,
      HOME: d,
    };
  }

  /** Runs `podman args...`; resolves with its exit code and output (never rejects on failure). */
  run(args: string[], timeoutMs = 60_000): Promise<PodmanRun> {
    return new Promise((resolve, reject) => {
      const child = spawn('podman', args, { cwd: this.dir, env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
      child.stdin.end();
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
      });
      child.stderr.on('data', (b: Buffer) => {
        err += b.toString();
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out, err });
      });
    });
  }

  /** Runs podman and throws (naming the command and its output) unless it exits 0; returns stdout. */
  async ok(args: string[], timeoutMs?: number): Promise<string> {
    const r = await this.run(args, timeoutMs);
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')}: exit ${r.code}\n${r.err}${r.out}`);
    return r.out;
  }

  /** Waits until `podman logs NAME` has a line matching `re`; returns the line. */
  async waitLog(name: string, re: RegExp, timeoutMs = 15_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const r = await this.run(['logs', name]);
      last = `${r.out}${r.err}`;
      const line = last.split('\n').find((l) => re.test(l));
      if (line !== undefined) return line;
      if (Date.now() > until)
        throw new Error(`podman logs ${name}: no line matching ${re} after ${timeoutMs} ms:\n${last}`);
      await sleep(50);
    }
  }

  /** Removes every container of this store, kills what is left by pid, unmounts, removes the directory. */
  async cleanup(): Promise<void> {
    await this.run(['rm', '-a', '-f', '-t', '0'], 30_000).catch(() => undefined);
    for (const e of readdirSync('/proc')) {
      if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
      try {
        const cmd = readFileSync(`/proc/${e}/cmdline`, 'latin1');
        if (cmd.includes(this.dir)) process.kill(Number(e), 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(`${this.dir}/`))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) spawnSync('umount', ['-l', m], { env: { PATH: SYSTEM_PATH } });
    rmSync(this.dir, { recursive: true, force: true });
  }
}
