/**
 * The copy loop of every export (src/engine/copy.ts) against a reference model: random pieces of
 * several real files laid out in an output with holes, copied by each of its paths (the writer
 * thread, one thread, through promises) with random chunk sizes; the output must be the model's
 * bytes. Layouts include the stack-shaped one the in-place group reads are for (a full bottom
 * file read around holes that upper files fill) and hostile ones (pieces out of file order,
 * overlapping file ranges, a file whose output order is reversed). Then a failing write on the
 * writer thread: the error comes back, the thread is gone, nothing hangs.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { rng } from '../bench/gen.js';
import { type CopyOp, copyInto } from '../src/engine/copy.js';
import type { OutputSink } from '../src/engine/output.js';
import { PAGE_SIZE } from '../src/image/pagemap.js';
import { DirLayerSource } from '../src/source/dir.js';
import type { RandomAccessFile } from '../src/stack/source.js';
import { testDir } from './helpers/files.js';

const tmp = testDir('copy');

/** A sink over a real file, with or without the synchronous and fd (writer thread) paths. */
async function sinkOf(
  path: string,
  kind: 'thread' | 'sync' | 'async',
): Promise<{ sink: OutputSink; close: () => Promise<void> }> {
  const fh = await open(path, 'w+');
  const writeAll = (buf: Uint8Array, at: number, length: number, pos: number) => {
    let done = 0;
    while (done < length) done += writeSync(fh.fd, buf, at + done, length - done, pos + done);
  };
  const sink: OutputSink = {
    name: path,
    fh,
    write: async (buf, at, length, pos) => {
      let done = 0;
      while (done < length) done += (await fh.write(buf, at + done, length - done, pos + done)).bytesWritten;
    },
    ...(kind === 'async' ? {} : { writeSync: writeAll }),
    ...(kind === 'thread' ? { fd: fh.fd } : {}),
  };
  return { sink, close: () => fh.close() };
}

interface Model {
  files: Uint8Array[];
  ops: { file: number; position: number; length: number; out: number }[];
  size: number;
}

/** A stack-shaped layout: file 0 holds every page at its own offset, files 1.. rewrite runs. */
function stackModel(rand: () => number, pages: number, layers: number): Model {
  const files: Uint8Array[] = [];
  const owner = new Int32Array(pages);
  const offsetIn: number[][] = [];
  for (let l = 0; l < layers; l++) {
    const mine: number[] = [];
    for (let p = 0; p < pages; ) {
      const run = 1 + Math.floor(rand() * 6);
      if (l === 0 || rand() < 0.2) for (let q = p; q < Math.min(pages, p + run); q++) mine.push(q);
      p += run;
    }
    const f = new Uint8Array(mine.length * PAGE_SIZE);
    for (let i = 0; i < f.length; i++) f[i] = (i * 31 + l * 97 + (i >> 12)) & 0xff;
    files.push(f);
    const off: number[] = new Array(pages).fill(-1);
    mine.forEach((p, i) => {
      owner[p] = l;
      off[p] = i * PAGE_SIZE;
    });
    offsetIn.push(off);
  }
  const ops: Model['ops'] = [];
  // a hole in the output now and then (pages not dumped): output offsets skip ahead
  let out = PAGE_SIZE * Math.floor(rand() * 3);
  for (let p = 0; p < pages; p++) {
    const l = owner[p]!;
    ops.push({ file: l, position: offsetIn[l]![p]!, length: PAGE_SIZE, out });
    out += PAGE_SIZE;
    if (rand() < 0.01) out += PAGE_SIZE * (1 + Math.floor(rand() * 4));
  }
  return { files, ops, size: out };
}

/** Pieces of random lengths from random places (overlapping file ranges, any order). */
function hostileModel(rand: () => number): Model {
  const files: Uint8Array[] = [];
  const nf = 1 + Math.floor(rand() * 4);
  for (let f = 0; f < nf; f++) {
    const b = new Uint8Array(PAGE_SIZE * (4 + Math.floor(rand() * 64)));
    for (let i = 0; i < b.length; i++) b[i] = Math.floor(rand() * 256);
    files.push(b);
  }
  const ops: Model['ops'] = [];
  let out = 0;
  const n = 1 + Math.floor(rand() * 200);
  const reversed = rand() < 0.3;
  for (let i = 0; i < n; i++) {
    const file = Math.floor(rand() * nf);
    const length = 1 + Math.floor(rand() * (rand() < 0.5 ? 64 : 3 * PAGE_SIZE));
    const span = files[file]!.length;
    const len = Math.min(length, span);
    const position =
      reversed && file === 0 ? Math.max(0, span - len - i * 37) : Math.floor(rand() * (span - len + 1));
    ops.push({ file, position, length: len, out });
    out += len + (rand() < 0.2 ? Math.floor(rand() * 5000) : 0);
  }
  return { files, ops, size: out };
}

async function runModel(m: Model, kind: 'thread' | 'sync' | 'async', chunkSize: number, label: string) {
  const dir = join(tmp, label.replace(/\W+/g, '_'));
  mkdirSync(dir, { recursive: true });
  for (const [i, f] of m.files.entries()) writeFileSync(join(dir, `pages-${i}.img`), f);
  const layer = await DirLayerSource.open(dir);
  const files: RandomAccessFile[] = [];
  for (let i = 0; i < m.files.length; i++) files.push((await layer.open(`pages-${i}.img`))!);
  const outPath = join(dir, 'out');
  const { sink, close } = await sinkOf(outPath, kind);
  try {
    const ops: CopyOp[] = m.ops.map((o) => ({
      file: files[o.file]!,
      position: o.position,
      length: o.length,
      out: o.out,
    }));
    await copyInto(sink, ops, undefined, chunkSize, { next: 0 }, 0);
  } finally {
    await close();
    for (const f of files) await f.close();
  }
  const want = new Uint8Array(m.size);
  for (const o of m.ops) want.set(m.files[o.file]!.subarray(o.position, o.position + o.length), o.out);
  const got = readFileSync(outPath);
  // the file ends at the last byte written; holes before it read as zeros
  const end = m.ops.reduce((a, o) => Math.max(a, o.out + o.length), 0);
  assert.equal(got.length, end, `${label}: output size`);
  for (let i = 0; i < end; i++) {
    if (got[i] !== want[i]) assert.fail(`${label}: byte ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

describe('copyInto against a model', () => {
  test('stack-shaped layouts, every path, random chunk sizes', async () => {
    const rand = rng(0xc0b1);
    for (let i = 0; i < 24; i++) {
      const m = stackModel(rand, 64 + Math.floor(rand() * 400), 1 + Math.floor(rand() * 4));
      const chunk =
        PAGE_SIZE * (1 + Math.floor(rand() * 40)) + (rand() < 0.3 ? Math.floor(rand() * 4096) : 0);
      for (const kind of ['thread', 'sync', 'async'] as const)
        await runModel(m, kind, chunk, `stack ${i} ${kind}`);
    }
  });

  test('hostile layouts: overlapping, reversed, unaligned pieces', async () => {
    const rand = rng(0x5eed);
    for (let i = 0; i < 40; i++) {
      const m = hostileModel(rand);
      const chunk = 512 + Math.floor(rand() * 6 * PAGE_SIZE);
      for (const kind of ['thread', 'sync'] as const) await runModel(m, kind, chunk, `hostile ${i} ${kind}`);
    }
  });

  test('two in-place groups of one file whose spans overlap in the chunk', async () => {
    // sorted by position: {0, 8K} and {100K, 108K}, each laid out as in the file, but the second
    // one's span [4K, 16K) overlaps the first one's [0, 12K): read in place, one would spill over
    // the other's pieces
    const file = new Uint8Array(32 * PAGE_SIZE).map((_, i) => (i >> 12) * 5 + (i & 3));
    const P = PAGE_SIZE;
    const ops = [
      { file: 0, position: 0, length: P, out: 0 },
      { file: 0, position: 25 * P, length: P, out: P },
      { file: 0, position: 2 * P, length: P, out: 2 * P },
      { file: 0, position: 27 * P, length: P, out: 3 * P },
    ];
    for (const kind of ['thread', 'sync'] as const) {
      await runModel({ files: [file], ops, size: 4 * P }, kind, 16 * P, `overlap ${kind}`);
    }
  });

  test('more contiguous output ranges than a writer slot holds', async () => {
    // every piece 1 byte with a gap after it: a 128 KiB chunk would hold thousands of writes
    const file = new Uint8Array(PAGE_SIZE * 4).map((_, i) => (i * 7) & 0xff);
    const ops = Array.from({ length: 5000 }, (_, i) => ({
      file: 0,
      position: i % file.length,
      length: 1,
      out: i * 3,
    }));
    await runModel({ files: [file], ops, size: 5000 * 3 }, 'thread', 128 << 10, 'many writes');
  });
});

describe('the writer thread when a write fails', () => {
  test('the errno error comes back; the thread has exited; no hang', async () => {
    const dir = join(tmp, 'fail');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'pages-0.img'), new Uint8Array(64 * PAGE_SIZE).fill(5));
    const layer = await DirLayerSource.open(dir);
    const file = (await layer.open('pages-0.img'))!;
    // a descriptor open for reading only: every write fails with EBADF
    const fh = await open(join(dir, 'pages-0.img'), 'r');
    const sink: OutputSink = {
      name: 'ro',
      fh: null,
      write: async () => {},
      writeSync: () => {},
      fd: fh.fd,
    };
    const ops: CopyOp[] = Array.from({ length: 64 }, (_, i) => ({
      file,
      position: i * PAGE_SIZE,
      length: PAGE_SIZE,
      out: i * PAGE_SIZE,
    }));
    try {
      await assert.rejects(
        copyInto(sink, ops, undefined, PAGE_SIZE, { next: 0 }, 0),
        (e: NodeJS.ErrnoException) => {
          assert.equal(e.code, 'EBADF');
          assert.match(e.message, /EBADF/);
          return true;
        },
      );
    } finally {
      await fh.close();
      await file.close();
    }
  });
});
