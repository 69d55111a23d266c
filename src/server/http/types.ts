/**
 * The explorer's JSON API: what each endpoint answers. Shared by the server (src/server/http) and
 * the page (web/), which imports these types only. Addresses are numbers (exact below 2^53; the
 * vsyscall page above that comes as a hex string), page counts are numbers.
 *
 * Layers are numbered from the bottom: layer 1 is the first dump, layer N (the number of layers)
 * the top, in every `layer` field and in the diff's `a` / `b`. (LayerInfo.index is the library's
 * Stack.layers index, 0 = the top, for callers of the library.)
 *
 *   GET /api/stack                                  -> StackInfo
 *   GET /api/maps?pid=P                             -> MapInfo     (the strip's layout and classes)
 *   GET /api/runs?pid=P&from=F&to=T&buckets=B       -> RunsInfo    (strip window [F, T) in B buckets)
 *   GET /api/at?pid=P&addr=A                        -> PageInfo
 *   GET /api/read?pid=P&addr=A&len=N                -> ReadInfo    (N <= 65536)
 *   GET /api/diff?pid=P&a=X&b=Y                     -> DiffInfo    (X, Y: layer number, 1 = bottom, or dN, a --with directory from d0)
 *   GET /api/diffruns?pid=P&a=X&b=Y&from=F&to=T&buckets=B -> RunsInfo
 *   GET /api/diffat?pid=P&a=X&b=Y&addr=A            -> DiffPageInfo (what the diff says of one page)
 *   GET /api/search?pid=P&q=TEXT&mode=M[&utf16=1][&max=N] -> SearchInfo
 *        (M: text, hex or regex, as `pagestack search`; at most N matches, N <= 1000)
 *
 * Errors: a status >= 400 and ErrorInfo.
 */

export interface ErrorInfo {
  error: {
    /** The error's class name (MemoryAccessError, StackError, RequestError, ...). */
    class: string;
    /** Its code (src/errors.ts's ERROR_CODES for pagestack's errors). */
    code: string | null;
    message: string;
    /** Where it happened (file, address, pid, ...), as the error's `data`. */
    data: Record<string, unknown>;
  };
}

export interface LayerInfo {
  /** The library's index (Stack.layers, 0 = the top). */
  index: number;
  /** Its number: 1 = the bottom (the first dump), N = the top. */
  number: number;
  /** "layer N (directory)": the page's name for it. */
  label: string;
  /** The short name in the label: the directory's last part (with its parent if a number). */
  dir: string;
  name: string;
  /** Bytes of its pages files and their real disk use (null when unknown). */
  size: number;
  allocated: number | null;
  deduplicated: boolean;
  note: string | null;
  /** Over every pagemap of the stack (processes and shared memory): pages it holds in its own
   * pages files, takes from the layer below, and gives to the final memory. */
  held: number;
  fromBelow: number;
  used: number;
}

export interface ProcessEntry {
  pid: number;
  ppid: number;
  comm: string | null;
  threads: number[];
  dumpedPages: number;
  lazyPages: number;
}

export interface StackInfo {
  top: string;
  layers: LayerInfo[];
  processes: ProcessEntry[];
  /** Extra directories given to `pagestack ui --with`, to diff against: id "d0", "d1", ...;
   * name the path as given; label "PATH (--with)". */
  others: { id: string; name: string; label: string }[];
  totals: { dumpedPages: number; lazyPages: number; pagesFileBytes: number; allocatedBytes: number | null };
  /** The container, when the stack's top is a checkpoint archive (null for a directory). */
  container: ContainerSummary | null;
}

/** What `pagestack inspect` says of an archive's container (src/ops/inspect.ts ContainerInfo). */
export interface ContainerSummary {
  archive: string;
  format: string;
  engine: string;
  name: string | null;
  id: string | null;
  image: string | null;
  runtime: string | null;
  /** ISO 8601 times as the archive's metadata gives them. */
  created: string | null;
  checkpointed: string | null;
  command: string[] | null;
}

export interface ClassInfo {
  /** Index in RunsInfo mixes. */
  id: number;
  /** "layer 3 (name)", "lazy", "not dumped", "gap", "changed", ... */
  name: string;
  /** Short machine name: "layer", "lazy", "not-dumped", "gap", "equal", "changed", ... */
  kind: string;
  /** The layer number (1 = the bottom) for "layer" classes. */
  layer: number | null;
}

export interface RangeInfo {
  start: number;
  end: number;
  /** Strip page of start. */
  at: number;
  pages: number;
  perms: string;
  name: string;
  dumped: number;
  lazy: number;
  notDumped: number;
}

export interface MapInfo {
  pid: number;
  comm: string | null;
  classes: ClassInfo[];
  /** Strip length in pages; gap width in pages. */
  total: number;
  gap: number;
  ranges: RangeInfo[];
  vsyscall: string | null;
  totals: { pages: number; dumped: number; lazy: number; notDumped: number; outside: number };
}

export interface RunsInfo {
  from: number;
  to: number;
  buckets: number;
  /** Runs of buckets: n buckets with mix [class, share/255, class, share/255, ...]. */
  runs: { n: number; mix: number[] }[];
}

export type PageState = 'dumped' | 'lazy' | 'not-dumped' | 'unmapped';

export interface PageInfo {
  addr: number;
  page: number;
  state: PageState;
  /** Layer number, 1 = the bottom. */
  layer: number | null;
  layerName: string | null;
  /** Byte offset in the layer's pages file. */
  fileOffset: number | null;
  vma: RangeInfo | null;
}

export interface ReadPiece {
  /** Address and length of this piece of the read (one page or less). */
  addr: number;
  len: number;
  state: PageState;
  layer: number | null;
  layerName: string | null;
  /** The bytes, base64, when readable. */
  data: string | null;
  /** Why the bytes cannot be read (the library's MemoryAccessError message), when not. */
  refusal: string | null;
}

export interface ReadInfo {
  addr: number;
  len: number;
  pieces: ReadPiece[];
  vma: RangeInfo | null;
}

export interface DiffCounts {
  changed: number;
  added: number;
  removed: number;
  equal: number;
  lazy: number;
}

export interface DiffInfo {
  pid: number;
  a: string;
  b: string;
  counts: DiffCounts;
  classes: ClassInfo[];
  total: number;
  gap: number;
  ranges: RangeInfo[];
  /** The changed, added and removed ranges in address order, at most 2000 (changesTotal: all). */
  changes: DiffChange[];
  changesTotal: number;
}

/** One run of pages of one kind in a diff. */
export interface DiffChange {
  start: number;
  end: number;
  kind: 'changed' | 'added' | 'removed';
  pages: number;
  /** The VMA it is in: "perms name". */
  vma: string;
}

/** What the diff of A and B says of one page. */
export interface DiffPageInfo {
  addr: number;
  page: number;
  /** equal, changed, added, removed, lazy, neither (mapped, dumped in neither) or unmapped. */
  kind: 'equal' | 'changed' | 'added' | 'removed' | 'lazy' | 'neither' | 'unmapped';
  /** The legend's words for it. */
  name: string;
  vma: RangeInfo | null;
}

export type SearchMode = 'text' | 'hex' | 'regex';

/** One match of `pagestack search`, as its --json line gives it (context as base64). */
export interface SearchHit {
  address: number;
  length: number;
  vma: { start: number; end: number; perms: string; name: string } | null;
  /** Layer number, 1 = the bottom (`pagestack search --json` gives the library's index). */
  layer: number;
  layerName: string;
  /** The shmem pagemap the match is in, or null for private memory. */
  shared: string | null;
  contextStart: number;
  context: string;
}

export interface SearchInfo {
  pid: number;
  pattern: string;
  mode: SearchMode;
  utf16: boolean;
  matches: SearchHit[];
  /** The search stopped at `limit` matches: more may follow. */
  truncated: boolean;
  limit: number;
  /** Bytes searched: all of the process's held memory, or up to the last match when truncated. */
  bytesSearched: number | null;
  ms: number;
}
