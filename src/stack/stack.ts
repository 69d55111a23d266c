/**
 * A stack of snapshots: layers from the top image directory down its `parent` links, the
 * processes of the top layer, and each process's memory resolved through the layers.
 */
import { ImageFormatError, StackError } from '../errors.js';
import { type CriuImage, decodeImage } from '../image/image.js';
import { decodePagemap, PAGE_SIZE, type PagemapColumns } from '../image/pagemap.js';
import {
  coreView,
  fileEntry,
  int,
  memfdEntry,
  mmView,
  type PstreeEntry,
  pstreeEntry,
} from '../image/views.js';
import { PagemapMemory } from './memory.js';
import { ProcessMemory, type Vma, vmaFromMessage } from './process.js';
import { type LayerPagemap, type ResolvedPagemap, resolvePagemap } from './resolve.js';
import type { LayerSource, RandomAccessFile } from './source.js';
import { VMA_ANON_SHARED, VMA_AREA_MEMFD, VMA_AREA_VSYSCALL } from './vma.js';

export const MAX_STACK_DEPTH = 256;

export interface Layer {
  /** 0 = the top (newest) layer. */
  readonly index: number;
  readonly source: LayerSource;
  /** Files in the layer directory, sorted. */
  readonly files: readonly string[];
}

/** A process of pstree.img. */
export type ProcessInfo = PstreeEntry;

export interface OpenStackOptions {
  /** Maximum number of layers (default 256). */
  maxDepth?: number;
  /**
   * Read the pages dedup released in a layer reached through another child (see Released) as the
   * zeros they read back as, instead of failing (the caller warns: read --zero).
   */
  releasedAsZeros?: boolean;
  /**
   * Read what can be read of a damaged stack (docs/reading-damaged-stacks.md): a pages file cut
   * short loses only the pages past its end, which are then held by their layer without bytes (as
   * lazy pages are: not read from below either, whose bytes are older) and listed in `damage`.
   */
  salvage?: boolean;
}

/** Pages a salvaging stack found lost: those of one pagemap whose pages file is cut short (or missing). */
export interface Damage {
  readonly layer: number;
  /** The pages file, as a path for messages. */
  readonly file: string;
  readonly pagemap: string;
  /** Its size and the bytes its pagemap's entries need. */
  readonly size: number;
  readonly need: number;
  /** Lost runs as [first address, pages]. */
  readonly lost: readonly (readonly [number, number])[];
  readonly lostPages: number;
  /** Why, in read's words: "<file>: cut short at offset N (needs M)". */
  readonly reason: string;
}

/**
 * A layer deduplicated under another child than the one this stack reaches it through (or opened
 * as the top itself): dedup released its pages that the child rewrote, and they read as zeros.
 * They are not memory of this stack, so reading one is an error (PAGESTACK_MEMORY_RELEASED).
 */
export interface Released {
  readonly layer: number;
  readonly name: string;
  /** The real path of the child it was deduplicated under. */
  readonly under: string;
}

/** Opens a stack from its top layer, following `parent` links. */
export async function openStack(top: LayerSource, opts: OpenStackOptions = {}): Promise<Stack> {
  const maxDepth = opts.maxDepth ?? MAX_STACK_DEPTH;
  const sources: LayerSource[] = [];
  const seen = new Map<string, string>();
  let cur: LayerSource | null = top;
  while (cur) {
    const prev = seen.get(cur.id);
    if (prev !== undefined) {
      throw new StackError(
        `${sources[sources.length - 1]!.name}: parent link leads back to ${prev}: the stack has a cycle`,
        'PAGESTACK_STACK_CYCLE',
        { layer: cur.name },
      );
    }
    if (sources.length >= maxDepth) {
      throw new StackError(
        `${top.name}: the stack is deeper than ${maxDepth} layers`,
        'PAGESTACK_STACK_TOO_DEEP',
        { layer: top.name },
      );
    }
    seen.set(cur.id, cur.name);
    sources.push(cur);
    cur = await cur.parent();
  }
  const layers: Layer[] = [];
  const released: Released[] = [];
  for (let i = 0; i < sources.length; i++) {
    const src = sources[i]!;
    layers.push({ index: i, source: src, files: await src.list() });
    const under = (await src.dedupUnder?.()) ?? null;
    if (under !== null && (i === 0 || under !== sources[i - 1]!.id))
      released.push({ layer: i, name: src.name, under });
  }
  const stack = new Stack(layers, released, opts.releasedAsZeros === true);
  stack.salvage = opts.salvage === true;
  return stack;
}

/**
 * A pages file of a Released layer: every page a read touches that reads as all zeros is taken
 * for a released one (a hole dedup punched; a page that really held zeros looks the same, which
 * is why `releasedAsZeros` exists) and fails the read, naming the address, the layer and the
 * child. Not handed out as an fd: every read comes through here.
 */
class ReleasedGuard implements RandomAccessFile {
  readonly size: number;
  readonly allocated: number | undefined;
  private readonly page = new Uint8Array(PAGE_SIZE);

  constructor(
    private readonly inner: RandomAccessFile,
    private readonly path: string,
    private readonly rel: Released,
    private readonly cols: PagemapColumns,
  ) {
    this.size = inner.size;
    this.allocated = inner.allocated;
  }

  /** The address of byte `offset` of the pages file (PRESENT entries in order). */
  private addressOf(offset: number): number {
    let off = 0;
    const c = this.cols;
    for (let i = 0; i < c.count; i++) {
      if (!(c.flags[i]! & 4)) continue;
      const len = c.nrPages[i]! * PAGE_SIZE;
      if (offset < off + len) return c.vpage[i]! * PAGE_SIZE + (offset - off);
      off += len;
    }
    return -1;
  }

  private fail(offset: number): never {
    const addr = this.addressOf(offset);
    throw new StackError(
      `${this.path}: offset ${offset}${addr >= 0 ? ` (the page of 0x${addr.toString(16)})` : ''}: released by dedup under ${this.rel.under}; ${this.rel.name} holds it only for that child, not as memory of this stack`,
      'PAGESTACK_MEMORY_RELEASED',
      { file: this.path, layer: this.rel.name, offset, address: addr, under: this.rel.under },
    );
  }

  private static zero(b: Uint8Array, from: number, to: number): boolean {
    for (let i = from; i < to; i++) if (b[i] !== 0) return false;
    return true;
  }

  /** Checks the pages `buf[at, at + n)` (file bytes from `position`) touch; `whole` reads a page. */
  private check(
    buf: Uint8Array,
    at: number,
    n: number,
    position: number,
    whole: (p: number) => Uint8Array,
  ): void {
    if (n <= 0) return;
    const first = Math.floor(position / PAGE_SIZE);
    const last = Math.floor((position + n - 1) / PAGE_SIZE);
    for (let p = first; p <= last; p++) {
      const ps = p * PAGE_SIZE;
      const inside = ps >= position && ps + PAGE_SIZE <= position + n;
      const zero = inside
        ? ReleasedGuard.zero(buf, at + ps - position, at + ps - position + PAGE_SIZE)
        : ReleasedGuard.zero(whole(ps), 0, Math.min(PAGE_SIZE, this.size - ps));
      if (zero) this.fail(ps);
    }
  }

  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const n = await this.inner.read(buf, offset, length, position);
    if (n <= 0) return n;
    // the edge pages the read covers only in part, read whole to be checked
    const edges = new Map<number, Uint8Array>();
    for (const p of new Set([Math.floor(position / PAGE_SIZE), Math.floor((position + n - 1) / PAGE_SIZE)])) {
      const ps = p * PAGE_SIZE;
      if (ps >= position && ps + PAGE_SIZE <= position + n) continue;
      const b = new Uint8Array(PAGE_SIZE);
      await this.inner.read(b, 0, PAGE_SIZE, ps);
      edges.set(ps, b);
    }
    this.check(buf, offset, n, position, (ps) => edges.get(ps)!);
    return n;
  }

  readSync(buf: Uint8Array, offset: number, length: number, position: number): number {
    const inner = this.inner;
    if (!inner.readSync) throw new Error('this source cannot be read synchronously; use read()');
    const n = inner.readSync(buf, offset, length, position);
    this.check(buf, offset, n, position, (ps) => {
      this.page.fill(0);
      inner.readSync!(this.page, 0, PAGE_SIZE, ps);
      return this.page;
    });
    return n;
  }

  readvSync(bufs: readonly Uint8Array[], position: number): number {
    let done = 0;
    for (const b of bufs) {
      const n = this.readSync(b, 0, b.length, position + done);
      done += n;
      if (n < b.length) break;
    }
    return done;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * Refuses an entry whose pages run past the end of the 64-bit address space (vaddr + nr_pages *
 * 4096 > 2^64): no reader can place such pages, and a writer would copy the entry into a new layer.
 */
function inAddressSpace(cols: PagemapColumns): PagemapColumns {
  for (let i = 0; i < cols.count; i++) {
    if (cols.vpage[i]! + cols.nrPages[i]! > 2 ** 52) {
      throw new ImageFormatError(
        `pagemap_entry ${i}: ${cols.nrPages[i]} pages at 0x${(cols.vpage[i]! * PAGE_SIZE).toString(16)} run past the end of the 64-bit address space`,
        cols.fileOffset[i]!,
      );
    }
  }
  return cols;
}

export class Stack {
  readonly layers: readonly Layer[];
  private readonly images = new Map<string, Promise<CriuImage | null>>();
  private readonly pagemaps = new Map<string, Promise<PagemapColumns | null>>();
  private readonly resolved = new Map<string, Promise<ResolvedPagemap>>();
  private readonly pagesFiles = new Map<string, Promise<RandomAccessFile | null>>();
  private readonly memories = new Map<string, Promise<PagemapMemory>>();

  /** Layers deduplicated under another child than this stack's (see Released). */
  readonly released: readonly Released[];
  /** Salvaging (OpenStackOptions.salvage): damage is recorded in `damage`, not thrown. */
  salvage = false;
  /** What salvaging found lost, in the order pagemaps were read. */
  readonly damage: Damage[] = [];
  private readonly salvaged = new Map<string, Promise<PagemapColumns | null>>();
  private readonly releasedAsZeros: boolean;

  constructor(layers: readonly Layer[], released: readonly Released[] = [], releasedAsZeros = false) {
    this.layers = layers;
    this.released = released;
    this.releasedAsZeros = releasedAsZeros;
  }

  get top(): Layer {
    return this.layers[0]!;
  }

  /** A decoded image file of a layer (cached), or null when the layer has none. */
  image(file: string, layer = 0): Promise<CriuImage | null> {
    return this.decoded(this.images, file, layer, decodeImage);
  }

  /** A layer's pagemap in columns (cached), or null when the layer has no such file. */
  pagemapColumns(file: string, layer: number): Promise<PagemapColumns | null> {
    const cols = this.decoded(this.pagemaps, file, layer, (buf) => inAddressSpace(decodePagemap(buf)));
    if (!this.salvage) return cols;
    const key = `${layer}\0${file}`;
    let p = this.salvaged.get(key);
    if (!p) {
      p = cols.then((c) => (c ? this.salvageColumns(c, file, layer) : null));
      this.salvaged.set(key, p);
    }
    return p;
  }

  /**
   * Salvage: the entries of a pagemap whose pages file is shorter than they need, with the pages
   * past its end (a page cut in the middle too) turned PE_LAZY: held here, without bytes.
   */
  private async salvageColumns(
    cols: PagemapColumns,
    pagemap: string,
    layer: number,
  ): Promise<PagemapColumns> {
    let need = 0;
    for (let i = 0; i < cols.count; i++) if (cols.flags[i]! & 4) need += cols.nrPages[i]! * PAGE_SIZE;
    if (need === 0) return cols;
    const src = this.layers[layer]!.source;
    const path = `${src.name}/pages-${cols.pagesId}.img`;
    const f = await src.open(`pages-${cols.pagesId}.img`);
    const size = f ? f.size : 0;
    await f?.close();
    if (size >= need) return cols;
    const keep = Math.floor(size / PAGE_SIZE);
    const vpage: number[] = [];
    const nrPages: number[] = [];
    const flags: number[] = [];
    const fileOffset: number[] = [];
    const lost: [number, number][] = [];
    const push = (v: number, n: number, fl: number, at: number): void => {
      vpage.push(v);
      nrPages.push(n);
      flags.push(fl);
      fileOffset.push(at);
    };
    let off = 0;
    for (let i = 0; i < cols.count; i++) {
      const v = cols.vpage[i]!;
      const n = cols.nrPages[i]!;
      const fl = cols.flags[i]!;
      const at = cols.fileOffset[i]!;
      if (!(fl & 4)) {
        push(v, n, fl, at);
        continue;
      }
      const held = Math.max(0, Math.min(n, keep - off));
      if (held > 0) push(v, held, fl, at);
      if (held < n) {
        push(v + held, n - held, 2, at);
        const last = lost[lost.length - 1];
        if (last && last[0] / PAGE_SIZE + last[1] === v + held) last[1] += n - held;
        else lost.push([(v + held) * PAGE_SIZE, n - held]);
      }
      off += n;
    }
    const lostPages = lost.reduce((a, r) => a + r[1], 0);
    this.damage.push({
      layer,
      file: path,
      pagemap,
      size,
      need,
      lost,
      lostPages,
      reason: f
        ? `${path}: cut short at offset ${size} (${pagemap} needs ${need} bytes)`
        : `${path}: missing (${pagemap} needs ${need} bytes)`,
    });
    return {
      pagesId: cols.pagesId,
      count: vpage.length,
      vpage: Float64Array.from(vpage),
      nrPages: Float64Array.from(nrPages),
      flags: Uint32Array.from(flags),
      fileOffset: Float64Array.from(fileOffset),
    };
  }

  /** The damage (salvage) holding the page of `addr` of `pagemap`, if it is lost. */
  lostAt(pagemap: string, addr: number): Damage | null {
    for (const d of this.damage) {
      if (d.pagemap !== pagemap) continue;
      for (const [a, n] of d.lost) if (addr >= a && addr < a + n * PAGE_SIZE) return d;
    }
    return null;
  }

  /** A layer's file decoded by `decode`, cached in `cache`; format errors name the file. */
  private decoded<T>(
    cache: Map<string, Promise<T | null>>,
    file: string,
    layer: number,
    decode: (buf: Uint8Array) => T,
  ): Promise<T | null> {
    const key = `${layer}\0${file}`;
    let p = cache.get(key);
    if (!p) {
      const src = this.layers[layer]!.source;
      p = src.readFile(file).then((buf) => {
        if (!buf) return null;
        try {
          return decode(buf);
        } catch (e) {
          if (e instanceof ImageFormatError) throw e.withFile(`${src.name}/${file}`);
          throw e;
        }
      });
      cache.set(key, p);
    }
    return p;
  }

  /** Resolves a pagemap file (`pagemap-<pid>.img` or `pagemap-shmem-<id>.img`) through the stack. */
  resolve(file: string): Promise<ResolvedPagemap> {
    let p = this.resolved.get(file);
    if (!p) {
      p = (async () => {
        const layers: LayerPagemap[] = await Promise.all(
          this.layers.map(async (l) => ({
            layerName: l.source.name,
            columns: await this.pagemapColumns(file, l.index),
          })),
        );
        return resolvePagemap(file, layers);
      })();
      this.resolved.set(file, p);
    }
    return p;
  }

  /** The pages file a layer's pagemap names, opened and checked against the pagemap (cached). */
  pagesFile(pagemapFile: string, layer: number): Promise<RandomAccessFile | null> {
    const key = `${layer}\0${pagemapFile}`;
    let p = this.pagesFiles.get(key);
    if (!p) {
      p = (async () => {
        const cols = await this.pagemapColumns(pagemapFile, layer);
        if (!cols) return null;
        const src = this.layers[layer]!.source;
        const name = `pages-${cols.pagesId}.img`;
        let present = 0;
        for (let i = 0; i < cols.count; i++) if (cols.flags[i]! & 4) present += cols.nrPages[i]!;
        const f = await src.open(name);
        if (!f) {
          if (present === 0) return null;
          throw new StackError(
            `${src.name}/${name}: missing, but ${src.name}/${pagemapFile} has ${present} pages in it`,
            'PAGESTACK_PAGES_FILE_MISSING',
            { file: `${src.name}/${name}`, layer: src.name },
          );
        }
        if (f.size < present * PAGE_SIZE) {
          // name the first entry whose pages are cut off
          let off = 0;
          let at = 0;
          for (let i = 0; i < cols.count; i++) {
            if (!(cols.flags[i]! & 4)) continue;
            if (off + cols.nrPages[i]! * PAGE_SIZE > f.size) {
              at = cols.vpage[i]! * PAGE_SIZE;
              break;
            }
            off += cols.nrPages[i]! * PAGE_SIZE;
          }
          await f.close();
          throw new StackError(
            `${src.name}/${name}: ${f.size} bytes, but ${pagemapFile} needs ${present * PAGE_SIZE} (short at offset ${Math.max(off, 0)}, the pages of 0x${at.toString(16)})`,
            'PAGESTACK_PAGES_FILE_SHORT',
            { file: `${src.name}/${name}`, layer: src.name, offset: Math.max(off, 0), address: at },
          );
        }
        const rel = this.releasedAsZeros ? undefined : this.released.find((r) => r.layer === layer);
        // no holes at all (allocation known and full): dedup released nothing here
        if (rel && !(f.allocated !== undefined && f.allocated >= f.size)) {
          return new ReleasedGuard(f, `${src.name}/${name}`, rel, cols);
        }
        return f;
      })();
      this.pagesFiles.set(key, p);
    }
    return p;
  }

  /** Memory of one pagemap file through the stack, ready for reads. */
  memory(file: string): Promise<PagemapMemory> {
    let p = this.memories.get(file);
    if (!p) {
      p = (async () => {
        const resolved = await this.resolve(file);
        const files: (RandomAccessFile | null)[] = [];
        for (let l = 0; l < this.layers.length; l++) {
          files.push(
            l < resolved.depth && resolved.perLayer[l]!.resolvedPages > 0
              ? await this.pagesFile(file, l)
              : null,
          );
        }
        return new PagemapMemory(
          resolved,
          files,
          this.layers.map((l) => l.source.name),
        );
      })();
      this.memories.set(file, p);
    }
    return p;
  }

  /** Processes of the top layer's pstree.img, in its order (the root first). */
  async processes(): Promise<ProcessInfo[]> {
    const img = await this.image('pstree.img');
    if (!img)
      throw new StackError(
        `${this.top.source.name}: no pstree.img: not a CRIU image directory`,
        'PAGESTACK_NO_PSTREE',
        { layer: this.top.source.name },
      );
    return img.entries.map(pstreeEntry);
  }

  /** tc.comm of core-<pid>.img in the top layer, or null without one. */
  async comm(pid: number): Promise<string | null> {
    if (!this.top.files.includes(`core-${pid}.img`)) return null;
    const core = (await this.image(`core-${pid}.img`))?.entries[0];
    return core ? coreView(core).comm : null;
  }

  /** Picks a process: the given pid, or the only one. Throws a StackError listing pids otherwise. */
  async pickPid(pid?: number): Promise<number> {
    const procs = await this.processes();
    if (pid === undefined) {
      if (procs.length === 1) return procs[0]!.pid;
      const pids = procs.map((p) => p.pid);
      throw new StackError(
        `the stack has ${procs.length} processes; choose one of ${pids.join(', ')}`,
        'PAGESTACK_PID_REQUIRED',
        { layer: this.top.source.name, processes: procs.length, pids },
      );
    }
    if (!procs.some((p) => p.pid === pid)) {
      throw new StackError(
        `no process ${pid} in the stack; its processes are ${procs.map((p) => p.pid).join(', ')}`,
        'PAGESTACK_NO_SUCH_PID',
        { layer: this.top.source.name, pid },
      );
    }
    return pid;
  }

  /** VMAs of a process from the top layer's mm-<pid>.img (empty when there is none). */
  async vmas(pid: number): Promise<Vma[]> {
    const mm = await this.image(`mm-${pid}.img`);
    if (!mm || mm.entries.length === 0) return [];
    const entry = mm.entries[0]!;
    // The x86_64 vsyscall page (0xffffffffff600000, beyond 2^53) is in every mm image but is the
    // kernel's, never dumped: leave it out rather than fail on its address.
    return mmView(entry)
      .vmas.filter((v) => !(int(v['status']) & VMA_AREA_VSYSCALL))
      .map((v) => vmaFromMessage(v, `${this.top.source.name}/mm-${pid}.img`));
  }

  /**
   * The shmem pagemap file behind a shared VMA, or null for private memory. CRIU 4.2 dumps shared
   * anonymous memory the memfd way: vma.shmid is a files.img id whose MEMFD entry names an
   * inode_id, and memfd.img maps that inode to the shmid of `pagemap-shmem-<shmid>.img`. Older
   * dumps (VMA_ANON_SHARED) put the shmem id in vma.shmid directly.
   */
  async shmemPagemapFor(vma: Vma): Promise<string | null> {
    if (vma.status & VMA_AREA_MEMFD) {
      const files = (await this.image('files.img'))?.entries.map(fileEntry) ?? [];
      const inode = files.find((e) => e.id === vma.shmid && e.memfdInode !== null)?.memfdInode ?? null;
      const memfds = (await this.image('memfd.img'))?.entries.map(memfdEntry) ?? [];
      const me = inode === null ? undefined : memfds.find((e) => e.inodeId === inode);
      if (!me || me.shmid === null) {
        throw new StackError(
          `${this.top.source.name}: the memfd VMA at 0x${vma.start.toString(16)} (files.img id ${vma.shmid}) has no memfd.img entry with a shmid`,
          'PAGESTACK_MEMFD_UNRESOLVED',
          { layer: this.top.source.name, address: vma.start },
        );
      }
      return `pagemap-shmem-${me.shmid}.img`;
    }
    if (vma.status & VMA_ANON_SHARED) return `pagemap-shmem-${vma.shmid}.img`;
    return null;
  }

  /** A process's memory through the stack. */
  async process(pid: number): Promise<ProcessMemory> {
    const vmas = await this.vmas(pid);
    const priv = await this.memory(`pagemap-${pid}.img`);
    const shared = new Map<Vma, PagemapMemory>();
    for (const v of vmas) {
      const file = await this.shmemPagemapFor(v);
      if (file && this.top.files.includes(file)) shared.set(v, await this.memory(file));
    }
    return new ProcessMemory(pid, vmas, priv, shared);
  }

  /** Closes every open pages file. */
  async close(): Promise<void> {
    for (const p of this.pagesFiles.values()) {
      const f = await p.catch(() => null);
      await f?.close();
    }
    this.pagesFiles.clear();
    this.memories.clear();
    for (const l of this.layers) await l.source.close?.();
  }
}
