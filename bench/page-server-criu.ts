/**
 * The live half of bench/page-server.ts (`--criu [PATH]`, root): real CRIU 4.2 dumps a process with
 * `--mib` MiB of memory (bench/prog/fill.c, built with gcc in a temp dir), interleaved:
 *   receive: `criu dump --page-server` to CRIU's own `criu page-server -D DIR` (writes the pages, no
 *     fsync) and to pagestack's PageServer (compares every page with the layer below, writes only
 *     the changed ones, fsyncs, renames the layer into place): first layer (nothing below), then,
 *     after the process rewrote 10% of its pages, second layer (90% equal to layer 1);
 *     time = from the dump's start until both the dump and the server are done;
 *   lazy: pages per second answered to `criu lazy-pages --page-server` during
 *     `criu restore --lazy-pages` (in a new pid namespace), the source being CRIU's own
 *     (`criu dump --lazy-pages`, the frozen process) or `pagestack page-server --lazy` serving the
 *     2-layer stack; time = from the restore's start until the daemon has every page and exits.
 *     The restored process then checks all its pages (`bad_pages 0`).
 * The load average is printed with every figure (the machine is shared).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  cpSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addImages } from '../src/ops/add-images.js';
import { lazyImages } from '../src/ops/lazy-images.js';
import { PageServer, type SessionResult } from '../src/server/page-server.js';
import { CLEAN_ENV } from './env.js';

const HERE = dirname(fileURLToPath(import.meta.url));

const started = new Set<number>();
function kill(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
  started.delete(pid);
}
process.on('exit', () => {
  for (const p of started) kill(p);
});

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => ok(p));
    });
  });
}

async function waitFor<T>(what: string, fn: () => T | null | undefined | false, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 10));
  }
}

interface Run {
  child: ChildProcess;
  done: Promise<number | null>;
}

function run(cmd: string, args: string[], cwd: string, statusFd = false): Run {
  const child = spawn(cmd, args, {
    cwd,
    env: CLEAN_ENV,
    stdio: statusFd ? ['ignore', 'ignore', 'pipe', 'pipe'] : ['ignore', 'ignore', 'pipe'],
  });
  if (child.pid) started.add(child.pid);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const done = new Promise<number | null>((ok) =>
    child.on('close', (code) => {
      if (child.pid) started.delete(child.pid);
      if (code !== 0 && err) process.stderr.write(`${cmd} ${args[0]}: ${err.trim()}\n`);
      ok(code);
    }),
  );
  return { child, done };
}

/** Resolves when a `--status-fd 3` criu writes its byte (it is about to accept). */
function statusByte(r: Run): Promise<void> {
  return new Promise((ok, fail) => {
    const s = r.child.stdio[3] as NodeJS.ReadableStream;
    s.once('data', () => ok());
    void r.done.then((c) => fail(new Error(`criu exited (${c}) before it listened`)));
  });
}

function tail(log: string): string {
  try {
    return readFileSync(log, 'utf8').trimEnd().split('\n').slice(-8).join('\n');
  } catch {
    return `(no ${log})`;
  }
}

function must(code: number | null, what: string, log: string): void {
  if (code !== 0) throw new Error(`${what} failed (exit ${code}):\n${tail(log)}`);
}

export interface LiveOptions {
  criu: string;
  mib: number;
  rounds: number;
  lazy: boolean;
  out: (line: string) => void;
}

export async function liveBench(o: LiveOptions): Promise<void> {
  const { criu, mib } = o;
  const dir = execFileSync('mktemp', ['-d', '/tmp/pagestack-bench-criu-XXXXXX'], { encoding: 'utf8' }).trim();
  const markers = join(dir, 'markers');
  mkdirSync(markers);
  let prog: Run | undefined;
  try {
    const bin = join(dir, 'fill');
    execFileSync('gcc', ['-O2', '-Wall', '-o', bin, join(HERE, 'prog', 'fill.c')]);
    prog = run(
      'sh',
      ['-c', 'exec setsid "$0" "$@" </dev/null >/dev/null 2>&1', bin, markers, String(mib)],
      dir,
    );
    const pid = Number(
      (
        await waitFor(
          'fill to be ready',
          () => existsSync(join(markers, 'fill.ready')) && readFileSync(join(markers, 'fill.ready'), 'utf8'),
        )
      ).trim(),
    );
    const pages = mib * 256;
    let n = 0;

    const dumpTo = (port: number, dumpDir: string, log: string): Run => {
      mkdirSync(dumpDir, { recursive: true });
      return run(
        criu,
        [
          'dump',
          '-t',
          String(pid),
          '-D',
          dumpDir,
          '--page-server',
          '--address',
          '127.0.0.1',
          '--port',
          String(port),
          '--leave-running',
          '-v2',
          '-o',
          log,
        ],
        dir,
      );
    };

    /**
     * One dump to `criu page-server`; `ms` its time, `durableMs` that plus an fsync of every file
     * it wrote, done after it (CRIU's server does not fsync; pagestack's layer is fsynced before it
     * appears, so this is the like-for-like figure).
     */
    const criuReceive = async (): Promise<{ ms: number; durableMs: number }> => {
      const srvDir = join(dir, `criu-srv-${n}`);
      const dumpDir = join(dir, `criu-dump-${n++}`);
      mkdirSync(srvDir);
      const port = await freePort();
      const srv = run(
        criu,
        [
          'page-server',
          '-D',
          srvDir,
          '--address',
          '127.0.0.1',
          '--port',
          String(port),
          '--status-fd',
          '3',
          '-v2',
          '-o',
          join(srvDir, 'ps.log'),
        ],
        dir,
        true,
      );
      await statusByte(srv);
      const t = performance.now();
      const dump = dumpTo(port, dumpDir, join(dumpDir, 'dump.log'));
      const [dc, sc] = await Promise.all([dump.done, srv.done]);
      const ms = performance.now() - t;
      for (const f of readdirSync(srvDir)) {
        const fd = openSync(join(srvDir, f), 'r');
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      }
      const durableMs = performance.now() - t;
      must(dc, 'criu dump to criu page-server', join(dumpDir, 'dump.log'));
      must(sc, 'criu page-server', join(srvDir, 'ps.log'));
      rmSync(srvDir, { recursive: true });
      rmSync(dumpDir, { recursive: true });
      return { ms, durableMs };
    };

    /** One dump into `stack`; returns the time and the dump's -D (for add-images). */
    const pagestackReceive = async (
      stack: string,
    ): Promise<{ ms: number; dumpDir: string; r: SessionResult }> => {
      const server = await PageServer.start({ stack, port: await freePort() });
      const dumpDir = join(dir, `ps-dump-${n++}`);
      try {
        const session = new Promise<SessionResult>((ok) => server.onSession(ok));
        const t = performance.now();
        const dump = dumpTo(server.port, dumpDir, join(dumpDir, 'dump.log'));
        const [dc, r] = await Promise.all([dump.done, session]);
        const ms = performance.now() - t;
        must(dc, 'criu dump to pagestack page-server', join(dumpDir, 'dump.log'));
        if (!r.ok) throw new Error(`pagestack session failed: ${r.error}`);
        return { ms, dumpDir, r };
      } finally {
        await server.close();
      }
    };

    const rate = (ms: number) => `${((mib / ms) * 1000).toFixed(0)} MiB/s`;
    const line = (what: string, c: { ms: number; durableMs: number }, p: number, extra = '') =>
      o.out(
        `  ${what}: criu page-server ${c.ms.toFixed(0)} ms (${rate(c.ms)}), pagestack ${p.toFixed(0)} ms (${rate(p)}), ${(c.ms / p).toFixed(2)}x CRIU's speed; criu page-server + fsync ${c.durableMs.toFixed(0)} ms: ${(c.durableMs / p).toFixed(2)}x${extra}  [load ${load()}]`,
      );
    const best = (a: { ms: number; durableMs: number }, b: { ms: number; durableMs: number }) => ({
      ms: Math.min(a.ms, b.ms),
      durableMs: Math.min(a.durableMs, b.durableMs),
    });
    o.out(
      `page-server receive, live: criu dump of a ${mib} MiB process over loopback (${o.rounds} rounds each, interleaved, best shown):`,
    );

    // first layer
    const base = join(dir, 'stack');
    const fresh = join(dir, 'fresh');
    let c1 = { ms: Infinity, durableMs: Infinity };
    let p1 = Infinity;
    let layer1Dump = '';
    for (let i = 0; i < o.rounds; i++) {
      c1 = best(c1, await criuReceive());
      const r = await pagestackReceive(fresh);
      p1 = Math.min(p1, r.ms);
      if (i === o.rounds - 1) {
        mkdirSync(base);
        renameSync(join(fresh, '1'), join(base, '1'));
        layer1Dump = r.dumpDir;
      } else rmSync(r.dumpDir, { recursive: true });
      rmSync(fresh, { recursive: true, force: true });
      o.out(
        `    round ${i + 1}: criu so far ${c1.ms.toFixed(0)} ms (+ fsync ${c1.durableMs.toFixed(0)} ms), pagestack ${r.ms.toFixed(0)} ms  [load ${load()}]`,
      );
    }
    line('first layer (all pages new)  ', c1, p1);

    // second layer: 10% of the pages rewritten
    process.kill(pid, 'SIGUSR1');
    await waitFor('fill step 1', () => existsSync(join(markers, 'fill.step1')));
    let c2 = { ms: Infinity, durableMs: Infinity };
    let p2 = Infinity;
    let kept = 0;
    let layer2Dump = '';
    for (let i = 0; i < o.rounds; i++) {
      c2 = best(c2, await criuReceive());
      const r = await pagestackReceive(base);
      p2 = Math.min(p2, r.ms);
      kept = r.r.stats?.pagesKept ?? 0;
      if (i < o.rounds - 1) {
        rmSync(join(base, '2'), { recursive: true });
        rmSync(r.dumpDir, { recursive: true });
      } else layer2Dump = r.dumpDir;
      o.out(
        `    round ${i + 1}: criu so far ${c2.ms.toFixed(0)} ms (+ fsync ${c2.durableMs.toFixed(0)} ms), pagestack ${r.ms.toFixed(0)} ms  [load ${load()}]`,
      );
    }
    line('second layer (90% unchanged) ', c2, p2, `; pagestack kept ${kept} of ${pages} pages`);
    if (!o.lazy) return;

    // lazy: pagestack serving the 2-layer stack
    await addImages({ layer: join(base, '1'), from: layer1Dump });
    await addImages({ layer: join(base, '2'), from: layer2Dump });
    const psR = join(dir, 'R-pagestack');
    await lazyImages({ top: join(base, '2'), out: psR });
    const log: string[] = [];
    const lazyServer = await PageServer.start({
      stack: base,
      port: await freePort(),
      lazy: {},
      log: (l) => log.push(l),
    });
    let psLazy: { ms: number; verified: string };
    try {
      psLazy = await lazyRestore(lazyServer.port, psR, 'pagestack');
    } finally {
      await lazyServer.close();
    }
    const summary = log.find((l) => l.includes('lazy session done')) ?? '(no summary)';

    // lazy: CRIU's own source, `criu dump --lazy-pages` of the same process (needs 4 MiB pipes, 5.4)
    const pipeMax = readFileSync('/proc/sys/fs/pipe-max-size', 'utf8').trim();
    let criuLazy: { ms: number; verified: string };
    try {
      if (Number(pipeMax) < 4194304) writeFileSync('/proc/sys/fs/pipe-max-size', '4194304');
      const port = await freePort();
      const dumpDir = join(dir, 'lazy-dump');
      mkdirSync(dumpDir);
      const dump = run(
        criu,
        [
          'dump',
          '-t',
          String(pid),
          '-D',
          dumpDir,
          '--lazy-pages',
          '--address',
          '127.0.0.1',
          '--port',
          String(port),
          '--status-fd',
          '3',
          '-v2',
          '-o',
          join(dumpDir, 'dump.log'),
        ],
        dir,
        true,
      );
      await statusByte(dump);
      const R = join(dir, 'R-criu');
      cpSync(dumpDir, R, { recursive: true });
      criuLazy = await lazyRestore(port, R, 'criu');
      must(await dump.done, 'criu dump --lazy-pages', join(dumpDir, 'dump.log'));
    } finally {
      writeFileSync('/proc/sys/fs/pipe-max-size', pipeMax);
    }
    const pps = (ms: number) => `${((pages / ms) * 1000).toFixed(0)} pages/s`;
    o.out(
      `  lazy restore, ${pages} pages: criu dump --lazy-pages ${criuLazy.ms.toFixed(0)} ms (${pps(criuLazy.ms)}, ${criuLazy.verified}), pagestack --lazy ${psLazy.ms.toFixed(0)} ms (${pps(psLazy.ms)}, ${psLazy.verified}), ${(criuLazy.ms / psLazy.ms).toFixed(2)}x CRIU's speed  [load ${load()}]`,
    );
    o.out(`    pagestack: ${summary}`);

    async function lazyRestore(
      port: number,
      R: string,
      tag: string,
    ): Promise<{ ms: number; verified: string }> {
      const dlog = join(dir, `lazy-pages-${tag}.log`);
      const daemon = run(
        criu,
        [
          'lazy-pages',
          '--page-server',
          '--address',
          '127.0.0.1',
          '--port',
          String(port),
          '-D',
          R,
          '-v2',
          '-o',
          dlog,
        ],
        dir,
      );
      await waitFor('lazy-pages.socket', () => existsSync(join(R, 'lazy-pages.socket')));
      const rlog = join(dir, `restore-${tag}.log`);
      const script = `"$0" restore -d -D "$1" --lazy-pages -v2 -o "$2" || exit $?; echo restored; exec sleep 600`;
      const t = performance.now();
      const ns = spawn(
        'unshare',
        ['-p', '-f', '--mount-proc', '--kill-child', 'sh', '-c', script, criu, R, rlog],
        { cwd: '/', env: CLEAN_ENV, stdio: ['ignore', 'pipe', 'ignore'] },
      );
      if (ns.pid) started.add(ns.pid);
      try {
        must(await daemon.done, `criu lazy-pages (${tag})`, dlog);
        const ms = performance.now() - t;
        let out = '';
        ns.stdout.on('data', (d: Buffer) => {
          out += d.toString();
        });
        await waitFor(`restore (${tag})`, () => out.includes('restored') || ns.exitCode !== null);
        if (!out.includes('restored')) throw new Error(`restore (${tag}) failed:\n${tail(rlog)}`);
        // the restored task: the one in ns's pid namespace whose comm is fill
        const nsPid = execFileSync(
          'sh',
          [
            '-c',
            `for p in $(pgrep -x fill); do [ "$(readlink /proc/$p/ns/pid)" = "$(readlink /proc/${ns.pid}/ns/pid_for_children 2>/dev/null || true)" ] && echo $p; done; true`,
          ],
          { encoding: 'utf8' },
        ).trim();
        let verified = 'not verified';
        const host = Number(nsPid.split('\n')[0]);
        if (host > 0) {
          rmSync(join(markers, 'fill.verified'), { force: true });
          process.kill(host, 'SIGUSR2');
          verified = (
            await waitFor(
              'fill.verified',
              () =>
                existsSync(join(markers, 'fill.verified')) &&
                readFileSync(join(markers, 'fill.verified'), 'utf8'),
            )
          ).trim();
        }
        return { ms, verified };
      } finally {
        kill(ns.pid);
      }
    }
  } finally {
    kill(prog?.child.pid);
    kill(pidOfFile(join(markers, 'fill.ready')));
    rmSync(dir, { recursive: true, force: true });
  }
}

function pidOfFile(f: string): number | undefined {
  try {
    return Number(readFileSync(f, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}
