/**
 * `pagestack restore` run as the user would, in a pid namespace of its own (the restored tasks get
 * their dumped pids, free in a new namespace): `unshare -p -f --mount-proc sh -c 'pagestack restore
 * ...; echo pagestack-exit $?; exec sleep 3600'`. The shell is the namespace's init, so what CRIU
 * restored with -d stays alive (reparented to it) after pagestack exits; killing the init (or
 * unshare, --kill-child) ends everything in the namespace. Every process is killed by pid after
 * the test file (and on exit).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { cli } from './cli.js';
import { ROOT } from './fixtures.js';
import type { LiveSession } from './live-criu.js';

const live = new Set<ChildProcess>();
after(() => {
  for (const c of live) killChild(c);
});
process.once('exit', () => {
  for (const c of live) killChild(c);
});

function killChild(c: ChildProcess): void {
  if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

export interface NsRestore {
  /** pagestack's exit status (null until it exited). */
  code: number | null;
  stdout: string;
  stderr: string;
  /** unshare's pid (host); the namespace's init is its only child. */
  unsharePid: number;
  /** Resolves when pagestack has exited (its status in `code`). */
  done: Promise<number | null>;
  /** Host pid of the pagestack process (the init's child), while it runs. */
  pagestackPid(): number | null;
  /** pid in the namespace -> host pid, of every process in it but the init (and `sleep`). */
  processes(): Map<number, { host: number; comm: string }>;
  /** Kills the namespace (init and all in it) and waits for unshare to end. */
  kill(): Promise<void>;
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Starts `pagestack restore ARGS` in a new pid namespace with `env` (PAGESTACK_CRIU, TMPDIR, ...). */
export function restoreInNamespace(args: readonly string[], env: NodeJS.ProcessEnv): NsRestore {
  const script = '"$0" "$@"; echo "pagestack-exit $?"; exec sleep 3600';
  const child = spawn(
    'unshare',
    [
      '-p',
      '-f',
      '--mount-proc',
      '--kill-child',
      'sh',
      '-c',
      script,
      process.execPath,
      '--import',
      'tsx',
      join(ROOT, 'src', 'cli', 'main.ts'),
      'restore',
      ...args,
    ],
    { cwd: ROOT, env: { PATH: '/usr/sbin:/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  if (child.pid === undefined) throw new Error('could not start unshare');
  live.add(child);
  const unsharePid = child.pid;
  const r: NsRestore = {
    code: null,
    stdout: '',
    stderr: '',
    unsharePid,
    done: Promise.resolve(null),
    pagestackPid() {
      const init = childrenOf(unsharePid)[0];
      if (init === undefined) return null;
      for (const p of childrenOf(init)) {
        try {
          if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'node') return p;
        } catch {
          // gone
        }
      }
      return null;
    },
    processes() {
      const out = new Map<number, { host: number; comm: string }>();
      const init = childrenOf(unsharePid)[0];
      if (init === undefined) return out;
      let ns: string;
      try {
        ns = readlinkSync(`/proc/${init}/ns/pid`);
      } catch {
        return out;
      }
      for (const e of readdirSync('/proc')) {
        if (!/^\d+$/.test(e) || Number(e) === init) continue;
        try {
          if (readlinkSync(`/proc/${e}/ns/pid`) !== ns) continue;
          const status = readFileSync(`/proc/${e}/status`, 'utf8');
          if (/^State:\s+Z/m.test(status)) continue;
          const comm = readFileSync(`/proc/${e}/comm`, 'utf8').trim();
          if (comm === 'sleep') continue;
          const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/);
          if (nspid) out.set(Number(nspid[nspid.length - 1]), { host: Number(e), comm });
        } catch {
          // exited meanwhile
        }
      }
      return out;
    },
    async kill() {
      const init = childrenOf(unsharePid)[0];
      if (init !== undefined) {
        try {
          process.kill(init, 'SIGKILL');
        } catch {
          // gone
        }
      }
      killChild(child);
      await new Promise<void>((ok) =>
        child.exitCode !== null || child.signalCode !== null ? ok() : child.once('close', () => ok()),
      );
      live.delete(child);
    },
  };
  r.done = new Promise((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      r.stdout += d.toString();
      const m = /^pagestack-exit (\d+)$/m.exec(r.stdout);
      if (m && r.code === null) {
        r.code = Number(m[1]);
        r.stdout = r.stdout.replace(/^pagestack-exit \d+\n?/m, '');
        resolve(r.code);
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      r.stderr += d.toString();
    });
    child.on('close', () => resolve(r.code));
  });
  return r;
}

/**
 * The `series` program dumped at steps 0, 1 and 2 (then stopped), as a 3-layer stack in the
 * session's directory: dumps/1 <- stack/2 <- stack/3 (delta). Returns the dumped pid, the markers
 * directory the program (and what is restored of it) writes to, and stack/3.
 */
export async function seriesStack(live: LiveSession): Promise<{ pid: number; markers: string; top: string }> {
  const s = await live.start('series', ['series.step0']);
  const pid = s.pids.get('series.step0')!;
  const dumps = [1, 2, 3].map((k) => join(live.dir, 'dumps', String(k)));
  for (let i = 0; i < 3; i++) {
    await live.dump(pid, dumps[i]!);
    if (i < 2) {
      live.signal(pid, 'SIGUSR1');
      await live.waitMarker(s.markers, `series.step${i + 1}`);
    }
  }
  live.stop(pid);
  mkdirSync(join(live.dir, 'stack'));
  const run = async (args: string[]) => {
    const r = await cli(args);
    assert.equal(r.code, 0, `pagestack ${args.join(' ')}: ${r.err}`);
  };
  await run(['delta', dumps[0]!, dumps[1]!, '-o', join(live.dir, 'stack', '2')]);
  await run(['delta', join(live.dir, 'stack', '2'), dumps[2]!, '-o', join(live.dir, 'stack', '3')]);
  return { pid, markers: s.markers, top: join(live.dir, 'stack', '3') };
}
