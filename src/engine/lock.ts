/**
 * One writer per stack: an advisory lock that the kernel releases when its holder dies.
 *
 *   lock of PATH = a listening unix socket bound to the abstract name
 *                  "\0pagestack-lock-" + sha256(real path of PATH)[0, 32)
 *
 * Binding an abstract-namespace socket succeeds for one socket per name at a time (EADDRINUSE
 * for every other) and the name lives exactly as long as the socket: no file is left behind
 * and a SIGKILLed holder frees it at once, as flock(2) would (Node has no flock, and a lock file
 * a kill leaves behind is a stale lock). Whoever finds the name taken connects to it: the holder
 * answers with one JSON line {pid, what, path}; a holder that cannot answer (stopped, or busy on
 * its own thread for longer than HOLDER_ANSWER_MS) is found by the socket's inode, from
 * /proc/net/unix to the /proc/PID/fd link that holds it. Node sockets are close-on-exec: a
 * program the holder starts does not inherit its lock.
 *
 * What is locked is a directory a writer changes: a layer it rewrites or replaces (dedup,
 * delta --in-place, add-images), the new directory or file it creates (delta -o, squash -o, a
 * page-server layer), a page server's STACK. Readers never lock: every writer builds beside
 * and renames (output.ts, layer-writer.ts), so a reader sees a layer whole, old or new.
 *
 * The name is per network namespace (as abstract sockets are): two processes in different
 * network namespaces (containers) do not see each other's locks.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { LockError } from '../errors.js';

/** How long a holder gets to answer "who are you" before /proc is searched instead. */
const HOLDER_ANSWER_MS = 500;
/** How often a writer that waits (`--wait`) tries again. */
const WAIT_POLL_MS = 100;

/** Who holds a lock. */
export interface LockHolder {
  pid: number;
  /** What the holder is doing (e.g. `delta --in-place`), when it said. */
  what?: string;
}

export interface LockOptions {
  /** What this writer is doing, told to a writer that finds the lock taken. */
  what?: string;
  /** Wait for the lock instead of failing at once. */
  wait?: boolean;
  /** Called once when the lock is taken and this writer starts waiting (with `wait`). */
  onWait?: (path: string, holder: LockHolder | null) => void;
  /** Gives up waiting when this signal fires. */
  signal?: AbortSignal;
}

/** The real path a lock is named after: the path's own, or its parent's for a path to be made. */
async function lockKey(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    return await realpath(abs);
  } catch {
    try {
      return join(await realpath(dirname(abs)), basename(abs));
    } catch {
      return abs;
    }
  }
}

function socketName(key: string): string {
  return `\0pagestack-lock-${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

/** Locks held by this process, by key (a second lock of the same key in-process is refused too). */
const held = new Map<string, Server>();

/** Binds the lock's name; null when another socket has it. */
function bind(key: string, info: string): Promise<Server | null> {
  return new Promise((ok, fail) => {
    const server = createServer((c) => {
      c.on('error', () => {});
      c.end(info);
    });
    server.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') ok(null);
      else
        fail(new LockError(`${key}: cannot take the lock: ${e.message}`, 'PAGESTACK_LOCKED', { file: key }));
    });
    server.listen({ path: socketName(key) }, () => {
      server.removeAllListeners('error');
      server.on('error', () => {});
      // the lock never keeps the process alive: it lives as long as the work it guards
      server.unref();
      ok(server);
    });
  });
}

/** Asks the holder of `key`'s lock who it is (its answer, else /proc); null when nobody holds it. */
async function askHolder(key: string): Promise<LockHolder | null> {
  const name = socketName(key);
  const answer = await new Promise<LockHolder | null | 'gone'>((ok) => {
    let text = '';
    const c = connect({ path: name });
    const timer = setTimeout(() => {
      c.destroy();
      ok(null);
    }, HOLDER_ANSWER_MS);
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      text += d;
    });
    c.on('end', () => {
      clearTimeout(timer);
      try {
        const j = JSON.parse(text) as { pid?: unknown; what?: unknown };
        if (typeof j.pid === 'number') {
          ok({ pid: j.pid, ...(typeof j.what === 'string' ? { what: j.what } : {}) });
          return;
        }
      } catch {}
      ok(null);
    });
    c.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      ok(e.code === 'ECONNREFUSED' || e.code === 'ENOENT' ? 'gone' : null);
    });
  });
  if (answer === 'gone') return null;
  if (answer) return answer;
  const pid = pidBySocket(name.slice(1));
  return pid === null ? { pid: -1 } : { pid };
}

/**
 * The pid of the process whose listening socket has the abstract name `name` (without the NUL):
 * its inode from /proc/net/unix, then the /proc/PID/fd link `socket:[INODE]`. Null when not found
 * (no /proc, or a holder this user may not look into).
 */
export function pidBySocket(name: string): number | null {
  let inode: string | null = null;
  try {
    for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/);
      // Num RefCount Protocol Flags Type St Inode Path; Node binds the whole sun_path, so the
      // name is shown padded with NULs, as '@'. The listening one (flags __SO_ACCEPTCON): a
      // connection waiting to be accepted shows the same name
      if (f.length >= 8 && f[3] === '00010000' && f[7]!.replace(/@+$/, '') === `@${name}`) {
        inode = f[6]!;
        break;
      }
    }
  } catch {
    return null;
  }
  if (inode === null) return null;
  const want = `socket:[${inode}]`;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return null;
  }
  for (const p of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${p}/fd/${fd}`) === want) return Number(p);
      } catch {}
    }
  }
  return null;
}

/** Who holds the lock of `path` now, or null when it is free. */
export async function lockHolder(path: string): Promise<LockHolder | null> {
  const key = await lockKey(path);
  const mine = held.get(key);
  if (mine) return { pid: process.pid };
  const probe = await bind(key, '');
  if (probe) {
    await new Promise<void>((ok) => probe.close(() => ok()));
    return null;
  }
  return askHolder(key);
}

/** The one line a writer that finds a lock taken prints. */
function lockedMessage(path: string, holder: LockHolder | null): string {
  const who =
    holder === null || holder.pid < 0
      ? 'another process (its pid could not be found)'
      : `pid ${holder.pid}${holder.what ? ` (pagestack ${holder.what})` : ''}`;
  return `${path}: locked by ${who}, which is writing this stack; one writer at a time`;
}

/** Locks taken together; release() frees them (the kernel does when the process dies). */
export class StackLock {
  private constructor(
    /** The paths locked, as the caller named them. */
    readonly paths: readonly string[],
    private readonly keys: readonly string[],
  ) {}

  /**
   * Takes the locks of every path in `paths` (a directory a writer changes or creates), all or
   * none. A lock another process holds is a LockError naming the path and that process, at once;
   * with `wait`, this waits until every lock is free and takes them.
   */
  static async acquire(paths: string | readonly string[], opts: LockOptions = {}): Promise<StackLock> {
    const list = typeof paths === 'string' ? [paths] : [...paths];
    const byKey = new Map<string, string>();
    for (const p of list) {
      const k = await lockKey(p);
      if (!byKey.has(k)) byKey.set(k, p);
    }
    // one order for everyone: two writers wanting the same two locks never hold one each for long
    const keys = [...byKey.keys()].sort();
    const info = `${JSON.stringify({ pid: process.pid, ...(opts.what ? { what: opts.what } : {}) })}\n`;
    let waiting = false;
    for (;;) {
      const got: string[] = [];
      let busy: string | null = null;
      for (const k of keys) {
        if (held.has(k)) {
          busy = k;
          break;
        }
        const server = await bind(k, info);
        if (!server) {
          busy = k;
          break;
        }
        held.set(k, server);
        got.push(k);
      }
      if (busy === null) {
        const lock = new StackLock(
          keys.map((k) => byKey.get(k)!),
          keys,
        );
        // a test hook: stop here, holding the locks, until SIGCONT (test/lock.test.ts)
        if (process.env['PAGESTACK_STOP_AFTER_LOCK'] === '1') process.kill(process.pid, 'SIGSTOP');
        return lock;
      }
      await releaseKeys(got);
      const path = byKey.get(busy)!;
      const holder = held.has(busy) ? { pid: process.pid } : await askHolder(busy);
      if (holder === null) continue; // freed meanwhile: try again at once
      if (!opts.wait) {
        throw new LockError(lockedMessage(path, holder), 'PAGESTACK_LOCKED', {
          file: path,
          pid: holder.pid,
        });
      }
      if (!waiting) {
        waiting = true;
        opts.onWait?.(path, holder);
      }
      if (opts.signal?.aborted) {
        throw new LockError(lockedMessage(path, holder), 'PAGESTACK_LOCKED', { file: path, pid: holder.pid });
      }
      await new Promise((ok) => setTimeout(ok, WAIT_POLL_MS));
    }
  }

  /** Frees the locks (idempotent). */
  async release(): Promise<void> {
    await releaseKeys(this.keys);
  }
}

async function releaseKeys(keys: readonly string[]): Promise<void> {
  for (const k of keys) {
    const s = held.get(k);
    if (!s) continue;
    held.delete(k);
    await new Promise<void>((ok) => s.close(() => ok()));
  }
}

/** Runs `fn` holding the locks of `paths` (StackLock.acquire), and frees them afterwards. */
export async function withLock<T>(
  paths: string | readonly string[],
  opts: LockOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const lock = await StackLock.acquire(paths, opts);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
