/**
 * Where a stack's bytes come from, seen from the stack core. The core never touches `fs`:
 * an image directory, a checkpoint archive or an object store each implement these two
 * interfaces (see src/source/), and a browser could too.
 */

/** A file that can be read at any position. */
export interface RandomAccessFile {
  /** Size in bytes. */
  readonly size: number;
  /** Reads up to `length` bytes at `position` into `buf[offset..]`; returns the count read. */
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** The same, synchronously, where the backend can (local files); the fast path for small reads. */
  readSync?(buf: Uint8Array, offset: number, length: number, position: number): number;
  /**
   * Reads the bytes from `position` on into `bufs` in turn (one scattered read: preadv), where the
   * backend can; returns the count read, short only at the end of the file.
   */
  readvSync?(bufs: readonly Uint8Array[], position: number): number;
  /**
   * The OS file descriptor, where the bytes are exactly a local file's (offset 0 is the file's
   * start): for readers on another thread. They never close it.
   */
  readonly fd?: number;
  /** Bytes actually allocated (st_blocks * 512), where known: shows punched holes. */
  readonly allocated?: number;
  close(): Promise<void>;
}

/** One image directory (one layer of a stack). */
export interface LayerSource {
  /** How to name this layer in messages (a directory path, an archive member, a URL). */
  readonly name: string;
  /** A stable identity for cycle detection (e.g. the directory's real path). */
  readonly id: string;
  /** File names in the layer. */
  list(): Promise<string[]>;
  /** Whole contents of a (small) image file, or null when the layer has no such file. */
  readFile(file: string): Promise<Uint8Array | null>;
  /** Opens a (large) file for positioned reads, or null when absent. */
  open(file: string): Promise<RandomAccessFile | null>;
  /**
   * The parent layer named by this layer's `parent` link, or null for the bottom layer.
   * Throws a StackError when the link exists but does not lead to a readable layer.
   */
  parent(): Promise<LayerSource | null>;
  /**
   * The real path of the child this layer was deduplicated under (dedup's marker), or null; where
   * the source can tell (image directories).
   */
  dedupUnder?(): Promise<string | null>;
  /** Releases what the layer holds open (an archive's file, its temporary copy), where it holds any. */
  close?(): Promise<void>;
}
