/**
 * copy_file_range in the copy loop (src/engine/copy-range.ts, native/copy-range.c): the addon on
 * its own (a full copy, a short input, a refusal that says "fall back", bad arguments), then
 * copyInto with it (every piece through the kernel, a mix of kernel and loop) and without it
 * (PAGESTACK_COPY_RANGE=0: the JavaScript loop) against a model of the bytes. Without the built
 * addon (no compiler) the addon tests skip with one line, and fail when CI is set: .ci/run builds
 * it (npm ci runs the install script).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { rng } from '../bench/gen.js';
import { type CopyOp, copyInto } from '../src/engine/copy.js';
import { copyRange, resetCopyRange } from '../src/engine/copy-range.js';
import type { OutputSink } from '../src/engine/output.js';
import { DirLayerSource } from '../src/source/dir.js';
import type { RandomAccessFile } from '../src/stack/source.js';
import { testDir } from './helpers/files.js';
import { ROOT } from './helpers/fixtures.js';

const tmp = testDir('copy-range');
const cfr = copyRange();
const skip = cfr
  ? false
  : 'the copy_file_range addon is not built (node native/install.mjs; needs g++, make, python3)';
if (!cfr && process.env.CI) {
  test('the copy_file_range addon is built', () => assert.fail(String(skip)));
}
after(() => {
  delete process.env.PAGESTACK_COPY_RANGE;
  resetCopyRange();
});

describe('the addon', { skip }, () => {
  const dir = join(tmp, 'addon');
  mkdirSync(dir, { recursive: true });
  const src = new Uint8Array(300_000).map((_, i) => (i * 13 + (i >> 9)) & 0xff);
  writeFileSync(join(dir, 'in'), src);

  test('copies a range at explicit offsets; the file positions do not move', () => {
    const fin = openSync(join(dir, 'in'), 'r');
    const fout = openSync(join(dir, 'out1'), 'w+');
    try {
      assert.equal(cfr!(fin, 12_345, fout, 1_000, 200_000), 200_000);
      const got = readFileSync(join(dir, 'out1'));
      assert.equal(got.length, 201_000);
      assert.ok(got.subarray(0, 1_000).every((b) => b === 0));
      assert.deepEqual(got.subarray(1_000), Buffer.from(src.subarray(12_345, 212_345)));
      // positions untouched: a plain read from each fd starts at 0
      const b = new Uint8Array(4);
      assert.equal(readSync(fin, b, 0, 4, null), 4);
      assert.deepEqual(b, src.subarray(0, 4));
    } finally {
      closeSync(fin);
      closeSync(fout);
    }
  });

  test('an input that ends early: the bytes there were, fewer than asked', () => {
    const fin = openSync(join(dir, 'in'), 'r');
    const fout = openSync(join(dir, 'out2'), 'w+');
    try {
      assert.equal(cfr!(fin, 299_000, fout, 0, 10_000), 1_000);
      assert.equal(cfr!(fin, 400_000, fout, 0, 10_000), 0);
    } finally {
      closeSync(fin);
      closeSync(fout);
    }
  });

  test('files the kernel does not copy between: -1, nothing written (the caller falls back)', () => {
    // an output opened for appending is refused (EBADF); so is one open for reading only
    const fin = openSync(join(dir, 'in'), 'r');
    const fapp = openSync(join(dir, 'out3'), 'a');
    const fro = openSync(join(dir, 'in'), 'r');
    try {
      assert.equal(cfr!(fin, 0, fapp, 0, 4096), -1);
      assert.equal(cfr!(fin, 0, fro, 0, 4096), -1);
      assert.equal(readFileSync(join(dir, 'out3')).length, 0);
    } finally {
      closeSync(fin);
      closeSync(fapp);
      closeSync(fro);
    }
  });

  test('bad arguments throw a TypeError', () => {
    const f = cfr as unknown as (...a: unknown[]) => number;
    assert.throws(() => f(0, 0, 1, 0), TypeError);
    assert.throws(() => f(0, -1, 1, 0, 5), TypeError);
    assert.throws(() => f(0, 0.5, 1, 0, 5), TypeError);
    assert.throws(() => f('0', 0, 1, 0, 5), TypeError);
  });
});

interface Model {
  files: Uint8Array[];
  ops: { file: number; position: number; length: number; out: number }[];
  size: number;
}

/** Pieces from 1 byte to 300 KiB, unaligned, any order, gaps in the output; some run past a file's end. */
function model(rand: () => number): Model {
  const files: Uint8Array[] = [];
  const nf = 1 + Math.floor(rand() * 3);
  for (let f = 0; f < nf; f++) {
    const b = new Uint8Array(400_000 + Math.floor(rand() * 400_000));
    for (let i = 0; i < b.length; i++) b[i] = (i * 7 + f * 31 + Math.floor(i / 4093)) & 0xff;
    files.push(b);
  }
  const ops: Model['ops'] = [];
  let out = Math.floor(rand() * 5000);
  for (let i = 0, n = 1 + Math.floor(rand() * 30); i < n; i++) {
    const file = Math.floor(rand() * nf);
    const length = 1 + Math.floor(rand() * (rand() < 0.5 ? 8192 : 300_000));
    const span = files[file]!.length;
    const position = Math.floor(rand() * span);
    ops.push({ file, position, length, out });
    out += length + (rand() < 0.3 ? Math.floor(rand() * 9000) : 0);
  }
  return { files, ops, size: out };
}

async function run(m: Model, label: string, kernelMin: number): Promise<number> {
  const dir = join(tmp, label.replace(/\W+/g, '_'));
  mkdirSync(dir, { recursive: true });
  for (const [i, f] of m.files.entries()) writeFileSync(join(dir, `pages-${i}.img`), f);
  const layer = await DirLayerSource.open(dir);
  const files: RandomAccessFile[] = [];
  for (let i = 0; i < m.files.length; i++) files.push((await layer.open(`pages-${i}.img`))!);
  const outPath = join(dir, 'out');
  const fh = await open(outPath, 'w+');
  const sink: OutputSink = {
    name: outPath,
    fh,
    write: async () => assert.fail('a regular file sink is written synchronously'),
    writeSync: (buf, at, length, pos) => {
      let done = 0;
      while (done < length) done += writeSync(fh.fd, buf, at + done, length - done, pos + done);
    },
    fd: fh.fd,
  };
  let kernel: number;
  try {
    const ops: CopyOp[] = m.ops.map((o) => ({ ...o, file: files[o.file]! }));
    ({ kernelBytes: kernel } = await copyInto(
      sink,
      ops,
      undefined,
      64 << 10,
      { next: 0 },
      1 << 20,
      kernelMin,
    ));
  } finally {
    await fh.close();
    for (const f of files) await f.close();
  }
  // pieces past a file's end read as zeros, on both paths
  const want = new Uint8Array(m.size);
  for (const o of m.ops) {
    const f = m.files[o.file]!;
    want.set(f.subarray(o.position, Math.min(f.length, o.position + o.length)), o.out);
  }
  const got = readFileSync(outPath);
  const end = m.ops.reduce((a, o) => Math.max(a, o.out + o.length), 0);
  assert.equal(got.length, end, `${label}: output size`);
  for (let i = 0; i < end; i++) {
    if (got[i] !== want[i]) assert.fail(`${label}: byte ${i} is ${got[i]}, expected ${want[i]}`);
  }
  return kernel;
}

describe('copyInto with and without copy_file_range', () => {
  test('every piece through the kernel, then a mix of kernel and loop', { skip }, async () => {
    const rand = rng(0xcf12);
    let kernel = 0;
    let mixed = 0;
    for (let i = 0; i < 12; i++) {
      const m = model(rand);
      kernel += await run(m, `kernel ${i}`, 1);
      mixed += await run(m, `mixed ${i}`, 64 << 10);
    }
    assert.ok(kernel > 0, 'the kernel copied');
    assert.ok(mixed > 0 && mixed < kernel, 'small pieces went through the loop');
  });

  test('PAGESTACK_COPY_RANGE=0: the JavaScript loop, the same bytes', async () => {
    process.env.PAGESTACK_COPY_RANGE = '0';
    resetCopyRange();
    try {
      const rand = rng(0xcf12);
      for (let i = 0; i < 12; i++) assert.equal(await run(model(rand), `loop ${i}`, 1), 0);
    } finally {
      delete process.env.PAGESTACK_COPY_RANGE;
      resetCopyRange();
    }
  });
});

test('the install script without a compiler: one line on stderr, exit 0, nothing built', () => {
  // a copy of native/ (a failed node-gyp rebuild removes the build it was given)
  const dir = join(tmp, 'install', 'native');
  mkdirSync(dir, { recursive: true });
  for (const f of ['copy-range.c', 'binding.gyp', 'install.mjs'])
    copyFileSync(join(ROOT, 'native', f), join(dir, f));
  const r = spawnSync(process.execPath, [join(dir, 'install.mjs')], {
    env: { PATH: join(tmp, 'no-such-dir') },
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(
    r.stderr,
    /^pagestack: copy_file_range addon not built \([^\n]*\); exports use the JavaScript copy loop\n$/,
  );
  assert.ok(!existsSync(join(dir, 'build', 'Release', 'copy_range.node')));
});

test('a pages file with holes is not given to copy_file_range: the output keeps the holes', {
  skip,
}, async () => {
  const dir = join(tmp, 'sparse');
  mkdirSync(dir, { recursive: true });
  const fd = openSync(join(dir, 'pages-0.img'), 'w');
  writeSync(fd, new Uint8Array(4096).fill(7), 0, 4096, 0);
  ftruncateSync(fd, 64 << 20);
  closeSync(fd);
  const layer = await DirLayerSource.open(dir);
  const file = (await layer.open('pages-0.img'))!;
  const outPath = join(dir, 'out');
  const fh = await open(outPath, 'w+');
  const sink: OutputSink = {
    name: outPath,
    fh,
    write: async () => assert.fail('written synchronously'),
    writeSync: (buf, at, length, pos) => {
      let done = 0;
      while (done < length) done += writeSync(fh.fd, buf, at + done, length - done, pos + done);
    },
    fd: fh.fd,
  };
  try {
    const ops: CopyOp[] = [{ file, position: 0, length: 64 << 20, out: 0 }];
    const { kernelBytes } = await copyInto(sink, ops, undefined, 128 << 10, { next: 0 }, 1 << 30, 1);
    assert.equal(kernelBytes, 0);
  } finally {
    await fh.close();
    await file.close();
  }
  const st = statSync(outPath);
  assert.equal(st.size, 64 << 20);
  assert.ok(st.blocks * 512 < 1 << 20, `the output is sparse (${st.blocks * 512} bytes allocated)`);
});
