/**
 * Writing a checkpoint archive "like" another: the metadata members of a model archive (in its
 * order, with their modes and times), its image directory replaced by the files of a local image
 * directory. Plain tar, gzip or zstd. Built beside the destination and renamed into place.
 *
 * Headers are ustar (see tar.ts for the layout); a name longer than 100 bytes gets a pax 'x'
 * header with a `path` record first. Hard links in the model are written as regular files (their
 * data); symlinks keep their text.
 */
import { createReadStream, createWriteStream, renameSync, type WriteStream } from 'node:fs';
import { lstat, open, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createGzip } from 'node:zlib';
import { trackTemp, untrackTemp } from '../../engine/fs.js';
import { cleanStale, tempPath } from '../../engine/output.js';
import type { Archive } from './archive.js';
import { ArchiveError } from './errors.js';
import { BLOCK } from './tar.js';

/** Image files larger than this are streamed into the archive instead of read whole. */
const STREAM_ABOVE = 1 << 20;

export type ArchiveCompression = 'none' | 'gzip' | 'zstd';

/** Compression chosen by the output's name: .gz / .tgz gzip, .zst zstd, else none. */
export function compressionForName(path: string): ArchiveCompression {
  if (/\.(t?gz)$/i.test(path)) return 'gzip';
  if (/\.zst$/i.test(path)) return 'zstd';
  return 'none';
}

const enc = new TextEncoder();

function putField(h: Uint8Array, off: number, len: number, text: string): void {
  h.set(enc.encode(text).subarray(0, len), off);
}

function putOctal(h: Uint8Array, off: number, len: number, n: number): void {
  putField(
    h,
    off,
    len,
    `${Math.floor(n)
      .toString(8)
      .padStart(len - 1, '0')}\0`,
  );
}

export interface HeaderSpec {
  name: string;
  type: '0' | '2' | '5' | 'x';
  size: number;
  mode: number;
  mtime: number;
  linkname?: string;
}

/** One ustar header block (names up to 100 bytes: longer ones need a pax record, see TarOut). */
export function tarHeader(s: HeaderSpec): Uint8Array {
  const h = new Uint8Array(BLOCK);
  putField(h, 0, 100, s.name);
  putOctal(h, 100, 8, s.mode & 0o7777);
  putOctal(h, 108, 8, 0);
  putOctal(h, 116, 8, 0);
  putOctal(h, 124, 12, s.size);
  putOctal(h, 136, 12, s.mtime);
  h[156] = s.type.charCodeAt(0);
  putField(h, 157, 100, s.linkname ?? '');
  putField(h, 257, 6, 'ustar\0');
  putField(h, 263, 2, '00');
  putField(h, 265, 32, 'root');
  putField(h, 297, 32, 'root');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  putField(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = enc.encode(body).length + 1;
  while (String(len).length + enc.encode(body).length !== len)
    len = String(len).length + enc.encode(body).length;
  return `${len}${body}`;
}

class TarOut {
  constructor(private readonly sink: NodeJS.WritableStream) {}
  private async put(b: Uint8Array): Promise<void> {
    if (!this.sink.write(b)) await new Promise<void>((r) => this.sink.once('drain', () => r()));
  }
  async entry(s: HeaderSpec, data?: Uint8Array): Promise<void> {
    if (enc.encode(s.name).length > 100 || enc.encode(s.linkname ?? '').length > 100) {
      let pax = paxRecord('path', s.name);
      if (s.linkname) pax += paxRecord('linkpath', s.linkname);
      const pb = enc.encode(pax);
      await this.put(
        tarHeader({
          name: `PaxHeader/${basename(s.name).slice(0, 80)}`,
          type: 'x',
          size: pb.length,
          mode: 0o644,
          mtime: s.mtime,
        }),
      );
      await this.put(padded(pb));
    }
    await this.put(tarHeader(s));
    if (data && data.length > 0) await this.put(padded(data));
  }
  /** A file member whose data is streamed from `path` (`size` bytes): memory stays bounded. */
  async fileEntry(s: HeaderSpec, path: string): Promise<void> {
    await this.entry(s);
    let n = 0;
    for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) {
      const b = c as Buffer;
      if (n + b.length > s.size) throw new ArchiveError(`${path}: grew while being archived`);
      await this.put(b);
      n += b.length;
    }
    if (n !== s.size)
      throw new ArchiveError(`${path}: ${n} bytes read, expected ${s.size} (changed while being archived)`);
    if (n % BLOCK) await this.put(new Uint8Array(BLOCK - (n % BLOCK)));
  }
  async end(): Promise<void> {
    await this.put(new Uint8Array(2 * BLOCK));
  }
}

function padded(b: Uint8Array): Uint8Array {
  const rem = b.length % BLOCK;
  if (rem === 0) return b;
  const out = new Uint8Array(b.length + BLOCK - rem);
  out.set(b);
  return out;
}

export interface WriteLikeResult {
  out: string;
  members: number;
  bytes: number;
}

/**
 * Writes `out`: the members of `like` except its image directory, which is replaced (at its place
 * in the member order) by the files of `imagesDir`.
 */
export async function writeArchiveLike(
  out: string,
  like: Archive,
  imagesDir: string,
  compression: ArchiveCompression = compressionForName(out),
): Promise<WriteLikeResult> {
  const imageDir = like.imageDir;
  // the atomic writer's temporary name (engine/output.ts): removed when interrupted, and by the
  // next writer in this directory when this process was killed
  await cleanStale(out);
  const tmp = tempPath(out);
  trackTemp(tmp);
  const file: WriteStream = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
  let sink: NodeJS.WritableStream = file;
  let compressor: NodeJS.ReadWriteStream | null = null;
  if (compression === 'gzip') compressor = createGzip();
  else if (compression === 'zstd') {
    const { CompressStream } = await import('zstd-napi');
    compressor = new CompressStream();
  }
  if (compressor) {
    compressor.pipe(file);
    sink = compressor;
  }
  const done = new Promise<void>((resolve, reject) => {
    file.on('close', () => resolve());
    file.on('error', (e) => reject(new ArchiveError(`${out}: ${e.message}`)));
    compressor?.on('error', (e: Error) => reject(new ArchiveError(`${out}: ${compression}: ${e.message}`)));
  });
  const tar = new TarOut(sink);
  let members = 0;
  try {
    const inImages = (n: string): boolean =>
      imageDir === '' || n === imageDir || n.startsWith(`${imageDir}/`);
    let imagesWritten = false;
    const writeImages = async (): Promise<void> => {
      imagesWritten = true;
      const model = like.index.get(imageDir);
      const mtime = model?.mtime ?? Math.floor(Date.now() / 1000);
      if (imageDir !== '') {
        await tar.entry({ name: `${imageDir}/`, type: '5', size: 0, mode: model?.mode ?? 0o700, mtime });
        members++;
      }
      for (const f of (await readdir(imagesDir)).sort()) {
        const p = join(imagesDir, f);
        const st = await lstat(p);
        const name = imageDir === '' ? f : `${imageDir}/${f}`;
        if (st.isSymbolicLink()) {
          await tar.entry({ name, type: '2', size: 0, mode: 0o777, mtime, linkname: await readlink(p) });
        } else if (st.isFile()) {
          // the model's mode where it has the same member (podman writes some 0600)
          const mode = like.index.get(name)?.mode ?? st.mode;
          if (st.size > STREAM_ABOVE) {
            // pages files: streamed, not read whole
            await tar.fileEntry({ name, type: '0', size: st.size, mode, mtime }, p);
          } else {
            const data = new Uint8Array(await readFile(p));
            await tar.entry({ name, type: '0', size: data.length, mode, mtime }, data);
          }
        } else continue;
        members++;
      }
    };
    for (const m of like.index.members) {
      if (inImages(m.name)) {
        if (!imagesWritten) await writeImages();
        continue;
      }
      if (m.type === 'dir')
        await tar.entry({ name: `${m.name}/`, type: '5', size: 0, mode: m.mode, mtime: m.mtime });
      else if (m.type === 'symlink')
        await tar.entry({
          name: m.name,
          type: '2',
          size: 0,
          mode: m.mode,
          mtime: m.mtime,
          linkname: m.linkname,
        });
      else if (m.type === 'file' || m.type === 'hardlink') {
        const data = (await like.readMember(m.name)) ?? new Uint8Array();
        await tar.entry({ name: m.name, type: '0', size: data.length, mode: m.mode, mtime: m.mtime }, data);
      } else continue;
      members++;
    }
    if (!imagesWritten) await writeImages();
    await tar.end();
    sink.end();
    await done;
    const fh = await open(tmp, 'r+');
    await fh.sync();
    await fh.close();
    renameSync(tmp, out);
    untrackTemp(tmp);
    const dirFh = await open(dirname(out), 'r');
    await dirFh.sync().catch(() => {});
    await dirFh.close();
  } catch (e) {
    sink.end();
    await done.catch(() => {});
    await rm(tmp, { force: true });
    untrackTemp(tmp);
    throw e;
  }
  const st = await lstat(out);
  return { out, members, bytes: st.size };
}
