/**
 * Progress of a long operation, as the ops report it. The ops call a ProgressReporter; the CLI
 * decides whether to show it (a bar on a terminal) or not (`noProgress`). No Node APIs here:
 * the bar writes to any sink with a `write(string)`.
 */
import { formatBytes } from '../format.js';

export interface ProgressReporter {
  /** The work begins: `total` units (bytes for exports), `label` says what is being done. */
  start(total: number, label: string): void;
  /** `done` units of `total` are finished (monotonic). */
  update(done: number): void;
  /** The work ended (successfully or not): remove any bar. */
  finish(): void;
}

/** Reports nothing. */
export const noProgress: ProgressReporter = {
  start() {},
  update() {},
  finish() {},
};

export interface ProgressSink {
  write(s: string): unknown;
  /** Terminal width, when known. */
  readonly columns?: number;
}

export interface BarOptions {
  /** Minimum milliseconds between redraws (default 100). */
  intervalMs?: number;
  /** Clock (for tests). */
  now?: () => number;
}

/**
 * A one-line progress bar redrawn in place with `\r`, e.g.
 * `core.elf [#########-----------]  45%  1.1 GiB / 2.4 GiB  812 MiB/s`.
 * Draws nothing during the first `intervalMs`, then redraws at most that often; `finish` erases
 * the line.
 */
export function textProgressBar(sink: ProgressSink, opts: BarOptions = {}): ProgressReporter {
  const interval = opts.intervalMs ?? 100;
  const now = opts.now ?? (() => Date.now());
  let total = 0;
  let label = '';
  let t0 = 0;
  let last = Number.NEGATIVE_INFINITY;
  let shown = false;
  let width = 0;
  const draw = (done: number) => {
    const cols = Math.max(40, Math.min(sink.columns ?? 80, 160));
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const secs = (now() - t0) / 1000;
    const rate = secs > 0 ? `  ${formatBytes(done / secs)}/s` : '';
    const tail = ` ${String(Math.floor(frac * 100)).padStart(3)}%  ${formatBytes(done)} / ${formatBytes(total)}${rate}`;
    const name = label.length > 24 ? `…${label.slice(-23)}` : label;
    const barW = Math.max(10, cols - 1 - name.length - 3 - tail.length);
    const fill = Math.round(frac * barW);
    const line = `${name} [${'#'.repeat(fill)}${'-'.repeat(barW - fill)}]${tail}`;
    sink.write(`\r${line}${' '.repeat(Math.max(0, width - line.length))}`);
    width = line.length;
    shown = true;
  };
  return {
    start(t, l) {
      total = t;
      label = l;
      t0 = now();
      // nothing for work done within one interval
      last = t0;
    },
    update(done) {
      const t = now();
      if (t - last < interval) return;
      last = t;
      draw(done);
    },
    finish() {
      if (shown) sink.write(`\r${' '.repeat(width)}\r`);
      shown = false;
      width = 0;
    },
  };
}
