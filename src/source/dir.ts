/**
 * An image directory on the local filesystem as a stack layer.
 *
 * `parent` is normally a symlink (relative to the directory, or absolute). Copies made by tools
 * that flatten symlinks leave a small regular file holding the link text instead; that is read
 * the same way.
 */
import { constants, readSync, readvSync, type Stats } from 'node:fs';
import { type FileHandle, lstat, open, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { StackError } from '../errors.js';
import type { LayerSource, RandomAccessFile } from '../stack/source.js';
import { DETECT_BYTES, detectFormat } from './archive/format.js';

class LocalFile implements RandomAccessFile {
  readonly size: number;
  readonly allocated: number;
  private readonly fh: FileHandle;

  constructor(fh: FileHandle, st: Stats) {
    this.fh = fh;
    this.size = st.size;
    this.allocated = st.blocks * 512;
  }

  get fd(): number {
    return this.fh.fd;
  }

  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, offset + done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  readSync(buf: Uint8Array, offset: number, length: number, position: number): number {
    let done = 0;
    while (done < length) {
      const n = readSync(this.fh.fd, buf, offset + done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  readvSync(bufs: readonly Uint8Array[], position: number): number {
    let total = 0;
    for (const b of bufs) total += b.length;
    let done = readvSync(this.fh.fd, bufs as Uint8Array[], position);
    if (done > 0 && done < total) {
      // a short read before the end of the file: the rest buffer by buffer
      let off = 0;
      for (const b of bufs) {
        if (off + b.length <= done) {
          off += b.length;
          continue;
        }
        const skip = Math.max(0, done - off);
        const n = this.readSync(b, skip, b.length - skip, position + off + skip);
        done = off + skip + n;
        if (n < b.length - skip) return done;
        off += b.length;
      }
    }
    return done;
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** What a file that is not a regular file is, for messages ("a FIFO"). */
export function fileKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'a special file';
}

function notRegular(path: string, st: Stats, layer: string): StackError {
  return new StackError(
    `${path}: is ${fileKind(st)}, expected a regular image file`,
    'PAGESTACK_SOURCE_READ',
    { file: path, layer },
  );
}

/**
 * Opens an image file for reading, refusing anything but a regular file (after symlinks): opening
 * a FIFO blocks until a writer comes, a device may never end. stat first; O_NONBLOCK so that a
 * file swapped for a FIFO after the stat still does not block the open; fstat after, which is
 * what counts. Null when there is no such file.
 */
async function openRegular(path: string, layer: string): Promise<FileHandle | null> {
  let st: Stats;
  try {
    st = await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new StackError(`${path}: ${(e as Error).message}`, 'PAGESTACK_SOURCE_READ', { file: path, layer });
  }
  if (!st.isFile()) throw notRegular(path, st, layer);
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new StackError(`${path}: ${(e as Error).message}`, 'PAGESTACK_SOURCE_READ', { file: path, layer });
  }
  const now = await fh.stat();
  if (!now.isFile()) {
    await fh.close();
    throw notRegular(path, now, layer);
  }
  return fh;
}

/** Do the first bytes of `path` say tar, gzip, zstd, xz or bzip2? */
async function looksLikeArchive(path: string): Promise<boolean> {
  const fh = await openRegular(path, path);
  if (!fh) return false;
  try {
    const head = new Uint8Array(DETECT_BYTES);
    const { bytesRead } = await fh.read(head, 0, DETECT_BYTES, 0);
    return detectFormat(head.subarray(0, bytesRead)) !== null;
  } finally {
    await fh.close();
  }
}

/** `.pagestack-dedup` (engine/layer-writer.ts DEDUP_MARKER), `.pagestack-hotset` (stack/hotset.ts). */
const DEDUP_MARKER_NAME = '.pagestack-dedup';
const PAGESTACK_MARKER_RE = /^\.pagestack-(?:dedup|hotset)$/;

export class DirLayerSource implements LayerSource {
  readonly name: string;
  readonly id: string;

  private constructor(name: string, id: string) {
    this.name = name;
    this.id = id;
  }

  /** Opens an image directory; fails with a StackError when it is not a readable directory. */
  static async open(dir: string, via?: string): Promise<DirLayerSource> {
    let st: Stats;
    try {
      st = await stat(dir);
    } catch {
      throw new StackError(
        via
          ? `${via}: parent link points to ${dir}, which does not exist`
          : `${dir}: no such file or directory`,
        via ? 'PAGESTACK_PARENT_LINK' : 'PAGESTACK_NOT_IMAGE_DIR',
        { file: dir },
      );
    }
    if (!st.isDirectory()) {
      throw new StackError(
        via
          ? `${via}: parent link points to ${dir}, which is not a directory (nor a checkpoint archive)`
          : `${dir}: not a directory, expected an image directory`,
        via ? 'PAGESTACK_PARENT_LINK' : 'PAGESTACK_NOT_IMAGE_DIR',
        { file: dir },
      );
    }
    return new DirLayerSource(dir, await realpath(dir));
  }

  async list(): Promise<string[]> {
    // pagestack's own marker files (engine/layer-writer.ts) are not part of the image
    return (await readdir(this.name)).filter((f) => !PAGESTACK_MARKER_RE.test(f)).sort();
  }

  async readFile(file: string): Promise<Uint8Array | null> {
    const fh = await openRegular(join(this.name, file), this.name);
    if (!fh) return null;
    try {
      return new Uint8Array(await fh.readFile());
    } catch (e) {
      throw new StackError(`${join(this.name, file)}: ${(e as Error).message}`, 'PAGESTACK_SOURCE_READ', {
        file: join(this.name, file),
        layer: this.name,
      });
    } finally {
      await fh.close();
    }
  }

  async open(file: string): Promise<RandomAccessFile | null> {
    const fh = await openRegular(join(this.name, file), this.name);
    if (!fh) return null;
    return new LocalFile(fh, await fh.stat());
  }

  async dedupUnder(): Promise<string | null> {
    try {
      return (await readFile(join(this.name, DEDUP_MARKER_NAME), 'utf8')).trim() || null;
    } catch {
      return null;
    }
  }

  /** The link text of `parent`, or null when there is none. */
  async parentLink(): Promise<string | null> {
    const path = join(this.name, 'parent');
    let st: Stats;
    try {
      st = await lstat(path);
    } catch {
      return null;
    }
    if (st.isSymbolicLink()) return readlink(path);
    if (st.isFile() && st.size < 4096) return (await readFile(path, 'utf8')).trim();
    if (st.isDirectory()) return 'parent';
    throw new StackError(
      `${path}: expected a symlink to the parent image directory`,
      'PAGESTACK_PARENT_LINK',
      { file: path, layer: this.name },
    );
  }

  async parent(): Promise<LayerSource | null> {
    const link = await this.parentLink();
    if (link === null) return null;
    // a layer made from checkpoint images (delta IMAGE IMAGE) links to the image: oci://...@sha256:...
    // or an OCI layout's path[:TAG] (src/source/oci)
    if (link.startsWith('oci://') || (isAbsolute(link) && (await mayBeLayout(link)))) {
      const image = await (await import('./oci/image.js')).openImageParent(link, link);
      if (image) return image;
    }
    const target = isAbsolute(link) ? link : join(this.name, link);
    // a layer made from checkpoint archives (delta OLD.tar NEW.tar) links to the archive file
    const st = await stat(target).catch(() => null);
    if (st?.isFile() && (await looksLikeArchive(target))) {
      const { openArchiveSource } = await import('./archive/index.js');
      return openArchiveSource(target);
    }
    return DirLayerSource.open(target, `${this.name}/parent`);
  }
}

/** An absolute link that may name an OCI layout: a directory holding oci-layout, a tar, or PATH:TAG. */
async function mayBeLayout(link: string): Promise<boolean> {
  const st = await stat(link).catch(() => null);
  if (st === null) return link.includes(':');
  if (st.isDirectory()) return (await stat(join(link, 'oci-layout')).catch(() => null)) !== null;
  return st.isFile();
}
