// src/stack/ranges.ts
var SortedRanges = class {
  start = [];
  end = [];
  /** Appends [s, e) (s must not precede the last start), merging with the last when they touch. */
  push(s, e) {
    if (e <= s) return;
    const k = this.start.length - 1;
    if (k >= 0 && s <= this.end[k]) {
      if (e > this.end[k]) this.end[k] = e;
      return;
    }
    this.start.push(s);
    this.end.push(e);
  }
  get count() {
    return this.start.length;
  }
};

export {
  SortedRanges
};
