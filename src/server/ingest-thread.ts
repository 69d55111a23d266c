/**
 * A second thread for the page server's ingest (ingest.ts): it compares staged pages with the
 * stack below and writes the pages that differ, while the main thread goes on reading the socket.
 *
 * Why: on one thread the receive (the socket's reads) and the ingest work (reading the pages
 * below, comparing, writing the kept pages) add up; CRIU's own server does neither in user space.
 * Here they overlap:
 *
 *   main thread                                 messages                  ingest thread
 *   socket reads -> a 1 MiB buffer (the stage) -- batch k + buffer ->      pread the pages below,
 *   queue: batch k (entry, first page, count)      (moved, not copied)     compare page by page,
 *   on its result: the entries of batch k       <- result k + buffer --    pwrite the differing runs
 *   from `same`, in order; the buffer is free      + same[p] per page      to the pages file, in order
 *
 * N buffers go round (the stage is one of them while it fills): moved, never copied, and plain
 * memory (a SharedArrayBuffer would make every copy into it a slow word-by-word one). The pages
 * file is written only there, at a position kept per pages file in batch order, so kept runs land
 * where one append after another would put them. The main thread closes a pages file, or the stack
 * below, only after `drain`. Descriptors are the process's: nothing is opened or closed there.
 */
import { Worker } from 'node:worker_threads';
import { IngestError, LayerWriteError } from '../errors.js';

const PAGE = 4096;

/**
 * The thread's code, plain JavaScript run with `eval` (no file beside the built modules, no
 * loader). A batch: { seq, buf, key, fd, pages, reads: [fd, pos, at, len, ...] }; its first
 * `pages` pages are staged in `buf`. Kept runs are written at pos[key], 0 for a new pages file.
 *
 * Every SYNC_EVERY bytes of a pages file an fdatasync of it starts on the thread pool, and the
 * thread writes on meanwhile: the disk takes the layer while it arrives, so the fsync before the
 * layer appears has little left to do (waiting for each one, as before, paced the whole receive at
 * the disk's speed: 1 GiB in 2.1 s instead of 1.0 s). Each { settle: true } is answered once none is
 * in flight, with the first that failed: before a pages file is closed, its descriptor must not be
 * synced any more (the number could be reused).
 */
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { readSync, writeSync, fdatasync } = require('node:fs');
const { slotSize, syncEvery } = workerData;
const PAGE = ${PAGE};
const below = Buffer.allocUnsafe(slotSize);
const pos = new Map();
const synced = new Map();
const syncing = new Set();
let syncFailed = null;
let settling = 0;
function settled() {
  for (; settling > 0; settling--) parentPort.postMessage({ settled: true, failed: syncFailed });
}
parentPort.on('message', (b) => {
  if (b.settle) {
    settling++;
    if (syncing.size === 0) settled();
    return;
  }
  if (syncFailed) {
    parentPort.postMessage({ seq: b.seq, buf: b.buf, failed: syncFailed }, [b.buf]);
    return;
  }
  const stage = Buffer.from(b.buf);
  const same = new Uint8Array(b.pages);
  let step = 'read';
  try {
    const r = b.reads;
    for (let i = 0; i < r.length; i += 4) {
      const rfd = r[i], rpos = r[i + 1], at = r[i + 2], len = r[i + 3];
      let got = 0;
      while (got < len) {
        const n = readSync(rfd, below, at + got, len - got, rpos + got);
        if (n === 0) break;
        got += n;
      }
      const full = Math.floor(got / PAGE);
      for (let p = 0; p < full; p++) {
        const o = at + p * PAGE;
        if (stage.compare(below, o, o + PAGE, o, o + PAGE) === 0) same[o / PAGE] = 1;
      }
    }
    step = 'write';
    let at = pos.get(b.key) ?? 0;
    let p = 0;
    while (p < b.pages) {
      if (same[p]) { p++; continue; }
      let q = p + 1;
      while (q < b.pages && !same[q]) q++;
      const len = (q - p) * PAGE;
      let done = 0;
      while (done < len) done += writeSync(b.fd, stage, p * PAGE + done, len - done, at + done);
      at += len;
      p = q;
    }
    pos.set(b.key, at);
    if (syncEvery > 0 && at - (synced.get(b.key) ?? 0) >= syncEvery && !syncing.has(b.key)) {
      syncing.add(b.key);
      synced.set(b.key, at);
      const key = b.key;
      fdatasync(b.fd, (e) => {
        syncing.delete(key);
        if (e && !syncFailed) syncFailed = { step: 'fdatasync', key, message: String(e.message) };
        if (syncing.size === 0) settled();
      });
    }
  } catch (e) {
    parentPort.postMessage({ seq: b.seq, buf: b.buf, failed: { step, key: b.key, message: String(e && e.message) } }, [b.buf]);
    return;
  }
  parentPort.postMessage({ seq: b.seq, buf: b.buf, same }, [b.buf, same.buffer]);
});
`;

/** One read of the stack below for a batch: `len` bytes of descriptor `fd` at `pos` -> stage `at`. */
export interface BelowRead {
  fd: number;
  pos: number;
  at: number;
  len: number;
}

interface Failure {
  step?: string;
  key?: number;
  message?: string;
}

interface Result {
  seq: number;
  buf: ArrayBuffer;
  same?: Uint8Array;
  failed?: Failure | null;
  /** The answer to { settle: true }. */
  settled?: boolean;
}

export class IngestThread {
  readonly slotSize: number;
  private readonly worker: Worker;
  private readonly free: ArrayBuffer[] = [];
  private readonly results = new Map<number, Uint8Array>();
  private readonly exited: Promise<void>;
  private hasExited = false;
  private failure: Failure | null = null;
  private published = 0;
  private done = 0;
  private wake: (() => void) | null = null;
  private readonly names = new Map<number, string>();
  /** { settle: true } messages not answered yet. */
  private settling = 0;

  constructor(buffers: number, slotSize: number, syncEvery: number) {
    this.slotSize = slotSize;
    for (let i = 0; i < buffers; i++) this.free.push(new ArrayBuffer(slotSize));
    this.worker = new Worker(SOURCE, { eval: true, execArgv: [], workerData: { slotSize, syncEvery } });
    this.worker.on('message', (m: Result) => {
      if (m.settled) {
        if (m.failed) this.failure ??= m.failed;
        this.settling--;
        this.wake?.();
        return;
      }
      this.free.push(m.buf);
      if (m.failed) this.failure ??= m.failed;
      else this.results.set(m.seq, m.same!);
      this.done = Math.max(this.done, m.seq + 1);
      this.wake?.();
    });
    this.worker.once('error', (e: Error) => {
      this.failure ??= { message: `the ingest thread failed: ${e.message}` };
    });
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', () => {
        this.hasExited = true;
        this.wake?.();
        resolve();
      });
    });
  }

  /** Batches published so far, and answered by the thread. */
  get publishedCount(): number {
    return this.published;
  }

  get doneCount(): number {
    return this.done;
  }

  /** A free stage buffer, once the thread has handed one back. */
  async nextBuffer(): Promise<Uint8Array> {
    while (this.free.length === 0 && !this.failure && !this.hasExited) await this.next();
    this.check();
    if (this.free.length === 0) throw this.error();
    return new Uint8Array(this.free.pop()!);
  }

  /** A free stage buffer if one is back already, else null (does not throw: see check()). */
  takeFree(): Uint8Array | null {
    const b = this.free.pop();
    return b ? new Uint8Array(b) : null;
  }

  /** Batch `seq`'s result (1 for each page equal to the one below), taken once; none if it failed. */
  takeResult(seq: number): Uint8Array | undefined {
    const r = this.results.get(seq);
    this.results.delete(seq);
    return r;
  }

  /** Throws what failed on the thread, if anything has. */
  check(): void {
    if (this.failure) throw this.error();
  }

  /** Names pages file `key` for error messages. */
  name(key: number, path: string): void {
    this.names.set(key, path);
  }

  /** Hands `stage` (from nextBuffer; moved: unusable here after) with `pages` staged pages over. */
  publish(stage: Uint8Array, key: number, pagesFd: number, pages: number, reads: readonly BelowRead[]): void {
    const flat: number[] = [];
    for (const r of reads) flat.push(r.fd, r.pos, r.at, r.len);
    const buf = stage.buffer as ArrayBuffer;
    this.worker.postMessage({ seq: this.published++, buf, key, fd: pagesFd, pages, reads: flat }, [buf]);
  }

  /** Waits until the first `target` batches are answered; throws what failed. */
  async waitDone(target: number): Promise<void> {
    while (this.done < target && !this.failure) {
      if (this.hasExited) break;
      await this.next();
    }
    if (this.failure || this.done < target) throw this.error();
  }

  /**
   * Waits until everything published is answered and no background fdatasync is in flight (before
   * a pages file it writes is closed); throws what failed.
   */
  async settle(): Promise<void> {
    await this.waitDone(this.published);
    if (this.hasExited) throw this.error();
    this.settling++;
    this.worker.postMessage({ settle: true });
    while (this.settling > 0 && !this.hasExited && !this.failure) await this.next();
    this.check();
    if (this.settling > 0) throw this.error();
  }

  /** Ends the thread once everything published is answered; throws what failed. */
  async finish(): Promise<void> {
    try {
      await this.waitDone(this.published);
    } finally {
      await this.stop();
    }
  }

  /** Ends the thread (after the batch it is on); safe at any point. */
  async stop(): Promise<void> {
    if (!this.hasExited) await this.worker.terminate();
    await this.exited;
  }

  private next(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = null;
        resolve();
      };
    });
  }

  private error(): Error {
    const f = this.failure;
    const what = `${f?.message ?? 'the ingest thread stopped'}`;
    if (f?.step === 'read') return new IngestError(`reading the stack below: ${what}`);
    const path = (f?.key !== undefined && this.names.get(f.key)) || 'pages file';
    return new LayerWriteError(`${path}: ${f?.step ?? 'write'}: ${what}`);
  }
}
