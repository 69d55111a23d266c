/**
 * One image directory inside a checkpoint archive as a stack layer. Members are read in place
 * (at their offsets in the tar, or in the once-decompressed copy); nothing is extracted.
 *
 * Parents: the layer's `parent` member (a symlink, or a small file holding the link text, as in
 * an image directory) is followed only when it leads to a directory in the same archive. A link
 * leaving the archive is an error naming the member (code PAGESTACK_ARCHIVE_LINK; the CLI adds
 * the hint to give `--parent ARCHIVE|DIR`), unless the caller supplies the layer below, which then
 * replaces whatever the link says.
 */

import type { LayerSource, RandomAccessFile } from '../../stack/source.js';
import type { Archive } from './archive.js';
import { ArchiveError } from './errors.js';
import { memberKind, resolveLinkInArchive, type TarMember } from './tar.js';

class MemberFile implements RandomAccessFile {
  readonly size: number;
  constructor(
    private readonly archive: Archive,
    private readonly member: TarMember,
  ) {
    this.size = member.size;
  }
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    if (position >= this.size || length <= 0) return Promise.resolve(0);
    const n = Math.min(length, this.size - position);
    return this.archive.container.read(buf, offset, n, this.member.offset + position);
  }
  readSync(buf: Uint8Array, offset: number, length: number, position: number): number {
    if (position >= this.size || length <= 0) return 0;
    const n = Math.min(length, this.size - position);
    return this.archive.container.readSync(buf, offset, n, this.member.offset + position);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

export class ArchiveLayerSource implements LayerSource {
  readonly name: string;
  readonly id: string;
  private closed = false;

  constructor(
    readonly archive: Archive,
    /** The image directory inside the archive ('' = its root). */
    readonly dir: string,
    /** The layer below, supplied from outside (--parent); replaces the `parent` member. */
    private readonly parentOverride: LayerSource | null = null,
  ) {
    this.name = dir === '' ? archive.path : `${archive.path}:${dir}`;
    this.id = `${archive.realPath}\0${dir}`;
  }

  private member(file: string): string {
    return this.dir === '' ? file : `${this.dir}/${file}`;
  }

  async list(): Promise<string[]> {
    return this.archive.index.list(this.dir);
  }

  async readFile(file: string): Promise<Uint8Array | null> {
    return this.archive.readMember(this.member(file));
  }

  async open(file: string): Promise<RandomAccessFile | null> {
    const m = this.archive.lookup(this.member(file));
    if (!m) return null;
    if (m.type !== 'file') {
      throw new ArchiveError(
        `${this.archive.path}: member "${m.name}" is ${memberKind(m)}, expected a regular file`,
      );
    }
    return new MemberFile(this.archive, m);
  }

  /** The text of the `parent` member, or null when there is none. */
  parentLink(): string | null {
    const m = this.archive.index.get(this.member('parent'));
    if (!m) return null;
    if (m.type === 'symlink') return m.linkname;
    if (m.type === 'dir') return 'parent';
    if (m.type === 'file' && m.size < 4096) {
      const buf = new Uint8Array(m.size);
      this.archive.container.readSync(buf, 0, m.size, m.offset);
      return new TextDecoder().decode(buf).trim();
    }
    throw new ArchiveError(
      `${this.archive.path}: member "${m.name}": expected a symlink to the parent image directory`,
    );
  }

  async parent(): Promise<LayerSource | null> {
    if (this.parentOverride) return this.parentOverride;
    const link = this.parentLink();
    if (link === null) return null;
    const where = `${this.archive.path}: member "${this.member('parent')}"`;
    const target =
      link === 'parent' ? this.member('parent') : resolveLinkInArchive(this.member('parent'), link);
    if (target === null) {
      throw new ArchiveError(
        `${where} links to "${link}", outside the archive; it is not followed`,
        'PAGESTACK_ARCHIVE_LINK',
        { archive: this.archive.path, member: this.member('parent'), link },
      );
    }
    if (!this.archive.index.isDir(target) || this.archive.index.list(target).length === 0) {
      throw new ArchiveError(
        `${where} links to "${link}", which is not a directory in this archive`,
        'PAGESTACK_ARCHIVE_LINK',
        { archive: this.archive.path, member: this.member('parent'), link },
      );
    }
    return new ArchiveLayerSource(this.archive.retain(), target);
  }

  /** Releases this layer's hold on the archive (the last one closes it and removes its temp copy). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.archive.release();
    await (this.parentOverride as { close?: () => Promise<void> } | null)?.close?.();
  }
}
