/**
 * `restore`: a stack (directory, checkpoint archive, later the object store) brought back by CRIU
 * in one command.
 *
 *   eager:  TARGET --squash--> TMP/images (every page present) --criu restore -D--> process
 *   lazy:   TARGET --lazy-images--> TMP/images (small images + pages that cannot be lazy)
 *           PageServer --lazy (in this process, serving TARGET's stack as opened) <--GET--
 *             criu lazy-pages --page-server -D TMP/images  <--uffd--  criu restore --lazy-pages
 *           the process runs as soon as `criu restore` returns; its pages come while it runs
 *
 * TMP is a private (0700) temporary directory, removed when the restore is done, fails or is
 * interrupted (SIGINT/SIGTERM: the CLI aborts the signal given here); every child (criu restore,
 * the lazy-pages daemon) is killed by its pid then, and once more, synchronously, when the process
 * exits. CRIU's logs are kept only on failure (moved beside TMP, named in the error).
 *
 * Hot set (stack/hotset.ts): a lazy restore records every GET of its first `recordSeconds`; the
 * fault runs (one-page GETs: pages the process waited on) are stored beside the top layer (a local
 * directory: `.pagestack-hotset`, written atomically). The next lazy restore reads that hot set
 * through the same stack at once, before CRIU asks (`prefetch: false` turns it off): the pages are
 * then in the source's cache (the OS page cache for local files) when the faults come.
 *
 * pagestack does not make namespaces: the restored tasks get their dumped pids, so run it where
 * they are free (tests wrap it in `unshare -p -f --mount-proc`).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, readdir, rename, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve as resolvePath } from 'node:path';
import { writeLazyImages } from '../engine/lazy-images.js';
import { writeFileAtomic } from '../engine/output.js';
import { squash } from '../engine/squash.js';
import { RestoreError } from '../errors.js';
import { type LazyGet, PageServer } from '../server/page-server.js';
import { DirLayerSource } from '../source/dir.js';
import { openTarget } from '../source/open.js';
import {
  decodeHotSet,
  encodeHotSet,
  HOTSET_FILE,
  type HotRun,
  type HotSet,
  holdsHotSets,
  prefetchRuns,
} from '../stack/hotset.js';
import type { Stack } from '../stack/stack.js';

export interface CriuProgram {
  path: string;
  /** `--version`'s number, e.g. "4.2". */
  version: string;
}

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function onPath(name: string, path: string): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

/**
 * The CRIU to run: env PAGESTACK_CRIU (a path, or a name on PATH), else `criu` on PATH (and the
 * sbin directories); 4.0 or newer. A RestoreError (PAGESTACK_NO_CRIU) with one line otherwise.
 */
export function findCriu(env: NodeJS.ProcessEnv = process.env): CriuProgram {
  const fromEnv = env['PAGESTACK_CRIU'];
  const path = `${env['PATH'] ?? ''}${delimiter}${SYSTEM_PATH}`;
  const where = fromEnv ? `PAGESTACK_CRIU=${fromEnv}` : 'criu';
  const criu = fromEnv
    ? fromEnv.includes('/')
      ? resolvePath(fromEnv)
      : onPath(fromEnv, path)
    : onPath('criu', path);
  if (!criu || !existsSync(criu)) {
    throw new RestoreError(
      fromEnv
        ? `${where}: no such program`
        : 'no CRIU: PAGESTACK_CRIU is not set and there is no criu on PATH (CRIU 4.0 or newer is needed)',
      'PAGESTACK_NO_CRIU',
      {},
    );
  }
  const v = spawnSync(criu, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const m = /Version:\s*(\d+)\.(\d+)/.exec(`${v.stdout ?? ''}`);
  if (!m) {
    const why = v.error
      ? v.error.message
      : (v.stderr || v.stdout || `exit ${v.status}`).trim().split('\n')[0];
    throw new RestoreError(`${criu}: --version did not print a CRIU version (${why})`, 'PAGESTACK_NO_CRIU', {
      file: criu,
    });
  }
  const version = `${m[1]}.${m[2]}`;
  if (Number(m[1]) < 4) {
    throw new RestoreError(`${criu}: CRIU ${version}; restore needs CRIU 4.0 or newer`, 'PAGESTACK_NO_CRIU', {
      file: criu,
    });
  }
  return { path: criu, version };
}

export interface RestoreOptions {
  /** A stack's top layer: an image directory or a checkpoint archive. */
  target: string;
  /** The layer below the target's top (`--parent`). */
  parent?: string | undefined;
  lazy?: boolean;
  /** Lazy: read the stored hot set before CRIU asks (default true). */
  prefetch?: boolean;
  /** Lazy: record the GETs of the first this-many seconds as the hot set (default 10; 0: do not). */
  recordSeconds?: number;
  /** Options for `criu restore` (-d, --shell-job, --tcp-established, ...). */
  criuArgs?: readonly string[];
  /** The CRIU to run (default: findCriu()). */
  criu?: CriuProgram;
  /** Progress lines (what was prepared, what CRIU did). */
  log?: (line: string) => void;
  /** Aborting it stops the restore: children killed, temporary directory removed. */
  signal?: AbortSignal;
  /** Where the private temporary directory goes (default: the system's). */
  tmpBase?: string;
}

export interface LayerPages {
  layer: string;
  pages: number;
}

export interface RestoreResult {
  mode: 'eager' | 'lazy';
  criu: CriuProgram;
  /** Layers of the stack restored. */
  layers: number;
  /** Bytes of the restore directory: what was read from the stack before the process ran. */
  bytesBeforeRun: number;
  /** Pages written into the restore directory; lazy: pages left to be served. */
  presentPages: number;
  lazyPages: number;
  /** ms from the start to the restore directory being ready. */
  prepareMs: number;
  /** ms from the start until `criu restore` returned (with -d: the process runs). */
  resumeMs: number;
  /** Lazy: ms from the start until the lazy-pages daemon had every page (and exited). */
  allPagesMs: number | null;
  /** Lazy: GETs answered, pages served and from which layers (top first). */
  gets: number;
  servedPages: number;
  servedFrom: LayerPages[];
  /** GETs in the recording window of one page (faults). */
  faultGets: number;
  /** The hot set read before the restore: pages and runs prefetched, and how long the reads took. */
  prefetch: { pages: number; runs: number; ms: number } | null;
  /** The hot set written: where, how many fault pages; or why none was written. */
  hotSet: { file: string; faultPages: number; runs: number } | { skipped: string } | null;
}

/** Children and the temporary directory of the restores running in this process (exit hook). */
const running = new Set<{ children: Set<ChildProcess>; tmp: string }>();
let exitHook = false;

function killNow(c: ChildProcess, sig: NodeJS.Signals = 'SIGKILL'): void {
  if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
    try {
      process.kill(c.pid, sig);
    } catch {
      // gone already
    }
  }
}

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const r of running) {
      for (const c of r.children) killNow(c);
      try {
        rmSync(r.tmp, { recursive: true, force: true });
      } catch {
        // best effort at exit
      }
    }
  });
}

/** A child's end: its exit code (null: killed by a signal) once it has closed. */
function ended(c: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((ok) => {
    if (c.exitCode !== null || c.signalCode !== null) ok({ code: c.exitCode, signal: c.signalCode });
    else c.once('close', (code, signal) => ok({ code, signal }));
  });
}

/** The size of every file in `dir` (the restore directory is flat). */
async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const f of await readdir(dir)) n += (await stat(join(dir, f))).size;
  return n;
}

/** Verbosity and log file: the user's if given, else -v4 into TMP. */
function withLog(args: readonly string[], log: string): string[] {
  const out = [...args];
  if (!out.some((a) => /^-v\d?$|^--verbosity/.test(a))) out.push('-v4');
  if (!out.some((a) => a === '-o' || a.startsWith('--log-file'))) out.push('-o', log);
  return out;
}

/** Restores TARGET with CRIU; see the head of this file. */
export async function restore(opts: RestoreOptions): Promise<RestoreResult> {
  const t0 = performance.now();
  const since = () => Math.round(performance.now() - t0);
  const log = opts.log ?? (() => undefined);
  const criu = opts.criu ?? findCriu();
  const lazy = opts.lazy === true;
  const signal = opts.signal;
  const interrupted = () =>
    new RestoreError(
      `${opts.target}: restore interrupted (${signal?.reason ?? 'aborted'}); cleaned up`,
      'PAGESTACK_INTERRUPTED',
      {
        file: opts.target,
      },
    );
  if (signal?.aborted) throw interrupted();

  const tmp = await mkdtemp(join(opts.tmpBase ?? tmpdir(), 'pagestack-restore-'));
  const state = { children: new Set<ChildProcess>(), tmp };
  installExitHook();
  running.add(state);
  const images = join(tmp, 'images');
  const restoreLog = join(tmp, 'restore.log');
  const daemonLog = join(tmp, 'lazy-pages.log');
  let stack: Stack | null = null;
  let server: PageServer | null = null;
  let keepLogs = false;
  /** The hot set's reads, if running (they end before the stack closes). */
  let prefetching: Promise<void> = Promise.resolve();
  const stopPrefetch = { stopped: false };

  /** Rejects when the signal is aborted (to race against waits). */
  let onAbort: (() => void) | null = null;
  const aborted = new Promise<never>((_, fail) => {
    onAbort = () => fail(interrupted());
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  const untilAbort = <T>(p: Promise<T>): Promise<T> => Promise.race([p, aborted]);

  const start = (args: string[], what: string): ChildProcess => {
    const c = spawn(criu.path, args, { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    state.children.add(c);
    let out = '';
    const keep = (d: Buffer) => {
      out = (out + d.toString()).slice(-4000);
    };
    c.stdout?.on('data', keep);
    c.stderr?.on('data', keep);
    c.on('error', () => undefined); // reported through its exit
    (c as ChildProcess & { output: () => string }).output = () => out;
    log(`${what} started (pid ${c.pid})`);
    return c;
  };
  const output = (c: ChildProcess) => (c as ChildProcess & { output?: () => string }).output?.().trim() ?? '';

  try {
    stack = await untilAbort(openTarget(opts.target, { parent: opts.parent }));
    const result: RestoreResult = {
      mode: lazy ? 'lazy' : 'eager',
      criu,
      layers: stack.layers.length,
      bytesBeforeRun: 0,
      presentPages: 0,
      lazyPages: 0,
      prepareMs: 0,
      resumeMs: 0,
      allPagesMs: null,
      gets: 0,
      servedPages: 0,
      servedFrom: [],
      faultGets: 0,
      prefetch: null,
      hotSet: null,
    };
    log(
      `CRIU ${criu.version} (${criu.path}); ${lazy ? 'lazy' : 'eager'} restore of ${opts.target} (${stack.layers.length} layers) in ${tmp}`,
    );

    if (!lazy) {
      const r = await untilAbort(squash(stack, { out: images }));
      result.presentPages = r.presentPages;
      result.lazyPages = r.lazyPages;
      await stack.close();
      stack = null;
    } else {
      const r = await untilAbort(writeLazyImages(stack, images));
      result.presentPages = r.presentPages;
      result.lazyPages = r.lazyPages;
    }
    result.bytesBeforeRun = await dirBytes(images);
    result.prepareMs = since();
    log(
      `prepared ${images}: ${result.presentPages} pages present, ${result.lazyPages} lazy; ${result.bytesBeforeRun} bytes read before the process runs (${result.prepareMs} ms)`,
    );

    if (!lazy) {
      const c = start(['restore', '-D', images, ...withLog(opts.criuArgs ?? [], restoreLog)], 'criu restore');
      const e = await untilAbort(ended(c));
      result.resumeMs = since();
      if (e.code !== 0) {
        keepLogs = true;
        throw new RestoreError(
          `${opts.target}: criu restore failed (${e.code === null ? `signal ${e.signal}` : `exit ${e.code}`}): ${lastLine(output(c))}; log: ${keptName(tmp, 'restore.log')}`,
          'PAGESTACK_RESTORE',
          { file: opts.target },
        );
      }
      log(`criu restore done after ${result.resumeMs} ms`);
      return result;
    }

    // --- lazy -------------------------------------------------------------------------------
    const lazyStack = stack!;
    const top = lazyStack.top.source;
    const names = lazyStack.layers.map((l) => l.source.name);
    const from = new Map<string, number>();
    const recordMs = Math.max(0, (opts.recordSeconds ?? 10) * 1000);
    const recorded: HotRun[] = [];
    let restoreStart = 0;
    const onGet = (g: LazyGet) => {
      result.gets++;
      result.servedPages += g.served;
      for (const [l, k] of g.layers) from.set(l, (from.get(l) ?? 0) + k);
      const ms = performance.now() - restoreStart;
      if (restoreStart > 0 && ms <= recordMs) {
        const kind = g.asked === 1 ? 'fault' : 'background';
        if (kind === 'fault') result.faultGets++;
        recorded.push({ pid: g.pid, vaddr: g.vaddr, pages: g.served, ms, kind });
      }
    };
    const serverErrors: string[] = [];
    server = await untilAbort(
      PageServer.start({
        stack: top.name,
        port: 0,
        lazy: { stack: lazyStack, onGet },
        log: (line) => {
          if (/session ended|cannot/.test(line)) serverErrors.push(line);
        },
      }),
    );
    log(`serving lazy pages on 127.0.0.1:${server.port}`);

    // the stored hot set, read through the stack at once (not awaited: CRIU starts meanwhile)
    if (opts.prefetch !== false) {
      const bytes = await (holdsHotSets(top) ? top.readHotSet() : top.readFile(HOTSET_FILE)).catch(
        () => null,
      );
      let hot: HotSet | null = null;
      if (bytes) {
        try {
          hot = decodeHotSet(bytes, `${top.name}/${HOTSET_FILE}`);
        } catch (e) {
          log(`hot set ignored: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      if (hot) prefetching = prefetch(lazyStack, hot, result, stopPrefetch);
    }

    const daemon = start(
      [
        'lazy-pages',
        '--page-server',
        '--address',
        '127.0.0.1',
        '--port',
        String(server.port),
        '-D',
        images,
        '-v4',
        '-o',
        daemonLog,
      ],
      'criu lazy-pages',
    );
    const daemonEnd = ended(daemon);
    // the daemon listens on images/lazy-pages.socket; the restore connects to it
    const socket = join(images, 'lazy-pages.socket');
    await untilAbort(
      new Promise<void>((ok, fail) => {
        const timer = setInterval(() => {
          if (existsSync(socket)) {
            clearInterval(timer);
            ok();
          } else if (daemon.exitCode !== null || daemon.signalCode !== null) {
            clearInterval(timer);
            keepLogs = true;
            fail(
              new RestoreError(
                `${opts.target}: criu lazy-pages exited (${daemon.exitCode ?? daemon.signalCode}) before it listened: ${lastLine(output(daemon))}; log: ${keptName(tmp, 'lazy-pages.log')}`,
                'PAGESTACK_RESTORE',
                { file: opts.target },
              ),
            );
          }
        }, 5);
        signal?.addEventListener('abort', () => clearInterval(timer), { once: true });
      }),
    );
    restoreStart = performance.now();
    const c = start(
      ['restore', '-D', images, '--lazy-pages', ...withLog(opts.criuArgs ?? [], restoreLog)],
      'criu restore --lazy-pages',
    );
    const e = await untilAbort(ended(c));
    result.resumeMs = since();
    if (e.code !== 0) {
      keepLogs = true;
      killNow(daemon, 'SIGTERM');
      await Promise.race([daemonEnd, sleep(2000)]);
      throw new RestoreError(
        `${opts.target}: criu restore --lazy-pages failed (${e.code === null ? `signal ${e.signal}` : `exit ${e.code}`}): ${lastLine(output(c))}; logs: ${keptName(tmp, 'restore.log')}, ${keptName(tmp, 'lazy-pages.log')}`,
        'PAGESTACK_RESTORE',
        { file: opts.target },
      );
    }
    log(
      `criu restore returned after ${result.resumeMs} ms: the process runs; its pages are served while it runs`,
    );
    const d = await untilAbort(daemonEnd);
    result.allPagesMs = since();
    await prefetching;
    result.servedFrom = names.filter((n) => from.has(n)).map((n) => ({ layer: n, pages: from.get(n)! }));
    if (d.code !== 0) {
      keepLogs = true;
      throw new RestoreError(
        `${opts.target}: criu lazy-pages failed (${d.code === null ? `signal ${d.signal}` : `exit ${d.code}`}) after ${result.gets} GETs, ${result.servedPages} pages: ${serverErrors[0] ?? lastLine(output(daemon))}; logs: ${keptName(tmp, 'lazy-pages.log')}, ${keptName(tmp, 'restore.log')}`,
        'PAGESTACK_RESTORE',
        { file: opts.target },
      );
    }
    log(
      `every page in after ${result.allPagesMs} ms: ${result.servedPages} pages in ${result.gets} GETs (${result.servedFrom.map((l) => `${l.pages} from ${l.layer}`).join(', ') || 'none'})`,
    );
    if (recordMs > 0) result.hotSet = await storeHotSet(lazyStack, recordMs, recorded);
    return result;
  } catch (e) {
    if (signal?.aborted && !(e instanceof RestoreError && e.code === 'PAGESTACK_INTERRUPTED')) {
      throw interrupted();
    }
    throw e;
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    // children first (by pid), then the server and the stack, then the directory
    for (const c of state.children) killNow(c, 'SIGTERM');
    await Promise.race([Promise.all([...state.children].map(ended)), sleep(2000)]);
    for (const c of state.children) killNow(c);
    stopPrefetch.stopped = true;
    await prefetching;
    await server?.close().catch(() => undefined);
    await stack?.close().catch(() => undefined);
    if (keepLogs) {
      for (const f of ['restore.log', 'lazy-pages.log']) {
        await rename(join(tmp, f), keptName(tmp, f)).catch(() => undefined);
      }
    }
    rmSync(tmp, { recursive: true, force: true });
    running.delete(state);
  }
}

/** Where a log of TMP is kept after a failure: beside TMP, named after it. */
function keptName(tmp: string, file: string): string {
  return `${tmp}-${file}`;
}

function lastLine(s: string): string {
  const lines = s.split('\n').filter((l) => l.trim());
  return lines[lines.length - 1]?.trim() ?? 'no output';
}

function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms).unref());
}

/** Reads the hot set's pages through the stack (into its source's cache); a run it cannot read is skipped. */
async function prefetch(
  stack: Stack,
  hot: HotSet,
  result: RestoreResult,
  stop: { stopped: boolean },
): Promise<void> {
  const t = performance.now();
  const runs = prefetchRuns(hot);
  let pages = 0;
  for (const r of runs) {
    if (stop.stopped) break;
    try {
      const mem = await stack.memory(`pagemap-${r.pid}.img`);
      await mem.read(r.vaddr, r.pages * 4096);
      pages += r.pages;
    } catch {
      // a hint only: a page the stack no longer holds (or a read that fails: the lazy server
      // will say so when CRIU asks for it) is not prefetched
    }
  }
  result.prefetch = { pages, runs: runs.length, ms: Math.round(performance.now() - t) };
}

/** Writes the recorded GETs as the top layer's hot set (a local directory), or says why not. */
async function storeHotSet(
  stack: Stack,
  recordMs: number,
  runs: HotRun[],
): Promise<{ file: string; faultPages: number; runs: number } | { skipped: string }> {
  const top = stack.top.source;
  const faultPages = runs.filter((r) => r.kind === 'fault').reduce((n, r) => n + r.pages, 0);
  const bytes = encodeHotSet({ windowMs: recordMs, runs });
  if (holdsHotSets(top)) return { file: await top.writeHotSet(bytes), faultPages, runs: runs.length };
  if (!(top instanceof DirLayerSource)) {
    return {
      skipped: `${top.name} is neither a local directory nor a stored layer (an archive is read-only)`,
    };
  }
  const file = join(top.name, HOTSET_FILE);
  await writeFileAtomic(file, bytes);
  return { file, faultPages, runs: runs.length };
}
