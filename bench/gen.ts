/**
 * Generators of synthetic CRIU 4.2 image directories and snapshot stacks, for benchmarks.
 *
 * A generated stack is `<root>/L0` (the bottom, a full dump) ... `<root>/L<n-1>` (the top), each
 * upper layer with a `parent` symlink to the one below, as `criu dump --prev-images-dir` leaves
 * them. Every layer holds what CRIU 4.2 writes for one single-threaded process with one private
 * anonymous mapping: inventory.img, pstree.img, core-<pid>.img, mm-<pid>.img (one VMA covering
 * the whole range), pagemap-<pid>.img and pages-1.img.
 *
 * Pagemaps look like CRIU 4.2's: a pagemap_head {pages_id}, then entries with compat_nr_pages 0,
 * the count in nr_pages, flags 6 (PE_LAZY|PE_PRESENT: private anonymous memory) or 1 (PE_PARENT),
 * no entry longer than 256 pages (CRIU's page pipes hold at most pipe-max-size = 1 MiB). They are
 * encoded by hand here (millions of entries); the small images go through the codec's encodeImage.
 *
 * Page contents are checkable from the address alone: the page at address V last written by
 * generation g (the layer index from the bottom) starts with u64_le(V), u32_le(g), u32_le(0x45474150)
 * ("PAGE"), and the rest of the page is `fillByte(g, offset)`. See `expectedBytes`.
 */
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { encodeImage } from '../src/image/image.js';
import { PAGE_SIZE } from '../src/image/pagemap.js';
import type { Message } from '../src/image/schema.js';
import { USER_X86_REGS } from '../src/image/schemas/core-x86.js';

/** CRIU's maximum entry length: pipe-max-size (1 MiB) / 4 KiB. */
export const MAX_ENTRY_PAGES = 256;
export const PE_PARENT = 1;
export const PE_LAZY_PRESENT = 6;
const STAMP_MAGIC = 0x45474150;
const TWO20 = 1 << 20;

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Growable pagemap entries in columns (page numbers, not addresses). */
export class EntryList {
  count = 0;
  vpage = new Float64Array(1024);
  nrPages = new Float64Array(1024);
  flags = new Uint8Array(1024);

  push(vpage: number, nrPages: number, flags: number): void {
    if (this.count === this.vpage.length) {
      const grow = <T extends Float64Array | Uint8Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.vpage = grow(this.vpage);
      this.nrPages = grow(this.nrPages);
      this.flags = grow(this.flags);
    }
    this.vpage[this.count] = vpage;
    this.nrPages[this.count] = nrPages;
    this.flags[this.count] = flags;
    this.count++;
  }

  /** Pushes [vpage, vpage+n) as entries of at most MAX_ENTRY_PAGES pages. */
  pushRun(vpage: number, n: number, flags: number): void {
    while (n > 0) {
      const k = Math.min(n, MAX_ENTRY_PAGES);
      this.push(vpage, k, flags);
      vpage += k;
      n -= k;
    }
  }
}

function putVarint(out: Uint8Array, p: number, v: number): number {
  while (v >= 0x80) {
    out[p++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[p++] = v;
  return p;
}

/**
 * A pagemap image as CRIU 4.2 writes it: [COMMON][PAGEMAP], pagemap_head {pages_id}, then per entry
 * pagemap_entry {vaddr, compat_nr_pages: 0, flags, nr_pages}.
 */
export function encodePagemap(pagesId: number, e: EntryList): Uint8Array {
  // vaddr <= 10 bytes, nr_pages <= 3 bytes (<= 256), flags 1 byte, keys 4, compat 1, length 4
  const out = new Uint8Array(8 + 4 + 6 + e.count * 24);
  out.set([0x19, 0x43, 0x56, 0x54, 0x25, 0x40, 0x08, 0x56], 0);
  let p = 8;
  {
    const lenAt = p;
    p += 4;
    out[p++] = 0x08; // 1: pages_id
    p = putVarint(out, p, pagesId);
    out[lenAt] = p - lenAt - 4;
  }
  for (let i = 0; i < e.count; i++) {
    const lenAt = p;
    p += 4;
    out[p++] = 0x08; // 1: vaddr
    p = putVarint(out, p, e.vpage[i]! * PAGE_SIZE);
    out[p++] = 0x10; // 2: compat_nr_pages = 0 (required; 4.2 puts the count in field 5)
    out[p++] = 0x00;
    out[p++] = 0x20; // 4: flags
    out[p++] = e.flags[i]!;
    out[p++] = 0x28; // 5: nr_pages
    p = putVarint(out, p, e.nrPages[i]!);
    out[lenAt] = p - lenAt - 4; // < 128: the other three bytes stay 0
  }
  return out.subarray(0, p);
}

export interface ProcessSpec {
  pid: number;
  comm: string;
  /** VMAs: [start, end) byte addresses, private anonymous read-write memory. */
  vmas: readonly (readonly [number, number])[];
}

/** The small images of one process (everything but pagemap and pages), via the codec. */
export function processImages(p: ProcessSpec): Record<string, Uint8Array> {
  const inventory: Message = {
    img_version: 2,
    fdinfo_per_id: true,
    ns_per_id: true,
    root_cg_set: 1,
    lsmtype: 0,
    network_lock_method: 0,
    plugins_entry: {},
  };
  const pstree: Message = { pid: p.pid, ppid: 0, pgid: p.pid, sid: p.pid, threads: [p.pid] };
  const first = p.vmas[0] ?? [0, 0];
  const mm: Message = {
    mm_start_code: 0x400000n,
    mm_end_code: 0x401000n,
    mm_start_data: 0x402000n,
    mm_end_data: 0x403000n,
    mm_start_stack: 0x7ffd00000000n,
    mm_start_brk: 0x404000n,
    mm_brk: 0x404000n,
    mm_arg_start: 0x7ffd00001000n,
    mm_arg_end: 0x7ffd00001010n,
    mm_env_start: 0x7ffd00001010n,
    mm_env_end: 0x7ffd00001020n,
    exe_file_id: 1,
    mm_saved_auxv: [6n, 4096n, 0n, 0n],
    vmas: p.vmas.map(([s, e]) => ({
      start: BigInt(s),
      end: BigInt(e),
      pgoff: 0n,
      shmid: 0n,
      prot: 3, // PROT_READ | PROT_WRITE
      flags: 0x22, // MAP_PRIVATE | MAP_ANONYMOUS
      status: 0x201, // VMA_AREA_REGULAR | VMA_ANON_PRIVATE
      fd: -1n,
    })),
    dumpable: 1,
    thp_disabled: false,
  };
  const regs: Message = {};
  for (const r of USER_X86_REGS) regs[r] = 0n;
  regs['ip'] = BigInt(first[0]);
  regs['sp'] = BigInt(first[1]) - 64n;
  regs['cs'] = 51n;
  regs['ss'] = 43n;
  regs['flags'] = 514n;
  regs['mode'] = 1;
  const core: Message = {
    mtype: 1, // X86_64
    thread_info: {
      clear_tid_addr: 0n,
      gpregs: regs,
      fpregs: {
        cwd: 895,
        swd: 0,
        twd: 0,
        fop: 0,
        rip: 0n,
        rdp: 0n,
        mxcsr: 8064,
        mxcsr_mask: 65535,
        st_space: new Array(32).fill(0),
        xmm_space: new Array(64).fill(0),
      },
    },
    tc: {
      task_state: 1,
      exit_code: 0,
      personality: 0,
      flags: 0x400000,
      blk_sigset: 0n,
      comm: p.comm,
    },
    thread_core: { futex_rla: 0n, futex_rla_len: 24, comm: p.comm },
  };
  return {
    'inventory.img': encodeImage({ magic: 'INVENTORY', framing: 'inventory', entries: [inventory] }),
    'pstree.img': encodeImage({ magic: 'PSTREE', framing: 'common', entries: [pstree] }),
    [`mm-${p.pid}.img`]: encodeImage({ magic: 'MM', framing: 'common', entries: [mm] }),
    [`core-${p.pid}.img`]: encodeImage({ magic: 'CORE', framing: 'common', entries: [core] }),
  };
}

/** Byte `offset` (16..4095) of a page written by generation `g`. */
export function fillByte(g: number, offset: number): number {
  return (offset * 7 + g * 31 + 1) & 0xff;
}

/** A page-sized template of generation `g` (the stamp bytes left 0). */
function template(g: number): Uint8Array {
  const t = new Uint8Array(PAGE_SIZE);
  for (let k = 16; k < PAGE_SIZE; k++) t[k] = fillByte(g, k);
  return t;
}

/**
 * Writes a pages file in big writes: pages are stamped into an 8 MiB buffer that is written out
 * whenever it fills.
 */
export class PagesWriter {
  private readonly fd: number;
  private readonly buf: Uint8Array;
  private readonly words: Uint32Array;
  private readonly pagesPerBuf: number;
  private fill = 0;
  bytes = 0;

  constructor(
    path: string,
    readonly generation: number,
    bufBytes = 8 << 20,
    /** Leave the pages out: the file is a hole of the right size (for tests of maps, not bytes). */
    private readonly sparse = false,
  ) {
    this.fd = openSync(path, 'w');
    this.pagesPerBuf = Math.max(1, Math.floor(bufBytes / PAGE_SIZE));
    this.buf = new Uint8Array(this.pagesPerBuf * PAGE_SIZE);
    const t = template(generation);
    for (let i = 0; i < this.pagesPerBuf; i++) this.buf.set(t, i * PAGE_SIZE);
    this.words = new Uint32Array(this.buf.buffer);
  }

  /** Appends the pages [vpage, vpage + n). */
  pages(vpage: number, n: number): void {
    for (let i = 0; i < n; i++) {
      const v = vpage + i;
      const w = this.fill * (PAGE_SIZE / 4);
      this.words[w] = ((v % TWO20) * PAGE_SIZE) >>> 0; // low 32 bits of v * 4096
      this.words[w + 1] = Math.floor(v / TWO20); // high 32 bits
      this.words[w + 2] = this.generation;
      this.words[w + 3] = STAMP_MAGIC;
      if (++this.fill === this.pagesPerBuf) this.flush();
    }
  }

  private flush(): void {
    let off = 0;
    const len = this.fill * PAGE_SIZE;
    while (!this.sparse && off < len) off += writeSync(this.fd, this.buf, off, len - off);
    this.bytes += len;
    this.fill = 0;
  }

  close(): void {
    this.flush();
    if (this.sparse) ftruncateSync(this.fd, this.bytes);
    closeSync(this.fd);
  }
}

export interface StackSpec {
  /** Size of the process's memory in bytes (a multiple of 4096). */
  bytes: number;
  /** Number of layers (>= 1). */
  layers: number;
  /** First address of the mapping (page-aligned). */
  base?: number;
  pid?: number;
  seed?: number;
  /** Fraction of the pages each upper layer rewrites: uniform in [min, max]. */
  dirtyMin?: number;
  dirtyMax?: number;
  /** Pages files as holes of their size, nothing written (reads give zeros, not the pattern). */
  sparse?: boolean;
}

export interface GeneratedStack {
  root: string;
  /** Layer directories, bottom (index 0) to top. */
  dirs: string[];
  top: string;
  pid: number;
  base: number;
  bytes: number;
  pages: number;
  /** Generation (index into dirs) holding each page's final bytes. */
  owner: Uint8Array;
  /** Per layer (bottom first): pagemap entries and PRESENT pages. */
  entries: number[];
  presentPages: number[];
  /** Paths of every layer's pages file, bottom first. */
  pagesFiles: string[];
}

/**
 * Length of one rewritten run: mostly single pages, sometimes a few, rarely long (scattered
 * writes to a heap, now and then a buffer). Mean MEAN_RUN pages.
 */
const MEAN_RUN = 0.7 * 1 + 0.25 * 3.5 + 0.045 * 19 + 0.005 * 144.5;

function runLength(rand: () => number): number {
  const r = rand();
  if (r < 0.7) return 1;
  if (r < 0.95) return 2 + Math.floor(rand() * 4);
  if (r < 0.995) return 6 + Math.floor(rand() * 27);
  return 33 + Math.floor(rand() * 224);
}

/** Lets the event loop run (signal handlers: Ctrl-C during a long generation). */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const PAGES_PER_TICK = 16384;

/**
 * Writes a whole stack under `root` (which must exist and be empty). Asynchronous only so that
 * signals are handled while it runs: the writes themselves are synchronous.
 */
export async function generateStack(root: string, spec: StackSpec): Promise<GeneratedStack> {
  const pid = spec.pid ?? 4242;
  const base = spec.base ?? 0x7f00_0000_0000;
  const pages = Math.floor(spec.bytes / PAGE_SIZE);
  if (pages < 1 || spec.layers < 1) throw new Error('generateStack: need at least one page and one layer');
  const rand = rng(spec.seed ?? 1);
  const dMin = spec.dirtyMin ?? 0.1;
  const dMax = spec.dirtyMax ?? 0.2;
  const basePage = base / PAGE_SIZE;
  const owner = new Uint8Array(pages);
  const small = processImages({ pid, comm: 'bench', vmas: [[base, base + pages * PAGE_SIZE]] });
  const out: GeneratedStack = {
    root,
    dirs: [],
    top: '',
    pid,
    base,
    bytes: pages * PAGE_SIZE,
    pages,
    owner,
    entries: [],
    presentPages: [],
    pagesFiles: [],
  };
  for (let g = 0; g < spec.layers; g++) {
    const dir = join(root, `L${g}`);
    mkdirSync(dir);
    out.dirs.push(dir);
    if (g > 0) symlinkSync(`../L${g - 1}`, join(dir, 'parent'));
    for (const [name, bytes] of Object.entries(small)) writeFileSync(join(dir, name), bytes);
    const pagesPath = join(dir, 'pages-1.img');
    const w = new PagesWriter(pagesPath, g, undefined, spec.sparse === true);
    const e = new EntryList();
    let present = 0;
    if (g === 0) {
      e.pushRun(basePage, pages, PE_LAZY_PRESENT);
      for (let p = 0; p < pages; p += PAGES_PER_TICK) {
        w.pages(basePage + p, Math.min(PAGES_PER_TICK, pages - p));
        await tick();
      }
      present = pages;
    } else {
      const frac = dMin + rand() * (dMax - dMin);
      // Runs of rewritten pages separated by PE_PARENT gaps of mean MEAN_RUN * (1 - f) / f pages:
      // one page after each run, plus floor(an exponential of mean m), whose mean is
      // 1 / (e^(1/m) - 1)
      const extra = Math.max(0.01, (MEAN_RUN * (1 - frac)) / frac - 1);
      const m = 1 / Math.log(1 + 1 / extra);
      let p = 0;
      let nextTick = PAGES_PER_TICK;
      while (p < pages) {
        if (present >= nextTick) {
          nextTick += PAGES_PER_TICK;
          await tick();
        }
        const gap = Math.min(pages - p, Math.floor(-Math.log(1 - rand()) * m));
        if (gap > 0) {
          e.pushRun(basePage + p, gap, PE_PARENT);
          p += gap;
        }
        if (p >= pages) break;
        const n = Math.min(pages - p, runLength(rand));
        e.pushRun(basePage + p, n, PE_LAZY_PRESENT);
        w.pages(basePage + p, n);
        owner.fill(g, p, p + n);
        present += n;
        p += n;
        // a rewritten run ends where an untouched page begins: at least one PE_PARENT page
        if (p < pages) {
          e.pushRun(basePage + p, 1, PE_PARENT);
          p += 1;
        }
      }
    }
    w.close();
    writeFileSync(join(dir, `pagemap-${pid}.img`), encodePagemap(1, mergeParents(e)));
    out.entries.push(e.count);
    out.presentPages.push(present);
    out.pagesFiles.push(pagesPath);
  }
  out.top = out.dirs[out.dirs.length - 1]!;
  return out;
}

/** Neighbouring PE_PARENT entries merged (a hole is one iovec in CRIU), still <= 256 pages. */
function mergeParents(e: EntryList): EntryList {
  const m = new EntryList();
  let i = 0;
  while (i < e.count) {
    const f = e.flags[i]!;
    if (f !== PE_PARENT) {
      m.push(e.vpage[i]!, e.nrPages[i]!, f);
      i++;
      continue;
    }
    const s = e.vpage[i]!;
    let end = s + e.nrPages[i]!;
    i++;
    while (i < e.count && e.flags[i] === PE_PARENT && e.vpage[i] === end) {
      end += e.nrPages[i]!;
      i++;
    }
    m.pushRun(s, end - s, PE_PARENT);
  }
  e.count = m.count;
  e.vpage = m.vpage;
  e.nrPages = m.nrPages;
  e.flags = m.flags;
  return e;
}

/** The bytes the stack's memory must hold at [addr, addr + len) (all inside the range). */
export function expectedBytes(s: GeneratedStack, addr: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  const stamp = new Uint8Array(16);
  const dv = new DataView(stamp.buffer);
  for (let i = 0; i < len; ) {
    const a = addr + i;
    const vpage = Math.floor(a / PAGE_SIZE);
    const g = s.owner[vpage - s.base / PAGE_SIZE]!;
    const pageAddr = vpage * PAGE_SIZE;
    dv.setUint32(0, (vpage % TWO20) * PAGE_SIZE, true);
    dv.setUint32(4, Math.floor(vpage / TWO20), true);
    dv.setUint32(8, g, true);
    dv.setUint32(12, STAMP_MAGIC, true);
    const stop = Math.min(len, pageAddr + PAGE_SIZE - addr);
    for (; i < stop; i++) {
      const o = addr + i - pageAddr;
      out[i] = o < 16 ? stamp[o]! : fillByte(g, o);
    }
  }
  return out;
}

/**
 * Removes `path` at exit, and on SIGINT/SIGTERM/SIGHUP (then exits 128 + signal number); returns
 * a function that removes it now. `before` runs first (e.g. to kill a child writing there).
 */
export function removeOnExit(path: string, before?: () => void): () => void {
  let done = false;
  const remove = (): void => {
    if (done) return;
    done = true;
    before?.();
    // retries: a child killed just now may still be closing files there
    rmSync(path, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    remove();
    process.stderr.write(`\ninterrupted (${sig}); removed ${path}\n`);
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);
  process.once('exit', remove);
  return remove;
}
