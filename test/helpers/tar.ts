import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Writing tar archives in tests (CRI-O / containerd layouts built from member lists, hostile
 * archives). ustar headers; names longer than 100 bytes get a pax header, or a GNU 'L' header
 * with `longNames: 'gnu'`.
 */
export interface TarEntry {
  name: string;
  data?: Uint8Array | string;
  /** '0' file (default), '1' hard link, '2' symlink, '3'/'4' char/block device, '5' directory, '6' FIFO. */
  type?: '0' | '1' | '2' | '3' | '4' | '5' | '6' | 'x' | 'L';
  linkname?: string;
  mode?: number;
  mtime?: number;
}

export interface TarOptions {
  longNames?: 'pax' | 'gnu';
}

const enc = new TextEncoder();

function field(h: Uint8Array, off: number, len: number, text: string): void {
  const b = enc.encode(text);
  h.set(b.subarray(0, len), off);
}

function octal(h: Uint8Array, off: number, len: number, n: number): void {
  field(h, off, len, `${n.toString(8).padStart(len - 1, '0')}\0`);
}

export function tarHeader(e: TarEntry, size: number): Uint8Array {
  const h = new Uint8Array(512);
  field(h, 0, 100, e.name);
  octal(h, 100, 8, e.mode ?? (e.type === '5' ? 0o755 : 0o644));
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, e.mtime ?? 1_764_578_700);
  h[156] = (e.type ?? '0').charCodeAt(0);
  field(h, 157, 100, e.linkname ?? '');
  field(h, 257, 6, 'ustar\0');
  field(h, 263, 2, '00');
  field(h, 265, 32, 'root');
  field(h, 297, 32, 'root');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  field(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

function pad(n: number): number {
  return Math.ceil(n / 512) * 512;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}

export function makeTar(entries: TarEntry[], opts: TarOptions = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const data = typeof e.data === 'string' ? enc.encode(e.data) : (e.data ?? new Uint8Array());
    let name = e.name;
    if (enc.encode(name).length > 100) {
      if (opts.longNames === 'gnu') {
        const longData = enc.encode(`${name}\0`);
        parts.push(tarHeader({ name: '././@LongLink', type: 'L' }, longData.length));
        const block = new Uint8Array(pad(longData.length));
        block.set(longData);
        parts.push(block);
      } else {
        const pax = enc.encode(paxRecord('path', name));
        parts.push(tarHeader({ name: `PaxHeaders/${name.slice(-80)}`, type: 'x' }, pax.length));
        const block = new Uint8Array(pad(pax.length));
        block.set(pax);
        parts.push(block);
      }
      name = name.slice(0, 100);
    }
    parts.push(tarHeader({ ...e, name }, data.length));
    const block = new Uint8Array(pad(data.length));
    block.set(data);
    parts.push(block);
  }
  parts.push(new Uint8Array(1024));
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export /** Members of a directory as tar entries under `prefix` (parent symlinks kept, with `parentText` when given). */
function dirEntries(dir: string, prefix: string, parentText?: string): TarEntry[] {
  const out: TarEntry[] = [{ name: `${prefix}/`, type: '5' }];
  for (const f of readdirSync(dir).sort()) {
    const st = lstatSync(join(dir, f));
    if (f === 'parent') {
      if (parentText !== undefined) out.push({ name: `${prefix}/parent`, type: '2', linkname: parentText });
      else if (st.isSymbolicLink())
        out.push({ name: `${prefix}/parent`, type: '2', linkname: readlinkSync(join(dir, f)) });
    } else if (st.isFile()) out.push({ name: `${prefix}/${f}`, data: readFileSync(join(dir, f)) });
  }
  return out;
}

let stackTarDir: string | null = null;

/**
 * A plain tar holding the image directory `dir` as `checkpoint/` and each layer below it (down
 * its parent symlinks) as `layer-N/`, their parent links rewritten to stay inside the archive:
 * the same stack as one archive. Written once per directory under a temp dir removed at exit.
 */
export function archiveOfStack(dir: string): string {
  if (stackTarDir === null) {
    const d = mkdtempSync(join(tmpdir(), 'pagestack-stack-tars-'));
    stackTarDir = d;
    process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  }
  const out = join(
    stackTarDir,
    `${createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 16)}.tar`,
  );
  if (existsSync(out)) return out;
  const entries: TarEntry[] = [];
  let cur: string | null = resolve(dir);
  for (let i = 0; cur !== null; i++) {
    const name = i === 0 ? 'checkpoint' : `layer-${i}`;
    const parentPath = join(cur, 'parent');
    const hasParent = existsSync(parentPath) && lstatSync(parentPath).isSymbolicLink();
    entries.push(...dirEntries(cur, name, hasParent ? `../layer-${i + 1}` : undefined));
    cur = hasParent ? resolve(cur, readlinkSync(parentPath)) : null;
  }
  writeFileSync(out, makeTar(entries));
  return out;
}
