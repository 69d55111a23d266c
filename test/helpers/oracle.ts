/**
 * The kernel as oracle: what a process tree's memory really is, read from /proc/PID/mem while the
 * tree is stopped, against pagestack's ELF export of a CRIU dump of it.
 *
 *   start the program (its own session and process group)
 *   SIGSTOP the group; wait until every thread of every process is stopped
 *   snapshot A: per process, /proc/PID/maps and a digest of every page of every VMA: pages the
 *               page table maps from /proc/PID/mem, the others from the mapped object (or zeros
 *               for anonymous memory) without faulting them in (see snapshotProcess); pages
 *               neither can read are counted, not compared
 *   criu dump --leave-running (CRIU leaves a stopped task stopped)
 *   snapshot B: the same again. CRIU's parasite runs on the tasks' own threads and leaves its
 *               frames on their stacks: pages that differ between A and B are left out (counted)
 *   export the dump (and the dump as a `delta` layer on an earlier dump) and compare, page by
 *   page of the kernel's VMAs:
 *     a page in a PT_LOAD       must have the kernel's bytes
 *     a page in no PT_LOAD      anonymous memory (private, shared, memfd, heap, stack): the kernel
 *                               must read zeros there (CRIU leaves out zero pages; pagestack must
 *                               not drop a page it has); file-backed: the page is the file's, which
 *                               CRIU leaves to the file (counted); [vvar], MAP_DROPPABLE
 *                               (VmFlags `dp`): CRIU never dumps them (counted)
 *     a PT_LOAD page outside every kernel VMA is wrong
 *
 * Digests (SHA-1 of each 4 KiB page) keep the snapshots small: a 200 MiB heap is 51,200 digests.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { coreBytes, elfLoads, type Load } from './elf-loads.js';

const PAGE = 4096;

/** One line of /proc/PID/maps, with smaps' VmFlags. */
export interface KernelVma {
  start: number;
  end: number;
  perms: string;
  /** The offset column: the VMA's byte offset in the mapped file or object. */
  offset: number;
  /** The path or [name] column, "" for anonymous memory. */
  name: string;
  /** VmFlags of /proc/PID/smaps (`rd wr mr ... dp`). */
  vmFlags: string[];
  /** Start beyond 2^53 (the vsyscall page): not read. */
  beyond: boolean;
}

/** One process's memory as the kernel shows it. */
export interface ProcSnapshot {
  pid: number;
  vmas: KernelVma[];
  /** Page address -> SHA-1 (hex) of its 4 KiB, for every page /proc/PID/mem read. */
  pages: Map<number, string>;
  /** Pages /proc/PID/mem could not read. */
  unreadable: Set<number>;
}

const ZERO_DIGEST = createHash('sha1').update(new Uint8Array(PAGE)).digest('hex');

const digest = (b: Uint8Array): string => createHash('sha1').update(b).digest('hex');

/** Every pid of the tree below `root` (itself first), from /proc/PID/task/TID/children. */
export function treePids(root: number): number[] {
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.shift()!;
    out.push(pid);
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const kids = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
        for (const k of kids ? kids.split(/\s+/) : []) todo.push(Number(k));
      } catch {
        // the thread exited
      }
    }
  }
  return out;
}

/** The state letter of a thread (/proc/PID/task/TID/stat). */
function threadState(pid: number, tid: string): string {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

/** SIGSTOPs process group `pgid` and waits until every thread of `pids` is stopped (T or t). */
export async function stopGroup(pgid: number, timeoutMs = 10_000): Promise<number[]> {
  process.kill(-pgid, 'SIGSTOP');
  const until = Date.now() + timeoutMs;
  for (;;) {
    const pids = treePids(pgid);
    const running = pids.flatMap((pid) =>
      readdirSync(`/proc/${pid}/task`).filter((tid) => !/[Tt]/.test(threadState(pid, tid))),
    );
    if (running.length === 0) return pids;
    if (Date.now() > until) throw new Error(`threads ${running.join(', ')} did not stop in ${timeoutMs} ms`);
    await sleep(5);
  }
}

export function continueGroup(pgid: number): void {
  process.kill(-pgid, 'SIGCONT');
}

/** /proc/PID/maps with smaps' VmFlags. */
export function kernelVmas(pid: number): KernelVma[] {
  const out: KernelVma[] = [];
  for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ \S+\s*(.*)$/.exec(line);
    if (!m) continue;
    const start = BigInt(`0x${m[1]}`);
    const end = BigInt(`0x${m[2]}`);
    const beyond = end > BigInt(Number.MAX_SAFE_INTEGER);
    out.push({
      start: beyond ? Number.MAX_SAFE_INTEGER : Number(start),
      end: beyond ? Number.MAX_SAFE_INTEGER : Number(end),
      perms: m[3]!,
      offset: Number.parseInt(m[4]!, 16),
      name: m[5]!.trim(),
      vmFlags: [],
      beyond,
    });
  }
  // VmFlags in smaps, in the same order as maps
  const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const flags = [...smaps.matchAll(/^VmFlags:(.*)$/gm)].map((m) => m[1]!.trim().split(/\s+/));
  if (flags.length === out.length) for (let i = 0; i < out.length; i++) out[i]!.vmFlags = flags[i]!;
  return out;
}

/** The pagemap bits of /proc/PID/pagemap this reads (Documentation/admin-guide/mm/pagemap.rst). */
const PM_PRESENT = 1n << 63n;
const PM_SWAP = 1n << 62n;

/**
 * Every page of every VMA of a (stopped) process, as digests, read without changing what CRIU
 * will see. A page the process's page table maps (present or swapped, per /proc/PID/pagemap) is
 * read from /proc/PID/mem. A page it does not map is not read there: that read would fault it in
 * (a real page even in PROT_NONE memory, which CRIU would then dump). Its bytes are the mapped
 * object's, read through /proc/PID/map_files at the VMA's file offset (a read of the file, which
 * maps nothing: shmem holes read as zeros), zeros for anonymous memory, which has no object, and
 * from /proc/PID/mem for the kernel's special mappings ([vdso]: CRIU dumps all of it anyway).
 */
export function snapshotProcess(pid: number): ProcSnapshot {
  const vmas = kernelVmas(pid);
  const pages = new Map<number, string>();
  const unreadable = new Set<number>();
  const mem = openSync(`/proc/${pid}/mem`, 'r');
  const pm = openSync(`/proc/${pid}/pagemap`, 'r');
  const RUN = 256;
  const buf = Buffer.allocUnsafe(RUN * PAGE);
  const pmBuf = Buffer.allocUnsafe(RUN * 8);
  const readPage = (fd: number, pos: number): string | null => {
    try {
      return readSync(fd, buf, 0, PAGE, pos) === PAGE ? digest(buf.subarray(0, PAGE)) : null;
    } catch {
      return null;
    }
  };
  try {
    for (const v of vmas) {
      if (v.beyond) continue;
      let file = -2; // not opened yet; -1: cannot be opened
      const objectFd = (): number => {
        if (file === -2) {
          try {
            file = openSync(`/proc/${pid}/map_files/${v.start.toString(16)}-${v.end.toString(16)}`, 'r');
          } catch {
            file = -1;
          }
        }
        return file;
      };
      try {
        for (let a = v.start; a < v.end; a += RUN * PAGE) {
          const n = Math.min(RUN, (v.end - a) / PAGE);
          if (readSync(pm, pmBuf, 0, n * 8, (a / PAGE) * 8) !== n * 8)
            throw new Error(`${pid}: short pagemap read`);
          let k = 0;
          while (k < n) {
            const e = pmBuf.readBigUInt64LE(k * 8);
            if (e & (PM_PRESENT | PM_SWAP)) {
              // a run of mapped pages: one read
              let j = k + 1;
              while (j < n && pmBuf.readBigUInt64LE(j * 8) & (PM_PRESENT | PM_SWAP)) j++;
              let got = -1;
              try {
                got = readSync(mem, buf, 0, (j - k) * PAGE, a + k * PAGE);
              } catch {
                got = -1;
              }
              for (let q = k; q < j; q++) {
                const at = a + q * PAGE;
                const d =
                  got === (j - k) * PAGE
                    ? digest(buf.subarray((q - k) * PAGE, (q - k + 1) * PAGE))
                    : readPage(mem, at);
                if (d === null) unreadable.add(at);
                else pages.set(at, d);
              }
              k = j;
              continue;
            }
            const at = a + k * PAGE;
            if (v.name.startsWith('/')) {
              const fd = objectFd();
              const d = fd < 0 ? null : readPage(fd, v.offset + (at - v.start));
              if (d === null) unreadable.add(at);
              else pages.set(at, d);
            } else if (anonymousLike(v)) pages.set(at, ZERO_DIGEST);
            else {
              // [vdso] and the like: the kernel's own pages, mapped on first touch (as CRIU's
              // dump of the whole vDSO does anyway)
              const d = readPage(mem, at);
              if (d === null) unreadable.add(at);
              else pages.set(at, d);
            }
            k++;
          }
        }
      } finally {
        if (file >= 0) closeSync(file);
      }
    }
  } finally {
    closeSync(mem);
    closeSync(pm);
  }
  return { pid, vmas, pages, unreadable };
}

/** Why a page was not compared, and how many. */
export type SkipReason =
  | 'unreadable in /proc/PID/mem'
  | 'changed by the dump (CRIU parasite)'
  | 'file page left to the file'
  | 'vvar'
  | 'vsyscall'
  | 'MAP_DROPPABLE'
  | 'VMA changed by the dump';

export interface OracleCounts {
  /** Processes compared (one per process per dump). */
  processes: number;
  /** Pages in a PT_LOAD equal to the kernel's. */
  compared: number;
  /** Anonymous pages in no PT_LOAD that the kernel reads as zeros. */
  zeroChecked: number;
  /** Compared pages by kind of VMA (`memfd MAP_PRIVATE`, `heap`, ...). */
  byKind: Record<string, number>;
  skipped: Partial<Record<SkipReason, number>>;
  /** One line per wrong page (the first few hundred). */
  mismatches: string[];
  mismatchCount: number;
}

export function newCounts(): OracleCounts {
  return {
    processes: 0,
    compared: 0,
    zeroChecked: 0,
    byKind: {},
    skipped: {},
    mismatches: [],
    mismatchCount: 0,
  };
}

/** Adds `b` into `a`. */
export function addCounts(a: OracleCounts, b: OracleCounts): void {
  a.processes += b.processes;
  a.compared += b.compared;
  a.zeroChecked += b.zeroChecked;
  for (const [k, n] of Object.entries(b.byKind)) a.byKind[k] = (a.byKind[k] ?? 0) + n;
  for (const [k, n] of Object.entries(b.skipped)) {
    const r = k as SkipReason;
    a.skipped[r] = (a.skipped[r] ?? 0) + (n ?? 0);
  }
  a.mismatches.push(...b.mismatches.slice(0, Math.max(0, 200 - a.mismatches.length)));
  a.mismatchCount += b.mismatchCount;
}

/** A word for the kind of a kernel VMA, for the counts. */
export function vmaKindOf(v: KernelVma): string {
  const shared = v.perms[3] === 's';
  const how = shared ? 'MAP_SHARED' : 'MAP_PRIVATE';
  if (v.name.startsWith('/memfd:')) return `memfd ${how}`;
  if (v.name.startsWith('/dev/zero') || v.name.startsWith('/SYSV')) return `shared anon ${how}`;
  if (v.name === '[heap]' || v.name === '[stack]' || v.name === '[vdso]') return v.name;
  if (v.name.startsWith('/')) return `file ${how}`;
  if (v.name === '') {
    if (v.vmFlags.includes('hg')) return 'anon THP (madvise)';
    return v.perms.startsWith('---') ? 'anon PROT_NONE' : v.perms[1] === 'w' ? 'anon' : `anon ${v.perms}`;
  }
  return v.name;
}

/** Whether a VMA is memory with no file behind it to hold pages CRIU leaves out. */
function anonymousLike(v: KernelVma): boolean {
  return (
    v.name === '' ||
    v.name === '[heap]' ||
    v.name === '[stack]' ||
    v.name.startsWith('[anon') ||
    v.name.startsWith('/memfd:') ||
    v.name.startsWith('/dev/zero') ||
    v.name.startsWith('/SYSV')
  );
}

/**
 * Compares an ELF core of process `before.pid` with the kernel's pages: snapshot A (`before`) and
 * B (`after`) around the dump; with `read` (a page of the stack through ProcessMemory), every page
 * in the core is also read that way and must be the kernel's too. Returns the counts; every wrong
 * page is a mismatch line.
 */
export function compareCore(
  core: Uint8Array,
  before: ProcSnapshot,
  after: ProcSnapshot,
  label: string,
  read?: (addr: number) => Uint8Array,
): OracleCounts {
  const c = newCounts();
  c.processes = 1;
  const skip = (r: SkipReason, n = 1): void => {
    c.skipped[r] = (c.skipped[r] ?? 0) + n;
  };
  const bad = (msg: string): void => {
    c.mismatchCount++;
    if (c.mismatches.length < 200) c.mismatches.push(`${label}: ${msg}`);
  };
  const loads = elfLoads(core);
  const afterVmas = new Map(after.vmas.map((v) => [`${v.start}-${v.end}-${v.perms}-${v.name}`, v]));
  for (const v of before.vmas) {
    const pages = (v.end - v.start) / PAGE;
    if (v.beyond) {
      skip('vsyscall', 1);
      continue;
    }
    if (!afterVmas.has(`${v.start}-${v.end}-${v.perms}-${v.name}`)) {
      skip('VMA changed by the dump', pages);
      continue;
    }
    const kind = vmaKindOf(v);
    for (let a = v.start; a < v.end; a += PAGE) {
      if (v.name === '[vvar]' || v.name === '[vvar_vclock]') {
        skip('vvar');
        continue;
      }
      const want = before.pages.get(a);
      if (want === undefined) {
        skip('unreadable in /proc/PID/mem');
        continue;
      }
      if (after.pages.get(a) !== want) {
        skip('changed by the dump (CRIU parasite)');
        continue;
      }
      const got = coreBytes(core, loads, a, PAGE);
      if (got) {
        if (read && digest(read(a)) !== want) {
          bad(
            `0x${a.toString(16)} (${v.perms} ${v.name || 'anon'}): pagestack's read differs from the kernel's page`,
          );
        } else if (digest(got) === want) {
          c.compared++;
          c.byKind[kind] = (c.byKind[kind] ?? 0) + 1;
        } else
          bad(
            `0x${a.toString(16)} (${v.perms} ${v.name || 'anon'}): the core's page differs from the kernel's`,
          );
        continue;
      }
      if (v.vmFlags.includes('dp')) skip('MAP_DROPPABLE');
      else if (anonymousLike(v)) {
        if (want === ZERO_DIGEST) c.zeroChecked++;
        else
          bad(
            `0x${a.toString(16)} (${v.perms} ${v.name || 'anon'}): not in the core, but the kernel's page is not zero`,
          );
      } else if (v.name.startsWith('/')) skip('file page left to the file');
      else bad(`0x${a.toString(16)} (${v.perms} ${v.name}): not in the core`);
    }
  }
  // PT_LOAD pages outside every kernel VMA
  for (const l of loads) {
    for (let a = l.vaddr; a < l.vaddr + l.filesz; a += PAGE) {
      if (!before.vmas.some((v) => v.start <= a && a < v.end)) {
        bad(`PT_LOAD 0x${l.vaddr.toString(16)}: page 0x${a.toString(16)} is outside every kernel VMA`);
      }
    }
  }
  return c;
}

/** The PT_LOADs of a core (re-exported for tests that look at them). */
export function loadsOf(core: Uint8Array): Load[] {
  return elfLoads(core);
}

/** One line of counts for a test's diagnostics. */
export function formatCounts(c: OracleCounts): string {
  const kinds = Object.entries(c.byKind)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const skipped = Object.entries(c.skipped)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  return `${c.processes} process dumps: compared ${c.compared} pages (${kinds}); zero-checked ${c.zeroChecked}; skipped: ${skipped || 'none'}; mismatches ${c.mismatchCount}`;
}
