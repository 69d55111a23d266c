/**
 * `pagestack restore`, eager vs lazy, cold vs with the hot set, one vs many at once (as root, with
 * a CRIU >= 4.0: `--criu PATH` or env PAGESTACK_CRIU):
 *
 *   node --import tsx bench/restore.ts [--mib 1024] [--many 8] [--many-mib 256]
 *
 * The process is bench/prog/fill.c holding --mib MiB of private anonymous memory, dumped twice
 * (the second time after it rewrote 10% of its pages) and made a 2-layer stack with `delta`. Every
 * restore runs `pagestack restore` (the CLI, through tsx) in a pid namespace of its own, with the
 * stack's pages files dropped from the page cache first (`dd iflag=nocache count=0`: each restore
 * reads from disk). Figures:
 *   eager:  `restore STACK -- -d` (squashed copy, then criu restore)
 *   lazy:   `restore STACK --lazy -- -d`, cold (`--no-prefetch`; it records the hot set), then
 *           with the hot set it recorded (prefetched)
 *   - running: the restore's own "running after" (from its start until criu restore returned);
 *   - answers: from pagestack's start until the process has checked every page (SIGUSR2 sent the
 *     moment the restore says the process runs; fill touches all its memory to answer);
 *   - lazy: every page in (the daemon done), GETs, one-page GETs (faults) in the first 10 s;
 *   many:   the same stack at --many-mib, one lazy restore alone, then --many at once: wall time
 *           until every pagestack restore exited (each process verified after);
 *   server: the --many-mib stack served by one lazy PageServer in this process (the stack opened
 *           once) to 1, then --many, `criu lazy-pages` daemons + `criu restore --lazy-pages -d`
 *           in namespaces of their own: wall time until every daemon had every page;
 *   s3:     Swift + s3api on loopback (test/helpers/swift-server.ts): the --mib stack pushed,
 *           then restored from s3:// eagerly (every page fetched first, as pull + criu restore)
 *           and lazily, beside the lazy restore from the local stack.
 * `--parts eager,lazy,many,server,s3` picks what runs (default: all).
 * The load average is printed with every figure (the machine is shared).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
} from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../src/cli/main.js';
import { PageServer } from '../src/server/page-server.js';
import { openTarget } from '../src/source/open.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const CRIU = arg('criu', process.env['PAGESTACK_CRIU'] ?? 'criu');
const MIB = Number(arg('mib', '1024'));
const MANY = Number(arg('many', '8'));
const MANY_MIB = Number(arg('many-mib', '256'));
const PARTS = new Set(arg('parts', 'eager,lazy,many,server,s3').split(','));

const started = new Set<ChildProcess>();
const kill = (c: ChildProcess) => {
  if (c.pid && c.exitCode === null && c.signalCode === null) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
};
process.on('exit', () => {
  for (const c of started) kill(c);
});

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

async function waitFor<T>(what: string, fn: () => T | null | undefined | false, ms = 300_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function pagestack(...args: string[]): Promise<void> {
  let err = '';
  const code = await runCli(args, {
    stdout: () => undefined,
    stderr: (t) => {
      err += t;
    },
    stdin: async () => new Uint8Array(),
  });
  if (code !== 0) throw new Error(`pagestack ${args.join(' ')}: ${err}`);
}

const work = mkdtempSync(join(tmpdir(), 'pagestack-bench-restore-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const fill = join(work, 'fill');
execFileSync('gcc', ['-O2', '-o', fill, join(HERE, 'prog', 'fill.c')]);

/** fill with `mib` MiB dumped twice (10% rewritten between), as a 2-layer stack; returns its top. */
async function makeStack(
  name: string,
  mib: number,
): Promise<{ pid: number; markers: string; top: string; dirs: string[] }> {
  const base = join(work, name);
  const markers = join(base, 'markers');
  mkdirSync(markers, { recursive: true });
  const p = spawn('setsid', [fill, markers, String(mib)], {
    cwd: base,
    env: { PATH: '/usr/bin:/bin' },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  started.add(p);
  const pid = Number(
    await waitFor('fill.ready', () =>
      existsSync(join(markers, 'fill.ready')) ? readFileSync(join(markers, 'fill.ready'), 'utf8') : null,
    ),
  );
  const dump = (d: string) => {
    mkdirSync(d);
    execFileSync(CRIU, ['dump', '-t', String(pid), '-D', d, '--leave-running', '-o', join(d, 'dump.log')], {
      env: { PATH: '/usr/sbin:/usr/bin:/bin' },
    });
  };
  dump(join(base, '1'));
  process.kill(pid, 'SIGUSR1');
  await waitFor('fill.step1', () => existsSync(join(markers, 'fill.step1')));
  dump(join(base, 'dump2'));
  kill(p);
  await pagestack('delta', join(base, '1'), join(base, 'dump2'), '-o', join(base, '2'));
  rmSync(join(base, 'dump2'), { recursive: true });
  return { pid, markers, top: join(base, '2'), dirs: [join(base, '1'), join(base, '2')] };
}

/** Drops the stack's files from the page cache (the next restore reads them from disk). */
function dropCache(dirs: string[]): void {
  for (const d of dirs) {
    for (const f of readdirSync(d)) {
      if (/\.img$/.test(f)) spawnSync('dd', [`if=${join(d, f)}`, 'iflag=nocache', 'count=0', 'status=none']);
    }
  }
}

interface Run {
  child: ChildProcess;
  out: string;
  err: string;
  code: number | null;
  t0: number;
  tEnd: number;
  done: Promise<void>;
}

/** `pagestack restore ARGS -- -d` in a pid namespace (sh as its init keeps the restored process). */
function nsRestore(args: string[]): Run {
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
      '--',
      '-d',
    ],
    {
      cwd: ROOT,
      // the store's credentials and endpoint (s3 part), nothing else of this process's environment
      env: {
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('AWS_'))),
        PATH: '/usr/sbin:/usr/bin:/bin',
        PAGESTACK_CRIU: CRIU,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  started.add(child);
  const r: Run = {
    child,
    out: '',
    err: '',
    code: null,
    t0: performance.now(),
    tEnd: 0,
    done: Promise.resolve(),
  };
  r.done = new Promise((ok) => {
    child.stdout!.on('data', (d: Buffer) => {
      r.out += d.toString();
      const m = /^pagestack-exit (\d+)$/m.exec(r.out);
      if (m && r.code === null) {
        r.code = Number(m[1]);
        r.tEnd = performance.now();
        ok();
      }
    });
    child.stderr!.on('data', (d: Buffer) => {
      r.err += d.toString();
    });
    child.on('close', () => ok());
  });
  return r;
}

/** Host pid of `pid` in the namespace of unshare `u`. */
function hostPid(u: number, pid: number): number | null {
  let init: number;
  try {
    init = Number(readFileSync(`/proc/${u}/task/${u}/children`, 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return null;
  }
  const ns = readlinkSync(`/proc/${init}/ns/pid`);
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/pid`) !== ns) continue;
      const nspid = /^NSpid:\s+(.*)$/m
        .exec(readFileSync(`/proc/${e}/status`, 'utf8'))?.[1]
        ?.trim()
        .split(/\s+/);
      if (nspid && Number(nspid[nspid.length - 1]) === pid) return Number(e);
    } catch {
      // gone
    }
  }
  return null;
}

/** Asks the restored fill to check all its pages; resolves with its answer. */
async function verify(u: number, s: { pid: number; markers: string }): Promise<string> {
  const f = join(s.markers, 'fill.verified');
  rmSync(f, { force: true });
  const h = await waitFor('the restored process', () => hostPid(u, s.pid), 60_000);
  process.kill(h, 'SIGUSR2');
  const text = await waitFor('fill.verified', () => (existsSync(f) ? readFileSync(f, 'utf8').trim() : null));
  if (text !== 'bad_pages 0') throw new Error(`restored fill says ${text}`);
  return text;
}

const num = (re: RegExp, s: string) => Number(re.exec(s)?.[1] ?? Number.NaN);

/** One restore of `s` with `args`; the process is asked to answer as soon as it runs. */
async function one(
  label: string,
  s: { pid: number; markers: string; top: string; dirs: string[] },
  args: string[],
) {
  dropCache(s.dirs);
  const r = nsRestore([s.top, ...args]);
  const u = r.child.pid!;
  // as soon as the process runs (eager: pagestack is done; lazy: it says so), ask it to answer
  await waitFor('the process to run', () => /criu restore (returned|done)/.test(r.err) || r.code !== null);
  if (r.code !== null && r.code !== 0) throw new Error(`${label}: exit ${r.code}\n${r.err}`);
  const answered = verify(u, s).then(() => performance.now() - r.t0);
  const answersMs = Math.round(await answered);
  await r.done;
  if (r.code !== 0) throw new Error(`${label}: exit ${r.code}\n${r.err}`);
  const running = num(/running after ([\d.]+) s/, r.out) * 1000;
  const allIn = num(/every page in after ([\d.]+) s/, r.out) * 1000;
  const gets = num(/in ([\d,]+) GETs/, r.out.replace(/,/g, ''));
  const faults = num(/\((\d+) faults/, r.out);
  const before = /; ([\d.]+ [KMG]?i?B) read before/.exec(r.out)?.[1] ?? '?';
  const pref = /hot set prefetched: ([\d,]+) pages/.exec(r.out)?.[1] ?? '-';
  console.log(
    `${label.padEnd(22)} running ${Math.round(running)} ms; answers ${answersMs} ms; read before run ${before}` +
      (Number.isNaN(allIn)
        ? ''
        : `; every page in ${Math.round(allIn)} ms; ${gets} GETs, ${Number.isNaN(faults) ? '-' : faults} faults; prefetched ${pref}`) +
      `; wall ${Math.round(r.tEnd - r.t0)} ms; load ${load()}`,
  );
  kill(r.child);
  await sleep(200);
}

console.log(
  `bench/restore.ts ${new Date().toISOString()} CRIU ${CRIU}, ${MIB} MiB, parts ${[...PARTS].join(',')}, load ${load()}`,
);
let big: Awaited<ReturnType<typeof makeStack>> | null = null;
if (PARTS.has('eager') || PARTS.has('lazy') || PARTS.has('s3')) {
  big = await makeStack('big', MIB);
  console.log(`stack ready (2 layers, ${MIB} MiB); load ${load()}`);
}
if (big && PARTS.has('eager')) await one('eager', big, []);
if (big && PARTS.has('lazy')) {
  await one('lazy cold (records)', big, ['--lazy', '--no-prefetch']);
  await one('lazy with hot set', big, ['--lazy']);
  await one('lazy cold again', big, ['--lazy', '--no-prefetch', '--record-seconds', '0']);
}
if (big && PARTS.has('s3')) {
  const { startSwiftServer } = await import('../test/helpers/swift-server.js');
  const swift = await startSwiftServer();
  process.on('exit', () => {
    swift.stop();
    rmSync(swift.dir, { recursive: true, force: true });
  });
  swift.useCredentials();
  const url = 's3://bench-restore/stacks/fill';
  const t = performance.now();
  await pagestack('push', big.top, url);
  console.log(
    `pushed ${MIB} MiB (2 layers) to Swift in ${Math.round(performance.now() - t)} ms; load ${load()}`,
  );
  const s3 = { ...big, top: url, dirs: [] as string[] };
  dropCache([...big.dirs, swift.dir]);
  await one('local lazy', big, ['--lazy', '--no-prefetch', '--record-seconds', '0']);
  await one('s3 eager', s3, []);
  await one('s3 lazy', s3, ['--lazy', '--record-seconds', '0']);
}

if (PARTS.has('many') || PARTS.has('server')) {
  const small = await makeStack('small', MANY_MIB);
  console.log(`stack ready (2 layers, ${MANY_MIB} MiB) for ${MANY} at once; load ${load()}`);
  if (PARTS.has('many')) {
    dropCache(small.dirs);
    const r = nsRestore([small.top, '--lazy', '--record-seconds', '0']);
    await r.done;
    if (r.code !== 0) throw new Error(r.err);
    await verify(r.child.pid!, small);
    const alone = Math.round(r.tEnd - r.t0);
    kill(r.child);
    dropCache(small.dirs);
    const t0 = performance.now();
    const runs = Array.from({ length: MANY }, () =>
      nsRestore([small.top, '--lazy', '--record-seconds', '0']),
    );
    await Promise.all(runs.map((x) => x.done));
    const all = Math.round(performance.now() - t0);
    for (const x of runs) {
      if (x.code !== 0) throw new Error(x.err);
      await verify(x.child.pid!, small);
      kill(x.child);
    }
    console.log(
      `many (${MANY} x pagestack restore --lazy): one alone ${alone} ms (wall, CLI start included); ${MANY} at once ${all} ms; ratio ${(all / alone).toFixed(2)}x; every process bad_pages 0; load ${load()}`,
    );
  }
  if (PARTS.has('server')) {
    const R = join(work, 'R-small');
    await pagestack('lazy-images', small.top, '-o', R);
    const stack = await openTarget(small.top);
    const server = await PageServer.start({ stack: small.top, port: 0, lazy: { stack } });
    const script = [
      'R="$1"; criu="$0"; port="$2"',
      '"$criu" lazy-pages --page-server --address 127.0.0.1 --port "$port" -D "$R" -o "$R/lazy-pages.log" &',
      'd=$!',
      'while [ ! -S "$R/lazy-pages.socket" ]; do kill -0 $d 2>/dev/null || exit 3; sleep 0.01; done',
      '"$criu" restore -D "$R" --lazy-pages -d -o "$R/restore.log" || exit 4',
      'wait $d || exit 5',
      'echo restored',
      'exec sleep 3600',
    ].join('\n');
    const round = async (n: number, tag: string): Promise<number> => {
      dropCache(small.dirs);
      const spaces = Array.from({ length: n }, (_, i) => {
        const dir = join(work, `R-${tag}-${i}`);
        cpSync(R, dir, { recursive: true });
        return dir;
      });
      const t0 = performance.now();
      const kids = spaces.map((dir) => {
        const c = spawn(
          'unshare',
          ['-p', '-f', '--mount-proc', '--kill-child', 'sh', '-c', script, CRIU, dir, String(server.port)],
          {
            cwd: '/',
            env: { PATH: '/usr/sbin:/usr/bin:/bin' },
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        started.add(c);
        const k = { c, out: '' };
        c.stdout!.on('data', (d: Buffer) => {
          k.out += d.toString();
        });
        c.stderr!.on('data', (d: Buffer) => {
          k.out += d.toString();
        });
        return k;
      });
      await waitFor(
        'every lazy restore',
        () => kids.every((k) => k.out.includes('restored') || k.c.exitCode !== null),
        600_000,
      );
      const ms = Math.round(performance.now() - t0);
      for (const k of kids) {
        if (!k.out.includes('restored')) throw new Error(`server ${tag}: ${k.out} (exit ${k.c.exitCode})`);
        await verify(k.c.pid!, small);
        kill(k.c);
      }
      return ms;
    };
    const one1 = await round(1, 'one');
    const allN = await round(MANY, 'many');
    console.log(
      `server (one lazy PageServer, ${MANY_MIB} MiB): one restore ${one1} ms; ${MANY} at once ${allN} ms; ratio ${(allN / one1).toFixed(2)}x; every process bad_pages 0; load ${load()}`,
    );
    await server.close();
    await stack.close();
  }
}
for (const c of started) kill(c);
process.exit(0);
