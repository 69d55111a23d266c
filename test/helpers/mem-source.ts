/**
 * A layer source held in memory: the seam every other source (directory, archive, object store)
 * plugs into. `memLayerFromDir` loads an image directory and its parents into one, named after
 * the directory (so a layer written on top of it can still link to it).
 */
import { readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { LayerSource, RandomAccessFile } from '../../src/stack/source.js';

export class MemFile implements RandomAccessFile {
  readonly size: number;
  constructor(private readonly data: Uint8Array) {
    this.size = data.length;
  }
  readSync(buf: Uint8Array, offset: number, length: number, position: number): number {
    const n = Math.max(0, Math.min(length, this.size - position));
    buf.set(this.data.subarray(position, position + n), offset);
    return n;
  }
  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.readSync(buf, offset, length, position);
  }
  async close(): Promise<void> {}
}

export class MemLayer implements LayerSource {
  readonly files = new Map<string, Uint8Array>();
  constructor(
    readonly name: string,
    readonly id: string,
    readonly below: MemLayer | null,
  ) {}
  async list(): Promise<string[]> {
    return [...this.files.keys()].sort();
  }
  async readFile(file: string): Promise<Uint8Array | null> {
    return this.files.get(file) ?? null;
  }
  async open(file: string): Promise<RandomAccessFile | null> {
    const d = this.files.get(file);
    return d ? new MemFile(d) : null;
  }
  async parent(): Promise<LayerSource | null> {
    return this.below;
  }
}

/** The image directory `dir` and its parent chain, copied into memory (the `parent` link left out). */
export function memLayerFromDir(dir: string): MemLayer {
  const parentPath = join(dir, 'parent');
  let below: MemLayer | null = null;
  let hasParent = false;
  try {
    statSync(parentPath);
    hasParent = true;
  } catch {
    // the bottom layer
  }
  if (hasParent) {
    const link = readlinkSync(parentPath);
    below = memLayerFromDir(isAbsolute(link) ? link : join(dir, link));
  }
  const layer = new MemLayer(dir, `mem:${realpathSync(dir)}`, below);
  for (const f of readdirSync(dir)) {
    if (f === 'parent') continue;
    layer.files.set(f, new Uint8Array(readFileSync(join(dir, f))));
  }
  return layer;
}
