/**
 * One received dump becoming the next layer of a stack (no sockets here: fed decoded messages).
 *
 *   STACK/1 .. STACK/K       existing layers (K = highest number), each with parent -> ../<n-1>
 *   STACK/.K+1.pagestack-tmp-<pid>-<rand>/     the session writes here (LayerWriter)
 *   CLOSE -> every file fsynced -> rename to STACK/K+1 -> fsync STACK -> answer CLOSE with 0
 *
 * What is written follows CRIU's own page server (criu/page-xfer.c), so that a layer below nothing
 * is byte for byte what `criu page-server` writes: each OPEN2 (or OPEN, or a message for a pagemap
 * that is not the open one: CRIU's "Deprecated IO w/o open") opens `pagemap-<id>.img` /
 * `pagemap-shmem-<id>.img` with a new pages id, counted from 0x10001 as CRIU's receiving server
 * does, and `pages-<pages id>.img`; every ADD_F/ADD/HOLE becomes pagemap entries with the flags
 * received, and present pages are appended to the pages file in arrival order.
 *
 * The difference: each present page is compared with the page at the same address of the same
 * pagemap in the stack below (STACK/K, resolved through its parents); equal pages become PE_PARENT
 * entries (flags exactly 1) and are not stored, as `delta` writes them: a received entry splits
 * into runs of kept / PE_PARENT pages, runs never merge across received entries. A page the stack
 * below holds only as lazy or not at all is kept. So layers come out incremental although the
 * dumping kernel tracks no dirty memory (and CRIU is told "no parent": see page-server.ts).
 *
 * Where: the staged pages go to an ingest thread (ingest-thread.ts), which reads the pages below,
 * compares and writes the kept ones while this thread goes on reading the socket; the results
 * become entries here, in order. Page data is read from the socket straight into the slot being
 * filled (dataTarget, see socket-feed.ts), so it is not copied here. Where the stack below is not local files (no descriptors), the
 * same work runs on this thread.
 *
 * Memory: received pages are staged in STAGE_BYTES (THREAD_SLOTS such buffers with the thread)
 * and compared against as many bytes of the stack below; nothing grows with what the peer
 * announces.
 *
 * Refused (the session fails, nothing is written): a pagemap opened twice in one session (CRIU
 * truncates it), entries not in ascending address order or overlapping (CRIU writes them; no
 * reader accepts them), PE_PARENT entries sent by the peer that the stack below does not cover.
 */
import { join } from 'node:path';
import { LayerWriter, PagemapEntries, type PagesWriter } from '../engine/layer-writer.js';
import { IngestError } from '../errors.js';
import { PAGE_SHIFT, PAGE_SIZE, PE_PARENT, PE_PRESENT } from '../image/pagemap.js';
import type { PagemapId } from '../protocol/pageserver/iov.js';
import { pagemapFileName } from '../protocol/pageserver/iov.js';
import { openStackDir } from '../source/open.js';
import type { PagemapMemory } from '../stack/memory.js';
import { findExtent } from '../stack/resolve.js';
import type { RandomAccessFile } from '../stack/source.js';
import type { Stack } from '../stack/stack.js';
import { IngestThread } from './ingest-thread.js';

/** CRIU's receiving page server starts its pages ids here (up_page_ids_base() in criu/image.c). */
export const FIRST_PAGES_ID = 0x10001;
/** Bytes of received pages compared with the stack below at a time. */
const STAGE_BYTES = 1 << 20;
/** Batches in flight with the ingest thread. */
const THREAD_SLOTS = 8;
/** The ingest thread starts an fdatasync of a pages file every this many bytes written. */
const SYNC_EVERY = 8 << 20;

/** What waits for the ingest thread, in order: a batch's result, or an entry behind it. */
type Pending =
  | { kind: 'batch'; cur: OpenPagemap; seq: number; index: number; v0: number; k: number; flags: number }
  | { kind: 'entry'; cur: OpenPagemap; index: number; vpage: number; n: number; flags: number };

export interface IngestStats {
  layer: string;
  pagemaps: number;
  entries: number;
  /** Pages received with data. */
  pagesReceived: number;
  /** Of those, stored in the layer's pages files. */
  pagesKept: number;
  /** Of those, equal to the stack below: stored as PE_PARENT. */
  pagesShared: number;
  /** Entries without data (lazy, in-parent) as received. */
  pagesWithoutData: number;
}

interface OpenPagemap {
  name: string;
  pagesId: number;
  pages: PagesWriter;
  entries: PagemapEntries;
  below: PagemapMemory | null;
  /** Its batches go to the ingest thread (the stack below, if any, is local files). */
  threaded: boolean;
  /** Page after the last entry's end (entries must ascend). */
  endPage: number;
  entryIndex: number;
}

/** Numbered layers of a stack directory, ascending. */
export function layerNumbers(names: readonly string[]): number[] {
  return names
    .filter((n) => /^[1-9]\d*$/.test(n))
    .map(Number)
    .filter((n) => Number.isSafeInteger(n))
    .sort((a, b) => a - b);
}

export class LayerIngest {
  readonly number: number;
  readonly dest: string;
  private readonly writer: LayerWriter;
  private readonly below: Stack | null;
  private readonly belowName: string | null;
  private nextPagesId = FIRST_PAGES_ID;
  private cur: OpenPagemap | null = null;
  private readonly written = new Set<string>();
  private readonly stats: IngestStats;
  /** The entry whose data is arriving, and the stage it is collected in. */
  private dataEntry: { index: number; vpage: number; flags: number; done: number } | null = null;
  private readonly stage = Buffer.allocUnsafe(STAGE_BYTES);
  private readonly belowBuf = Buffer.allocUnsafe(STAGE_BYTES);
  private stageFill = 0;
  private finished = false;
  /** The ingest thread (ingest-thread.ts), and what waits for its results, in order. */
  private readonly thread: IngestThread | null;
  private readonly queue: Pending[] = [];
  /** The slot being filled (the stage, when threaded), or null. */
  private slotBuf: Uint8Array | null = null;

  private constructor(
    number: number,
    dest: string,
    writer: LayerWriter,
    below: Stack | null,
    belowName: string | null,
    threaded: boolean,
  ) {
    this.thread = threaded ? new IngestThread(THREAD_SLOTS, STAGE_BYTES, SYNC_EVERY) : null;
    this.number = number;
    this.dest = dest;
    this.writer = writer;
    this.below = below;
    this.belowName = belowName;
    this.stats = {
      layer: dest,
      pagemaps: 0,
      entries: 0,
      pagesReceived: 0,
      pagesKept: 0,
      pagesShared: 0,
      pagesWithoutData: 0,
    };
  }

  /** Starts layer `number` of `stackDir` on top of layer `belowNumber` (null: the first layer). */
  static async begin(
    stackDir: string,
    number: number,
    belowNumber: number | null,
    opts: { thread?: boolean } = {},
  ): Promise<LayerIngest> {
    const dest = join(stackDir, String(number));
    const belowName = belowNumber === null ? null : String(belowNumber);
    const below = belowName === null ? null : await openStackDir(join(stackDir, belowName));
    try {
      const writer = await LayerWriter.begin(dest);
      return new LayerIngest(number, dest, writer, below, belowName, opts.thread ?? true);
    } catch (e) {
      await below?.close();
      throw e;
    }
  }

  /**
   * The pagemap messages go to; opens it (OPEN2/OPEN, or implicitly) unless it is the open one.
   * Synchronous (undefined) when it is the open one, as for nearly every ADD_F.
   */
  select(p: PagemapId, explicit: boolean): Promise<void> | undefined {
    const name = pagemapFileName(p);
    if (!explicit && this.cur?.name === name) return undefined;
    return this.open(name);
  }

  private async open(name: string): Promise<void> {
    await this.closePagemap();
    if (this.written.has(name)) {
      throw new IngestError(`${name} opened a second time in one session (CRIU would truncate it)`);
    }
    this.written.add(name);
    const pagesId = this.nextPagesId++;
    const pages = await this.writer.createPages(`pages-${pagesId}.img`);
    let below: PagemapMemory | null = null;
    if (this.below?.top.files.includes(name)) below = await this.below.memory(name);
    const threaded = this.thread !== null && (!below || below.files.every((f) => !f || f.fd !== undefined));
    if (threaded) this.thread!.name(pagesId, pages.path);
    this.cur = {
      name,
      pagesId,
      pages,
      entries: new PagemapEntries(),
      below,
      threaded,
      endPage: 0,
      entryIndex: 0,
    };
    this.stats.pagemaps++;
  }

  /** An ADD_F/ADD/HOLE header for the open pagemap. With PE_PRESENT its data follows via data(). */
  entry(vaddr: bigint, nrPages: bigint, flags: number): void {
    const c = this.cur!;
    const vpage = Number(vaddr >> BigInt(PAGE_SHIFT));
    const n = Number(nrPages);
    if (vpage < c.endPage) {
      throw new IngestError(
        `${c.name}: entry at 0x${vaddr.toString(16)} is below the end of the previous one (0x${(c.endPage * PAGE_SIZE).toString(16)}); entries must ascend`,
      );
    }
    if (n === 0) return; // CRIU would write an empty entry; no reader wants one
    c.endPage = vpage + n;
    const index = c.entryIndex++;
    this.stats.entries++;
    if (flags & PE_PRESENT) {
      this.dataEntry = { index, vpage, flags, done: 0 };
      this.stats.pagesReceived += n;
      return;
    }
    if (flags & PE_PARENT) this.checkCovered(c, vaddr, vpage, n);
    // after the batches still with the ingest thread, whose entries come first
    if (this.queue.length > 0) this.queue.push({ kind: 'entry', cur: c, index, vpage, n, flags });
    else c.entries.push(index, vpage, n, flags);
    this.stats.pagesWithoutData += n;
  }

  private checkCovered(c: OpenPagemap, vaddr: bigint, vpage: number, n: number): void {
    const x = c.below?.extents;
    let at = vpage;
    if (x) {
      for (let j = findExtent(x, vpage); j < x.count && x.start[j]! <= at && at < vpage + n; j++) {
        if (x.end[j]! > at) at = x.end[j]!;
      }
    }
    if (at < vpage + n) {
      throw new IngestError(
        `${c.name}: PE_PARENT entry at 0x${vaddr.toString(16)} (${n} pages): page 0x${(at * PAGE_SIZE).toString(16)} is not in the stack below${this.belowName ? ` (layer ${this.belowName})` : ' (this is the first layer)'}`,
      );
    }
  }

  /**
   * Where the next `max` bytes of the current entry's page data can be read straight into: the
   * free part of the ingest slot being filled (a free slot is taken if there is one). null: no
   * slot at hand (or no ingest thread); the bytes come to data() from elsewhere.
   */
  dataTarget(max: number): Uint8Array | null {
    if (!this.cur?.threaded || !this.dataEntry) return null;
    // a failed batch still hands its buffer back: slots keep coming, so look for failures here
    this.thread!.check();
    if (!this.slotBuf && !this.takeSlot()) return null;
    return this.slotBuf!.subarray(
      this.stageFill,
      this.stageFill + Math.min(max, STAGE_BYTES - this.stageFill),
    );
  }

  /**
   * Inside an entry's page data: undefined when a slot is at hand for it (or none is needed),
   * else a promise of one. Reading on before a slot is back would only read into a buffer to copy
   * from.
   */
  slotReady(): Promise<void> | undefined {
    if (!this.cur?.threaded || !this.dataEntry) return undefined;
    this.thread!.check();
    if (this.slotBuf || this.takeSlot()) return undefined;
    return this.awaitSlot();
  }

  /** Takes a free slot if one is back (the results before it become entries); false if none. */
  private takeSlot(): boolean {
    const b = this.thread!.takeFree();
    if (!b) return false;
    this.slotBuf = b;
    this.collect();
    return true;
  }

  /** Waits for a slot to come back and takes it (throws what failed on the thread). */
  private async awaitSlot(): Promise<void> {
    this.slotBuf = await this.thread!.nextBuffer();
    this.collect();
  }

  /** A piece of the current entry's page data; synchronous (undefined) where no wait is needed. */
  data(bytes: Uint8Array): Promise<void> | undefined {
    if (this.cur?.threaded) return this.dataThreaded(bytes, 0);
    return this.dataStaged(bytes);
  }

  private async dataStaged(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(bytes.length - off, STAGE_BYTES - this.stageFill);
      this.stage.set(bytes.subarray(off, off + n), this.stageFill);
      this.stageFill += n;
      off += n;
      if (this.stageFill === STAGE_BYTES) await this.flushStage();
    }
  }

  /** The current entry's data is complete. */
  dataEnd(): Promise<void> | undefined {
    if (this.cur?.threaded) {
      this.publishBatch();
      this.dataEntry = null;
      return undefined;
    }
    return this.flushStage().then(() => {
      this.dataEntry = null;
    });
  }

  /**
   * `data` with the ingest thread: the bytes go into its slots, a slot per batch; bytes read in
   * place (dataTarget) are only counted. Waits only for a slot to come back.
   */
  private dataThreaded(bytes: Uint8Array, from: number): Promise<void> | undefined {
    const slot = this.slotBuf;
    if (
      from === 0 &&
      slot &&
      bytes.buffer === slot.buffer &&
      bytes.byteOffset === slot.byteOffset + this.stageFill
    ) {
      this.stageFill += bytes.length;
      if (this.stageFill === STAGE_BYTES) this.publishBatch();
      return undefined;
    }
    let off = from;
    while (off < bytes.length) {
      if (!this.slotBuf) {
        this.thread!.check();
        if (!this.takeSlot()) return this.awaitSlot().then(() => this.dataThreaded(bytes, off));
      }
      const n = Math.min(bytes.length - off, STAGE_BYTES - this.stageFill);
      this.slotBuf!.set(bytes.subarray(off, off + n), this.stageFill);
      this.stageFill += n;
      off += n;
      if (this.stageFill === STAGE_BYTES) this.publishBatch();
    }
    return undefined;
  }

  /** Hands the staged pages of the current entry to the ingest thread. */
  private publishBatch(): void {
    const e = this.dataEntry!;
    const c = this.cur!;
    const k = this.stageFill / PAGE_SIZE;
    if (k === 0) return;
    const t = this.thread!;
    t.check();
    const v0 = e.vpage + e.done;
    const reads = this.belowReads(v0, k);
    const seq = t.publishedCount;
    t.publish(
      this.slotBuf!,
      c.pagesId,
      c.pages.fd,
      k,
      reads.map((r) => ({ fd: r.file.fd!, pos: r.pos, at: r.at, len: r.len })),
    );
    this.queue.push({ kind: 'batch', cur: c, seq, index: e.index, v0, k, flags: e.flags });
    e.done += k;
    this.stageFill = 0;
    this.slotBuf = null;
  }

  /** Turns the results the ingest thread has finished into entries, in order. */
  private collect(): void {
    const t = this.thread;
    let i = 0;
    for (; i < this.queue.length; i++) {
      const it = this.queue[i]!;
      if (it.kind === 'entry') {
        it.cur.entries.push(it.index, it.vpage, it.n, it.flags);
        continue;
      }
      if (!t || it.seq >= t.doneCount) break;
      const same = t.takeResult(it.seq);
      if (!same) break; // it failed: the caller gets the error from the thread
      this.pushRuns(it.cur, it.index, it.flags, same, it.v0, it.k);
    }
    this.queue.splice(0, i);
  }

  /** Waits for everything with the ingest thread and takes the results. */
  private async drain(): Promise<void> {
    if (!this.thread) return;
    await this.thread.settle();
    this.collect();
  }

  /** Whether the open pagemap's stack below (if any) is read synchronously. */
  private belowIsSync(): boolean {
    const below = this.cur?.below;
    return !below || below.files.every((f) => !f || f.readSync !== undefined);
  }

  /** The reads of the stack below that `k` staged pages from page `v0` are compared with. */
  private belowReads(
    v0: number,
    k: number,
  ): { file: RandomAccessFile; at: number; len: number; pos: number; a: number }[] {
    const reads: { file: RandomAccessFile; at: number; len: number; pos: number; a: number }[] = [];
    const c = this.cur!;
    const x = c.below?.extents;
    if (x && c.below) {
      for (let j = findExtent(x, v0); j < x.count && x.start[j]! < v0 + k; j++) {
        const layer = x.layer[j]!;
        if (layer < 0) continue; // lazy below: its bytes are not in the images
        const a = Math.max(v0, x.start[j]!);
        const b = Math.min(v0 + k, x.end[j]!);
        if (b <= a) continue;
        reads.push({
          file: c.below.files[layer]!,
          at: (a - v0) * PAGE_SIZE,
          len: (b - a) * PAGE_SIZE,
          pos: x.offset[j]! + (a - x.start[j]!) * PAGE_SIZE,
          a,
        });
      }
    }
    return reads;
  }

  /** Marks the pages of one read below (`got` bytes of it in belowBuf) that equal the stage. */
  private markSame(same: Uint8Array, v0: number, r: { at: number; a: number }, got: number): void {
    const full = Math.floor(got / PAGE_SIZE);
    for (let p = 0; p < full; p++) {
      const o = r.at + p * PAGE_SIZE;
      if (this.stage.compare(this.belowBuf, o, o + PAGE_SIZE, o, o + PAGE_SIZE) === 0) same[r.a - v0 + p] = 1;
    }
  }

  /**
   * Compares the staged pages with the stack below and writes entries and kept pages, on this
   * thread (no ingest thread for this pagemap). Where the files allow, with synchronous calls: a
   * page-cache copy awaited through the thread pool is a round trip during which the socket is
   * not read.
   */
  private async flushStage(): Promise<void> {
    const e = this.dataEntry!;
    const c = this.cur!;
    const k = this.stageFill / PAGE_SIZE; // whole pages: STAGE_BYTES and every entry are page multiples
    if (k === 0) return;
    const v0 = e.vpage + e.done;
    const sync = this.belowIsSync();
    const same = new Uint8Array(k);
    for (const r of this.belowReads(v0, k)) {
      let got = 0;
      while (got < r.len) {
        const n = sync
          ? r.file.readSync!(this.belowBuf, r.at + got, r.len - got, r.pos + got)
          : await r.file.read(this.belowBuf, r.at + got, r.len - got, r.pos + got);
        if (n === 0) break;
        got += n;
      }
      this.markSame(same, v0, r, got);
    }
    for (const run of this.pushRuns(c, e.index, e.flags, same, v0, k)) {
      if (sync) c.pages.appendSync(this.stage, run.at, run.len);
      else await c.pages.append(this.stage, run.at, run.len);
    }
    e.done += k;
    this.stageFill = 0;
  }

  /** The entries of `k` pages from `v0` of source entry `index`, PE_PARENT where `same`. */
  private pushRuns(
    c: OpenPagemap,
    index: number,
    flags: number,
    same: Uint8Array,
    v0: number,
    k: number,
  ): { at: number; len: number }[] {
    const kept: { at: number; len: number }[] = [];
    let p = 0;
    while (p < k) {
      const s = same[p]!;
      let q = p + 1;
      while (q < k && same[q] === s) q++;
      if (s) {
        c.entries.push(index, v0 + p, q - p, PE_PARENT);
        this.stats.pagesShared += q - p;
      } else {
        c.entries.push(index, v0 + p, q - p, flags);
        kept.push({ at: p * PAGE_SIZE, len: (q - p) * PAGE_SIZE });
        this.stats.pagesKept += q - p;
      }
      p = q;
    }
    return kept;
  }

  private async closePagemap(): Promise<void> {
    const c = this.cur;
    if (!c) return;
    // the ingest thread writes this pages file: done with it before it is closed
    await this.drain();
    this.cur = null;
    await c.pages.close();
    await this.writer.writePagemap(c.name, c.pagesId, c.entries);
  }

  /** CLOSE: writes what is open, links the parent, fsyncs and renames into place. */
  async commit(): Promise<IngestStats> {
    if (this.dataEntry) throw new IngestError('CLOSE inside page data');
    await this.closePagemap();
    await this.thread?.finish();
    if (this.belowName !== null) await this.writer.symlink('parent', `../${this.belowName}`);
    await this.writer.commit();
    this.finished = true;
    await this.below?.close();
    return this.stats;
  }

  /** Drops the half-built layer (disconnect, bad data, shutdown). */
  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    // before any descriptor it uses is closed
    await this.thread?.stop();
    await this.cur?.pages.discard();
    this.cur = null;
    await this.writer.abort();
    await this.below?.close();
  }

  /** No pagemap entry so far (a session with nothing in it leaves no layer: page-server.ts). */
  get empty(): boolean {
    return this.stats.entries === 0;
  }

  get summary(): IngestStats {
    return this.stats;
  }
}
