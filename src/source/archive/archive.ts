/**
 * A checkpoint archive opened for reading: its format found from the bytes, decompressed at most
 * once (unpack.ts), its tar indexed once (tar.ts), and its layout recognised:
 *
 *   podman      checkpoint/ + config.dump, spec.dump, stats-dump, network.status, rootfs-diff.tar,
 *               deleted.files, devshm-checkpoint.tar, volumes/, ctr.log
 *   CRI-O       checkpoint/ + a reduced config.dump, spec.dump (io.kubernetes.cri-o.* annotations),
 *               bind.mounts, dump.log, stats-dump, a log member named io.kubernetes.cri-o.LogPath
 *   containerd  as CRI-O, plus status, status.dump, container.log
 *   bare CRIU   an image directory tarred up: inventory.img at the root, or in the one top directory
 */
import { closeSync, constants, fstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { ArchiveError } from './errors.js';
import { type ArchiveFormat, DETECT_BYTES, detectFormat } from './format.js';
import {
  type ByteContainer,
  indexTar,
  memberKind,
  resolveLinkInArchive,
  type TarIndex,
  type TarMember,
} from './tar.js';
import { FileContainer, type MemoryContainer, type UnpackOptions, unpack } from './unpack.js';

export type Engine = 'podman' | 'CRI-O' | 'containerd' | 'criu';

export interface ArchiveOptions extends UnpackOptions {
  /** How to name the archive in messages and its identity, when not its path (an image's layer blob). */
  label?: string;
}

/** How many symlinks a member lookup follows before giving up (a loop). */
const MAX_LINK_HOPS = 16;

/**
 * Text members (config.dump, spec.dump: a few KiB of JSON from the engine) are read whole into one
 * string; past this size they are refused by name rather than by V8's string length limit (512 MiB).
 */
export const TEXT_MEMBER_LIMIT = 64 * 1024 * 1024;

export class Archive {
  private refs = 1;
  private constructor(
    /** The path it was opened by (used in messages). */
    readonly path: string,
    /** Its real path (identity). */
    readonly realPath: string,
    readonly format: ArchiveFormat,
    readonly container: ByteContainer & { close(): void },
    readonly index: TarIndex,
    /** The directory holding the CRIU images ('' = the root). */
    readonly imageDir: string,
    readonly engine: Engine,
  ) {}

  static async open(path: string, opts: ArchiveOptions = {}): Promise<Archive> {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY);
    } catch (e) {
      throw new ArchiveError(`${path}: ${(e as Error).message}`);
    }
    let container: (ByteContainer & { close(): void }) | null = null;
    try {
      const st = fstatSync(fd);
      const head = new Uint8Array(DETECT_BYTES);
      const got = readSync(fd, head, 0, DETECT_BYTES, 0);
      const format = detectFormat(head.subarray(0, got));
      if (format === null) {
        throw new ArchiveError(
          `${path}: not an image directory or a checkpoint archive (expected a tar, gzip, zstd, xz or bzip2 file; ${got} bytes start ${hexStart(head.subarray(0, got))})`,
        );
      }
      if (format === 'tar') {
        container = new FileContainer(fd, st.size);
      } else {
        closeSync(fd);
        fd = -1;
        container = (await unpack(path, format, opts)) as MemoryContainer | FileContainer;
        const inner = new Uint8Array(DETECT_BYTES);
        const n = container.readSync(inner, 0, DETECT_BYTES, 0);
        if (detectFormat(inner.subarray(0, n)) !== 'tar') {
          throw new ArchiveError(
            `${path}: the ${format} stream does not hold a tar archive (it starts ${hexStart(inner.subarray(0, n))})`,
          );
        }
      }
      const index = indexTar(container, opts.label ?? path);
      const { imageDir, engine } = recogniseLayout(index, opts.label ?? path);
      const label = opts.label;
      return label === undefined
        ? new Archive(path, realpathSync(path), format, container, index, imageDir, engine)
        : new Archive(label, label, format, container, index, imageDir, engine);
    } catch (e) {
      if (container) container.close();
      else if (fd >= 0) closeSync(fd);
      throw e;
    }
  }

  /** Another user of the archive (a layer); each calls release() once. */
  retain(): this {
    this.refs++;
    return this;
  }

  release(): void {
    if (--this.refs === 0) this.container.close();
  }

  /**
   * The member `name` after following symlinks inside the archive, or undefined when absent.
   * A link leaving the archive is an ArchiveError naming the member.
   */
  lookup(name: string): TarMember | undefined {
    let cur = name;
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
      const m = this.index.get(cur);
      if (m?.type !== 'symlink') return m;
      const next = resolveLinkInArchive(m.name, m.linkname);
      if (next === null) {
        throw new ArchiveError(
          `${this.path}: member "${m.name}" is a symlink to "${m.linkname}", outside the archive; links in an archive are never followed out of it`,
        );
      }
      cur = next;
    }
    throw new ArchiveError(`${this.path}: member "${name}": more than ${MAX_LINK_HOPS} symlinks (a loop?)`);
  }

  /** Whole contents of a member (following links inside the archive), or null when absent. */
  async readMember(name: string): Promise<Uint8Array | null> {
    const m = this.lookup(name);
    if (!m) return null;
    if (m.type !== 'file') {
      throw new ArchiveError(`${this.path}: member "${name}" is ${memberKind(m)}, expected a regular file`);
    }
    const buf = new Uint8Array(m.size);
    const n = await this.container.read(buf, 0, m.size, m.offset);
    if (n !== m.size)
      throw new ArchiveError(`${this.path}: member "${name}": short read at offset ${m.offset + n}`);
    return buf;
  }

  /** A text member as a string, or null; refused past TEXT_MEMBER_LIMIT bytes. */
  async readText(name: string): Promise<string | null> {
    const m = this.lookup(name);
    if (m?.type === 'file' && m.size > TEXT_MEMBER_LIMIT) {
      throw new ArchiveError(
        `${this.path}: member "${name}" is ${m.size} bytes; text members (config.dump, spec.dump) are read whole, up to ${TEXT_MEMBER_LIMIT} bytes (64 MiB)`,
      );
    }
    const b = await this.readMember(name);
    return b === null ? null : new TextDecoder().decode(b);
  }

  /** A JSON member parsed, or null when absent; a parse error names the member. */
  async readJson(name: string): Promise<unknown> {
    const t = await this.readText(name);
    if (t === null) return null;
    try {
      return JSON.parse(t) as unknown;
    } catch (e) {
      throw new ArchiveError(`${this.path}: member "${name}": not valid JSON (${(e as Error).message})`);
    }
  }
}

function hexStart(b: Uint8Array): string {
  return b.length === 0
    ? '(empty)'
    : [...b.subarray(0, 8)].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

function hasInventory(index: TarIndex, dir: string): boolean {
  return index.get(dir === '' ? 'inventory.img' : `${dir}/inventory.img`) !== undefined;
}

export function recogniseLayout(index: TarIndex, path: string): { imageDir: string; engine: Engine } {
  const has = (n: string): boolean => index.get(n) !== undefined;
  if (index.isDir('checkpoint')) {
    if (!hasInventory(index, 'checkpoint')) {
      throw new ArchiveError(
        `${path}: member "checkpoint/" has no inventory.img, expected CRIU images in it`,
      );
    }
    const engine: Engine =
      has('status') || has('status.dump')
        ? 'containerd'
        : has('bind.mounts') || has('io.kubernetes.cri-o.LogPath')
          ? 'CRI-O'
          : 'podman';
    return { imageDir: 'checkpoint', engine };
  }
  if (hasInventory(index, '')) return { imageDir: '', engine: 'criu' };
  // a tar of an image directory: down through directories that hold only one directory
  let dir = '';
  for (let depth = 0; depth < 64; depth++) {
    const kids = index.list(dir);
    const sub = dir === '' ? kids[0] : `${dir}/${kids[0]}`;
    if (kids.length !== 1 || sub === undefined || !index.isDir(sub)) break;
    dir = sub;
    if (hasInventory(index, dir)) return { imageDir: dir, engine: 'criu' };
  }
  throw new ArchiveError(
    `${path}: no checkpoint/ directory and no inventory.img, expected a container checkpoint archive (podman, CRI-O, containerd) or a tar of a CRIU image directory`,
  );
}
