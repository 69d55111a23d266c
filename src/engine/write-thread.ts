/**
 * A second thread that writes chunks to a file while this one reads the next ones (copyInto).
 *
 * Why: a copy from the page cache to the page cache is two kernel memory copies per byte, the
 * pread into our buffer and the pwrite out of it. On one thread they add up; with the writes on
 * another core they overlap. Measured (1 GiB, 128 KiB chunks, page cache warm, idle 2-core
 * machine): pread alone 0.22-0.24 s, pwrite alone 0.23-0.27 s, both on one thread 0.45-0.52 s,
 * reads here and writes on the thread 0.36-0.41 s (worker start-up included).
 *
 *   this thread                     shared memory                          writer thread
 *   read chunk k into slot k % N -> [slot 0][slot 1]...[slot N-1]  ->  pwrite slot k % N
 *   meta[slot] = its writes          ctl[PUBLISHED] = k + 1              ctl[WRITTEN] = k + 1
 *   waits while k - WRITTEN >= N     (Atomics.wait / notify on both)     waits while WRITTEN = PUBLISHED
 *
 * A slot is reused only after the writer has written it (WRITTEN passed it); the writer reads a
 * slot only after it was published. The file descriptor is the process's: the caller keeps it
 * open until `finish` or `stop` has returned, by when the thread has exited.
 */
import { Worker } from 'node:worker_threads';

const PUBLISHED = 0;
const WRITTEN = 1;
/** Set by the writer when a write failed (it posts the error, then exits). */
const FAILED = 2;
/** Set by this thread: exit after the current slot (errors on this side, interruption). */
const STOP = 3;

/** Most contiguous output ranges one slot may hold (copyInto cuts chunks at this many). */
export const MAX_WRITES_PER_SLOT = 64;
const META_PER_SLOT = 1 + 3 * MAX_WRITES_PER_SLOT;

/**
 * The writer thread's code: plain JavaScript, run with `eval` so that it needs no file of its own
 * beside the built modules and no loader (tests run the TypeScript sources). `meta` per slot:
 * [count, (at, length, pos) x count], `at` relative to the slot; count -1 ends the thread.
 */
const WRITER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const { data, ctl, meta, fd, slots, slotSize, metaPerSlot } = workerData;
const buf = new Uint8Array(data);
let k = 0;
for (;;) {
  while (Atomics.load(ctl, ${PUBLISHED}) === k && Atomics.load(ctl, ${STOP}) === 0) {
    Atomics.wait(ctl, ${PUBLISHED}, k, 1000);
  }
  if (Atomics.load(ctl, ${STOP}) !== 0) break;
  const s = k % slots;
  const m = s * metaPerSlot;
  const count = meta[m];
  if (count < 0) break;
  try {
    for (let i = 0; i < count; i++) {
      const at = s * slotSize + meta[m + 1 + 3 * i];
      const length = meta[m + 2 + 3 * i];
      const pos = meta[m + 3 + 3 * i];
      let done = 0;
      while (done < length) done += writeSync(fd, buf, at + done, length - done, pos + done);
    }
  } catch (e) {
    parentPort.postMessage({ message: String(e && e.message), code: e && e.code, errno: e && e.errno, syscall: e && e.syscall });
    Atomics.store(ctl, ${FAILED}, 1);
    Atomics.notify(ctl, ${WRITTEN});
    break;
  }
  k++;
  Atomics.store(ctl, ${WRITTEN}, k);
  Atomics.notify(ctl, ${WRITTEN});
}
`;

/** A write the writer thread failed (its errno error, rebuilt on this side). */
function writeError(m: { message?: string; code?: string; errno?: number; syscall?: string } | null): Error {
  const e = new Error(m?.message ?? 'the writer thread failed') as NodeJS.ErrnoException;
  if (m?.code) e.code = m.code;
  if (m?.errno !== undefined) e.errno = m.errno;
  if (m?.syscall) e.syscall = m.syscall;
  return e;
}

/** A turn for the event loop (no thread involved). */
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class WriteThread {
  readonly slots: number;
  readonly slotSize: number;
  private readonly worker: Worker;
  private readonly ctl: Int32Array;
  private readonly meta: Float64Array;
  private readonly views: Uint8Array[];
  private readonly exited: Promise<void>;
  private hasExited = false;
  private failure: Parameters<typeof writeError>[0] = null;
  private published = 0;

  constructor(fd: number, slots: number, slotSize: number) {
    this.slots = slots;
    this.slotSize = slotSize;
    const data = new SharedArrayBuffer(slots * slotSize);
    this.ctl = new Int32Array(new SharedArrayBuffer(4 * 4));
    this.meta = new Float64Array(new SharedArrayBuffer(8 * slots * META_PER_SLOT));
    this.views = [];
    for (let s = 0; s < slots; s++) this.views.push(new Uint8Array(data, s * slotSize, slotSize));
    this.worker = new Worker(WRITER_SOURCE, {
      eval: true,
      // the writer needs no loader (tsx) and no flags of this process
      execArgv: [],
      workerData: { data, ctl: this.ctl, meta: this.meta, fd, slots, slotSize, metaPerSlot: META_PER_SLOT },
    });
    this.worker.on('message', (m: Parameters<typeof writeError>[0]) => {
      this.failure ??= m;
    });
    this.exited = new Promise((resolve) => {
      const done = () => {
        this.hasExited = true;
        resolve();
      };
      this.worker.once('exit', done);
      this.worker.once('error', (e: Error) => {
        this.failure ??= { message: `the writer thread failed: ${e.message}` };
      });
    });
  }

  /** Chunks written so far. */
  get written(): number {
    return Atomics.load(this.ctl, WRITTEN);
  }

  /**
   * The buffer of the next slot to fill, once the writer is done with it. Waits on this thread
   * (the writer is busy writing, so not for long), with a turn for the event loop now and then.
   */
  async nextSlot(): Promise<Uint8Array> {
    await this.waitWritten(this.published - this.slots + 1);
    return this.views[this.published % this.slots]!;
  }

  /** Hands the slot `nextSlot` gave to the writer: `writes` as [at, length, pos] triples. */
  publish(writes: readonly { at: number; length: number; out: number }[]): void {
    if (writes.length > MAX_WRITES_PER_SLOT) throw new RangeError('too many writes for one slot');
    const m = (this.published % this.slots) * META_PER_SLOT;
    this.meta[m] = writes.length;
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i]!;
      this.meta[m + 1 + 3 * i] = w.at;
      this.meta[m + 2 + 3 * i] = w.length;
      this.meta[m + 3 + 3 * i] = w.out;
    }
    this.published++;
    Atomics.store(this.ctl, PUBLISHED, this.published);
    Atomics.notify(this.ctl, PUBLISHED);
  }

  /** Waits until every published slot is written, then ends the thread. */
  async finish(): Promise<void> {
    await this.waitWritten(this.published);
    this.meta[(this.published % this.slots) * META_PER_SLOT] = -1;
    this.published++;
    Atomics.store(this.ctl, PUBLISHED, this.published);
    Atomics.notify(this.ctl, PUBLISHED);
    await this.exited;
    if (this.failure) throw writeError(this.failure);
  }

  /** Ends the thread after the write it is doing (if any); safe to call at any point. */
  async stop(): Promise<void> {
    Atomics.store(this.ctl, STOP, 1);
    Atomics.notify(this.ctl, PUBLISHED);
    await this.exited;
  }

  private async waitWritten(target: number): Promise<void> {
    while (Atomics.load(this.ctl, WRITTEN) < target) {
      if (Atomics.load(this.ctl, FAILED) !== 0 || this.hasExited) {
        await this.exited;
        // the message is posted before the flag is set: it is in by the time 'exit' fires
        throw writeError(this.failure);
      }
      const seen = Atomics.load(this.ctl, WRITTEN);
      if (seen >= target) break;
      // short waits: a thread that died without a word shows up as 'exit' on the event loop
      if (Atomics.wait(this.ctl, WRITTEN, seen, 50) === 'timed-out') await yieldToLoop();
    }
  }
}
