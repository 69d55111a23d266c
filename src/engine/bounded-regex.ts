/**
 * A regular expression run with a deadline. V8's regular expressions backtrack: `(.*)*$` or
 * `(a+)+b` on a long enough subject runs for longer than anyone waits, and nothing can interrupt
 * it on its own thread (not a timer, not SIGTERM's handler). So the matching runs on a worker
 * thread, chunk by chunk, and the caller waits for each chunk's answer with a deadline
 * (Atomics.wait on shared memory: the caller stays synchronous, as the search loop is); past the
 * deadline the worker is terminated, which does stop a regular expression mid-run.
 *
 * V8's linear-time engine (`--enable-experimental-regexp-engine`, the `l` flag) was measured as
 * the other way: 56 s for a plain pattern over 32 MiB where backtracking takes 4 ms, so no.
 *
 * Shared state (Int32Array `ctl`): [0] state: 0 idle, 1 a job waits, 2 answered, 3 stop;
 * [1] subject length; [2] limit (matches must start before it); [3] ints written to `out`;
 * [4] 1 once the worker runs. Matches are written to `out` as (start, length) pairs, at most one
 * per start position, so `out` holds 2 * capacity ints.
 */
import { Worker } from 'node:worker_threads';

const WORKER = `
const { workerData } = require('node:worker_threads');
const ctl = new Int32Array(workerData.ctl);
const data = Buffer.from(workerData.data);
const out = new Int32Array(workerData.out);
const re = new RegExp(workerData.source, 'g');
Atomics.store(ctl, 4, 1);
Atomics.notify(ctl, 0);
for (;;) {
  const state = Atomics.load(ctl, 0);
  if (state === 3) break;
  if (state !== 1) {
    Atomics.wait(ctl, 0, state);
    continue;
  }
  const len = ctl[1];
  const limit = ctl[2];
  const text = data.toString('latin1', 0, len);
  let n = 0;
  re.lastIndex = 0;
  for (;;) {
    const m = re.exec(text);
    if (!m || m.index >= limit) break;
    if (m[0].length > 0) {
      out[n++] = m.index;
      out[n++] = m[0].length;
    }
    re.lastIndex = m.index + 1;
  }
  ctl[3] = n;
  Atomics.store(ctl, 0, 2);
  Atomics.notify(ctl, 0);
}
`;

/** How long a worker thread may take to start before the search gives up (a loaded machine). */
const START_LIMIT_MS = 60_000;

export class BoundedRegex {
  private worker: Worker | null = null;
  private readonly ctl: Int32Array;
  private readonly data: Uint8Array;
  private readonly out: Int32Array;
  private readonly shared: { ctl: SharedArrayBuffer; data: SharedArrayBuffer; out: SharedArrayBuffer };

  /**
   * `source` is matched with flag `g` over latin1 text (one character per byte), in subjects of
   * up to `capacity` bytes; each subject gets `deadlineMs` (after the worker has started).
   */
  constructor(
    readonly source: string,
    readonly capacity: number,
    readonly deadlineMs: number,
  ) {
    this.shared = {
      ctl: new SharedArrayBuffer(5 * 4),
      data: new SharedArrayBuffer(capacity),
      out: new SharedArrayBuffer(2 * capacity * 4),
    };
    this.ctl = new Int32Array(this.shared.ctl);
    this.data = new Uint8Array(this.shared.data);
    this.out = new Int32Array(this.shared.out);
  }

  /**
   * Appends (start, length) of every non-empty match in `buf[0..len)` starting before `limit` to
   * `out`, as the search loop does in its own thread. Returns false when the deadline passed (the
   * worker is then gone: the regex is unusable).
   */
  find(buf: Uint8Array, len: number, limit: number, out: number[]): boolean {
    if (len > this.capacity) throw new RangeError(`subject of ${len} bytes, capacity ${this.capacity}`);
    if (!this.worker) {
      this.worker = new Worker(WORKER, { eval: true, workerData: { ...this.shared, source: this.source } });
      this.worker.unref();
    }
    const ctl = this.ctl;
    this.data.set(buf.subarray(0, len));
    ctl[1] = len;
    ctl[2] = limit;
    Atomics.store(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    let started = Atomics.load(ctl, 4) === 1 ? Date.now() : null;
    const begun = Date.now();
    for (;;) {
      if (Atomics.load(ctl, 0) === 2) break;
      const now = Date.now();
      if (started === null && Atomics.load(ctl, 4) === 1) started = now;
      const left = started === null ? begun + START_LIMIT_MS - now : started + this.deadlineMs - now;
      if (left <= 0) {
        this.stop();
        return false;
      }
      // short slices until the worker is up (it notifies once, perhaps before we wait)
      Atomics.wait(ctl, 0, 1, started === null ? Math.min(left, 20) : left);
    }
    const n = ctl[3]!;
    for (let i = 0; i < n; i++) out.push(this.out[i]!);
    Atomics.store(ctl, 0, 0);
    return true;
  }

  private stop(): void {
    const w = this.worker;
    this.worker = null;
    Atomics.store(this.ctl, 0, 3);
    Atomics.store(this.ctl, 4, 0);
    Atomics.notify(this.ctl, 0);
    // terminate() stops a regular expression mid-run; its promise is not waited for
    if (w) void w.terminate();
  }

  /** Ends the worker thread. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (!w) return;
    Atomics.store(this.ctl, 0, 3);
    Atomics.notify(this.ctl, 0);
    await w.terminate();
  }
}
