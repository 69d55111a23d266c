/** Sorted, merged half-open ranges [start, end) in two parallel arrays (pages, offsets, ...). */
export class SortedRanges {
  readonly start: number[] = [];
  readonly end: number[] = [];

  /** Appends [s, e) (s must not precede the last start), merging with the last when they touch. */
  push(s: number, e: number): void {
    if (e <= s) return;
    const k = this.start.length - 1;
    if (k >= 0 && s <= this.end[k]!) {
      if (e > this.end[k]!) this.end[k] = e;
      return;
    }
    this.start.push(s);
    this.end.push(e);
  }

  get count(): number {
    return this.start.length;
  }
}
