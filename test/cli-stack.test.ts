/**
 * The stack commands on the fixtures: show, maps, read, verify. Most run in-process (runCli with
 * captured streams); a few run the real program to check exit codes, stderr and piped output.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { hexdump } from '../src/cli/format.js';
import { parseNumber } from '../src/cli/options.js';
import { type CliRun, cli, cliProcess } from './helpers/cli.js';
import { testDir } from './helpers/files.js';
import { FIX, ROOT } from './helpers/fixtures.js';

const tmp = testDir('cli-stack');

function oneErrorLine(r: CliRun, re: RegExp): void {
  assert.match(r.err, /^pagestack: [^\n]+\n$/, r.err);
  assert.match(r.err, re);
}

/** The pattern word at address a: u64_le(a ^ seed). */
function patternBytes(addr: number, len: number, seed: bigint): Buffer {
  const start = addr - (addr % 8);
  const words = Math.ceil((addr + len - start) / 8);
  const b = Buffer.alloc(words * 8);
  for (let i = 0; i < words; i++) b.writeBigUInt64LE(BigInt(start + i * 8) ^ seed, i * 8);
  return b.subarray(addr - start, addr - start + len);
}

const SINGLE = join(FIX, 'single');
const SEED_A1 = 0xa100000000000000n;

describe('pagestack show', () => {
  test('a one-layer dump: layer, process, pages', async () => {
    const r = await cli(['show', SINGLE]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^stack .*single: 1 layer\n/);
    // layers are numbered from the bottom: the one dump is layer 1
    assert.match(r.out, /\nlayers \(1 = the only dump\):\n/);
    assert.match(r.out, /\n {2}1 +\S*single +pages-1\.img +2\.1 MiB/);
    assert.match(r.out, /\n +24588 +0 +1 +single +541 +0\n/);
    assert.match(
      r.out,
      /process 24588 \(single\), pagemap-24588\.img: 541 pages \(2\.1 MiB\) dumped, 0 lazy/,
    );
    assert.match(r.out, /total: 541 pages/);
  });

  test('series-stack/3: three layers, pages held / from below / read from each', async () => {
    const r = await cli(['show', join(FIX, 'series-stack', '3')]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /: 3 layers\n/);
    // numbered from the bottom: series-stack/1 (the first dump) is layer 1, the top is 3
    assert.match(r.out, /\nlayers \(1 = the first dump \(bottom\), 3 = the top\):\n/);
    assert.match(r.out, /\n +3 +\S*series-stack\/3 +pages-1\.img/);
    assert.match(r.out, /\n +1 +\S*series-stack\/1 +pages-1\.img/);
    assert.match(r.out, /\n +layer +held +from below +lazy +read from here\n/);
    assert.match(r.out, /\n +3 +132 +474 +0 +132 +\S*series-stack\/3\n/);
    assert.match(r.out, /\n +2 +68 +538 +0 +33 +\S*series-stack\/2\n/);
    assert.match(r.out, /\n +1 +606 +0 +0 +441 +\S*series-stack\/1\n/);
    const j = await cli(['show', join(FIX, 'series-stack', '3'), '--json']);
    assert.equal(j.code, 0);
    const s = JSON.parse(j.out);
    assert.equal(s.layers.length, 3);
    assert.equal(s.processes[0].comm, 'series');
    assert.equal(s.totals.dumpedPages, 606);
    assert.deepEqual(
      s.layers.map((l: { size: number }) => l.size),
      [540672, 278528, 2482176],
    );
    // JSON keeps `index` (0 = top) and adds `number` (1 = the bottom)
    assert.deepEqual(
      s.layers.map((l: { index: number; number: number }) => [l.index, l.number]),
      [
        [0, 3],
        [1, 2],
        [2, 1],
      ],
    );
    assert.deepEqual(
      s.processes[0].memory.perLayer.map((l: { layer: number; number: number }) => [l.layer, l.number]),
      [
        [0, 3],
        [1, 2],
        [2, 1],
      ],
    );
  });

  test('tree: three processes, threads, shared memory; lazy: lazy pages', async () => {
    const r = await cli(['show', join(FIX, 'tree')]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\n +25159 +25155 +2 +tree +158 +0\n/);
    assert.match(
      r.out,
      /shared memory 250, pagemap-shmem-250\.img \(mapped by 25155, 25158, 25159\): 64 pages/,
    );
    const l = JSON.parse((await cli(['show', join(FIX, 'lazy'), '--json'])).out);
    assert.equal(l.processes[0].memory.lazyPages, 526);
    assert.equal(l.processes[0].memory.perLayer[0].lazy, 526);
    assert.equal(l.totals.lazyPages, 526);
  });

  test('errors: no such directory, not an image directory', async () => {
    const r = await cli(['show', join(tmp, 'nope')]);
    assert.equal(r.code, 1);
    oneErrorLine(r, /nope: no such file or directory/);
    const e = await cli(['show', tmp]);
    assert.equal(e.code, 1);
    oneErrorLine(e, /no pstree\.img/);
  });
});

describe('pagestack maps', () => {
  test('single: /proc/PID/maps columns with dumped, lazy and missing pages', async () => {
    const r = await cli(['maps', SINGLE]);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.split('\n');
    assert.match(lines[0]!, /^process 24588 \(single\): 25 VMAs$/);
    assert.match(lines[1]!, /^start-end +perms +offset +pages +dumped +lazy +not dumped +layers +name$/);
    assert.match(r.out, /\n100000000000-100000100000 +rw-p +00000000 +256 +256 +0 +0 +1:256 *\n/);
    assert.match(r.out, /\n100040000000-100040400000 +rw-p +00000000 +1,024 +256 +0 +768 +1:256 *\n/);
    assert.match(r.out, /\n100080000000-100080100000 +rw-p +00000000 +256 +0 +0 +256 +- *\n/);
    assert.match(r.out, /r-xp +00026000 +342 +0 +0 +342 +- +\/usr\/lib\/x86_64-linux-gnu\/libc\.so\.6\n/);
    assert.match(r.out, / \[heap\]\n/);
    assert.match(r.out, / \[stack\]\n/);
    assert.match(r.out, / \[vdso\]\n/);
    assert.match(r.out, /\nffffffffff600000-ffffffffff601000 +--xp .*\[vsyscall\]\n/);
    assert.match(r.out, /total: [\d,]+ pages mapped, 541 pages \(2\.1 MiB\) dumped, 0 lazy/);
  });

  test('--json lists VMAs with their extents', async () => {
    const r = await cli(['maps', SINGLE, '--json']);
    assert.equal(r.code, 0, r.err);
    const m = JSON.parse(r.out);
    assert.equal(m.pid, 24588);
    assert.equal(m.vmas.length, 25);
    const sparse = m.vmas[1];
    assert.equal(sparse.start, '0x100040000000');
    assert.equal(sparse.extents.length, 256);
    assert.deepEqual(sparse.extents[1], {
      start: '0x100040004000',
      end: '0x100040005000',
      pages: 1,
      layer: 0,
      number: 1,
      lazy: false,
      fileOffset: (256 + 1) * 4096,
      pagemap: 'pagemap-24588.img',
    });
    let dumped = 0;
    for (const v of m.vmas) {
      assert.equal(v.pages, v.dumped + v.lazy + v.notDumped);
      assert.equal(
        v.extents.reduce((t: number, e: { pages: number }) => t + e.pages, 0),
        v.dumped + v.lazy,
      );
      dumped += v.dumped;
    }
    assert.equal(dumped, 541);
    assert.equal(m.totals.outside, 0);
    assert.equal(m.vsyscall, 'ffffffffff600000-ffffffffff601000');
  });

  test('tree: --pid is needed, and the shared VMA counts the shmem pagemap', async () => {
    const r = await cli(['maps', join(FIX, 'tree')]);
    assert.equal(r.code, 1);
    oneErrorLine(r, /the stack has 3 processes, choose one with --pid: 25155, 25158, 25159/);
    const m = await cli(['maps', join(FIX, 'tree'), '--pid', '25158']);
    assert.equal(m.code, 0, m.err);
    assert.match(
      m.out,
      /\n200000000000-200000040000 +rw-s +00000000 +64 +64 +0 +0 +1:64 +\/dev\/zero \(deleted\) \(pagemap-shmem-250\.img\)\n/,
    );
    const bad = await cli(['maps', join(FIX, 'tree'), '--pid', '1']);
    assert.equal(bad.code, 1);
    oneErrorLine(bad, /no process 1 in the stack; its processes are 25155, 25158, 25159/);
    const usage = await cli(['maps', join(FIX, 'tree'), '--pid', 'x']);
    assert.equal(usage.code, 2);
  });

  test('series-stack/3: pages by layer; lazy/: lazy pages per VMA', async () => {
    const r = await cli(['maps', join(FIX, 'series-stack', '3'), '--json']);
    const m = JSON.parse(r.out);
    const R = m.vmas.find((v: { start: string }) => v.start === '0x300000000000');
    assert.deepEqual(R.layers, [
      { layer: 0, pages: 64, number: 3 },
      { layer: 1, pages: 32, number: 2 },
      { layer: 2, pages: 416, number: 1 },
    ]);
    const t = await cli(['maps', join(FIX, 'series-stack', '3')]);
    assert.match(t.out, /\n300000000000-300000200000 .* 3:64,2:32,1:416\n/);
    assert.match(t.out, /\nlayers \(1 = the first dump\): 1 = \S*series-stack\/1, 2 = \S*\/2, 3 = \S*\/3\n/);
    const l = await cli(['maps', join(FIX, 'lazy')]);
    assert.match(l.out, /\n100000000000-100000100000 +rw-p +00000000 +256 +0 +256 +0 +- *\n/);
    assert.match(l.out, /526 lazy/);
  });
});

describe('pagestack read', () => {
  test('a hexdump as xxd prints it, at the real addresses', async () => {
    const r = await cli(['read', SINGLE, '0x100000000000', '64']);
    assert.equal(r.code, 0, r.err);
    assert.equal(
      r.out,
      '100000000000: 0000 0000 0010 00a1 0800 0000 0010 00a1  ................\n' +
        '100000000010: 1000 0000 0010 00a1 1800 0000 0010 00a1  ................\n' +
        '100000000020: 2000 0000 0010 00a1 2800 0000 0010 00a1   .......(.......\n' +
        '100000000030: 3000 0000 0010 00a1 3800 0000 0010 00a1  0.......8.......\n',
    );
    // unaligned, a partial last line, across a page boundary
    const u = await cli(['read', SINGLE, '0x100000000ff3', '40']);
    assert.equal(u.code, 0);
    assert.equal(u.out, hexdump(patternBytes(0x100000000ff3, 40, SEED_A1), 0x100000000ff3));
    assert.match(u.out.split('\n')[2]!, /^100000001013: 0000 1000 a118 1000 {22}\.{8}$/);
  });

  test('matches xxd -o on the raw bytes (where xxd is installed)', async (t) => {
    if (spawnSync('xxd', ['-v'], { stdio: 'ignore' }).error) {
      t.skip('no xxd');
      return;
    }
    for (const [addr, len] of [
      ['0x100000000ff3', '40'],
      ['0x1000000ffff0', '16'],
      ['100000000010', '100'],
    ] as const) {
      const raw = await cli(['read', SINGLE, addr, len, '--raw']);
      const x = spawnSync('xxd', ['-o', String(Number(addr.startsWith('0x') ? addr : `0x${addr}`))], {
        input: raw.bytes,
      });
      const ours = await cli(['read', SINGLE, addr, len]);
      assert.equal(ours.out, x.stdout.toString());
    }
  });

  test('--raw and -o give the bytes; LEN takes hex, decimal and K/M suffixes', async () => {
    const raw = await cli(['read', SINGLE, '0x100000000000', '4K', '--raw']);
    assert.equal(raw.code, 0);
    assert.deepEqual(raw.bytes, patternBytes(0x100000000000, 4096, SEED_A1));
    // addresses are hex with or without 0x (as maps prints them): 100000000003 is 0x100000000003
    const hexLen = await cli(['read', SINGLE, '100000000003', '0x11', '--raw']);
    assert.deepEqual(hexLen.bytes, patternBytes(0x100000000003, 17, SEED_A1));
    const out = join(tmp, 'mem.bin');
    const o = await cli(['read', SINGLE, '0x100000000000', '1M', '-o', out]);
    assert.equal(o.code, 0, o.err);
    assert.equal(o.out, '');
    assert.deepEqual(readFileSync(out), patternBytes(0x100000000000, 1 << 20, SEED_A1));
    assert.deepEqual(
      readdirSync(tmp).filter((f) => f.includes('pagestack-tmp')),
      [],
    );
  });

  test('large reads go in chunks: hexdump lines continue, zeros where --zero allows', async () => {
    const len = (1 << 20) + 4096 * 3 + 48;
    const r = await cli(['read', SINGLE, '0x100000000000', String(len), '--zero', '--raw']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.bytes.length, len);
    assert.deepEqual(r.bytes.subarray(0, 1 << 20), patternBytes(0x100000000000, 1 << 20, SEED_A1));
    assert.ok(r.bytes.subarray(1 << 20).every((b) => b === 0));
    const h = await cli(['read', SINGLE, '0x100000000000', String(len), '--zero']);
    assert.equal(h.out, hexdump(r.bytes, 0x100000000000));
    assert.equal(h.out.split('\n').length - 1, len / 16);
  });

  test('memory the images do not hold: not dumped, lazy, unmapped; --zero reads zeros', async () => {
    const nd = await cli(['read', SINGLE, '0x100040000ff0', '0x20']);
    assert.equal(nd.code, 1);
    assert.equal(nd.out, '', 'nothing is printed before the error');
    oneErrorLine(nd, /single: 0x100040001000: not dumped \(no pagemap entry in pagemap-24588\.img\)/);
    const lazy = await cli(['read', join(FIX, 'lazy'), '0x100000000000', '16']);
    assert.equal(lazy.code, 1);
    oneErrorLine(lazy, /lazy: 0x100000000000: lazy page \(PE_LAZY in pagemap-25494\.img\)/);
    const un = await cli(['read', SINGLE, '0x1000', '16']);
    assert.equal(un.code, 1);
    oneErrorLine(un, /0x1000: unmapped \(no VMA of process 24588 covers it\)/);
    const z = await cli(['read', join(FIX, 'lazy'), '0x100000000000', '32', '--zero', '--raw']);
    assert.equal(z.code, 0);
    assert.deepEqual(z.bytes, Buffer.alloc(32));
    const zh = await cli(['read', SINGLE, '0x1000', '16', '--zero']);
    assert.equal(zh.out, '00001000: 0000 0000 0000 0000 0000 0000 0000 0000  ................\n');
    // a failed -o leaves no file behind
    const out = join(tmp, 'never.bin');
    const f = await cli(['read', SINGLE, '0x100040000000', '0x2000', '-o', out]);
    assert.equal(f.code, 1);
    assert.equal(existsSync(out), false);
  });

  test('tree: the shared region reads the same through every process', async () => {
    const outs = [];
    for (const pid of ['25155', '25158', '25159']) {
      const r = await cli(['read', join(FIX, 'tree'), '--pid', pid, '0x200000000000', '256K', '--raw']);
      assert.equal(r.code, 0, r.err);
      outs.push(r.bytes);
    }
    assert.deepEqual(outs[0], patternBytes(0x200000000000, 256 << 10, 0xb000000000000000n));
    assert.deepEqual(outs[1], outs[0]);
    assert.deepEqual(outs[2], outs[0]);
    const noPid = await cli(['read', join(FIX, 'tree'), '0x200000000000', '16']);
    assert.equal(noPid.code, 1);
    oneErrorLine(noPid, /choose one with --pid: 25155, 25158, 25159/);
  });

  test('series-stack/3 reads like series/3', async () => {
    for (const [addr, len] of [
      ['0x300000000000', '2M'],
      ['0x300080000000', '256K'],
    ]) {
      const a = await cli(['read', join(FIX, 'series-stack', '3'), addr!, len!, '--raw']);
      const b = await cli(['read', join(FIX, 'series', '3'), addr!, len!, '--raw']);
      assert.equal(a.code, 0, a.err);
      assert.deepEqual(a.bytes, b.bytes);
    }
  });

  test("--version is package.json's", async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await cli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.out, `${pkg.version}\n`);
  });

  test('usage errors exit 2', async () => {
    for (const args of [
      ['read', SINGLE, 'zz', '16'],
      ['read', SINGLE, '0x100000000000', '-5'],
      ['read', SINGLE, '0x100000000000', '16Q'],
      ['read', SINGLE, '0x100000000000', '16', '--raw', '-o', join(tmp, 'x')],
      ['read', SINGLE, '0x1fffffffffffff', '16'],
      ['read', SINGLE, '0x100000000000'],
      ['read', SINGLE, '0x100000000000', '16', '-o', tmp],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.equal(r.out, '');
      assert.match(r.err, /^pagestack: /);
    }
  });

  test('parseNumber', () => {
    assert.equal(parseNumber('0x10', 'x'), 16);
    assert.equal(parseNumber('4k', 'x', true), 4096);
    assert.equal(parseNumber('2M', 'x', true), 2 << 20);
    assert.equal(parseNumber('1G', 'x', true), 1 << 30);
    assert.equal(parseNumber('0x10K', 'x', true), 16 << 10);
    assert.equal(parseNumber('3MiB', 'x', true), 3 << 20);
    assert.throws(() => parseNumber('4K', 'x'), /expected a number/);
    assert.throws(() => parseNumber('0x', 'x'), /expected a number/);
    assert.throws(() => parseNumber('99999999999G', 'x', true), /too large/);
  });
});

describe('pagestack verify', () => {
  test('clean fixtures: one ok line, exit 0; --json parses', async () => {
    for (const dir of ['single', 'tree', 'lazy', 'pageserver', 'series-stack/3']) {
      const r = await cli(['verify', join(FIX, dir)]);
      assert.equal(r.code, 0, r.out);
      assert.equal(r.out.split('\n').length, 2);
      assert.match(
        r.out,
        /^ok: \d+ layers?, \d+ process(es)?, \d+ pagemaps?, [\d,]+ images decoded, [\d,]+ pages dumped, [\d,]+ lazy\n$/,
      );
    }
    const s = await cli(['verify', join(FIX, 'series-stack', '3')]);
    assert.equal(s.out, 'ok: 3 layers, 1 process, 1 pagemap, 37 images decoded, 606 pages dumped, 0 lazy\n');
    const j = JSON.parse((await cli(['verify', join(FIX, 'tree'), '--json'])).out);
    assert.equal(j.ok, true);
    assert.equal(j.processes, 3);
    assert.deepEqual(j.problems, []);
  });

  test('a missing directory is one error line, exit 1', async () => {
    const r = await cli(['verify', join(tmp, 'nope')]);
    assert.equal(r.code, 1);
    oneErrorLine(r, /no such file or directory/);
  });
});

describe('the real program', () => {
  test('exit codes, one-line errors, and a piped 3 MiB raw read', async () => {
    const [big, bad, ver] = await Promise.all([
      cliProcess(['read', SINGLE, '0x100000000000', '3M', '--raw', '--zero']),
      cliProcess(['read', join(FIX, 'lazy'), '0x100000000000', '16']),
      cliProcess(['verify', join(FIX, 'series-stack', '3')]),
    ]);
    assert.equal(big.code, 0, big.stderr);
    assert.equal(big.stdout.length, 3 << 20);
    assert.deepEqual(big.stdout.subarray(0, 1 << 20), patternBytes(0x100000000000, 1 << 20, SEED_A1));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^pagestack: \S+lazy: 0x100000000000: lazy page[^\n]*\n$/);
    assert.equal(bad.stdout.length, 0);
    assert.equal(ver.code, 0);
    assert.match(ver.stdout.toString(), /^ok: 3 layers/);
  });
});
