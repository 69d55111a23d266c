/**
 * CLI bad input and misuse found in review: each case fails cleanly (one line, exit 1 or 2) or,
 * for dedup branches, refuses rather than breaking another layer. Runs on copies of the fixtures.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type CliRun, cli } from './helpers/cli.js';
import { testDir } from './helpers/files.js';

const FIX = join(import.meta.dirname, 'fixtures', 'criu-4.2');
const tmp = testDir('cli-errors');
let seq = 0;

/** A fresh copy of fixture `name` (a directory under fixtures/criu-4.2). */
function copy(name: string): string {
  const dst = join(tmp, `${seq++}-${name.replace(/\//g, '-')}`);
  cpSync(join(FIX, name), dst, { recursive: true, verbatimSymlinks: true });
  return dst;
}

/** The run failed cleanly: status, one line on stderr, every `parts` in it, no trace. */
function assertOneLine(r: CliRun, code: number, ...parts: (string | RegExp)[]): void {
  assert.equal(r.code, code, `exit status (stderr: ${r.err})`);
  assert.match(r.err, /^pagestack: [^\n]+\n$/, `exactly one line on stderr, got ${JSON.stringify(r.err)}`);
  assert.doesNotMatch(r.err, /\bat .*:\d+:\d+|internal error/, 'no stack trace');
  for (const p of parts) {
    if (typeof p === 'string') assert.ok(r.err.includes(p), `${JSON.stringify(r.err)} should mention ${p}`);
    else assert.match(r.err, p);
  }
}

describe('dedup and branches outside the stack', () => {
  test('dedup of a stack with a branch elsewhere: verify of the branch reports the damage', async () => {
    const s = copy('series-stack');
    const elsewhere = join(tmp, `${seq++}-elsewhere`);
    mkdirSync(elsewhere);
    const b2 = join(elsewhere, 'b2');
    assert.equal((await cli(['delta', join(s, '1'), join(FIX, 'series', '2'), '-o', b2])).code, 0);
    assert.equal((await cli(['verify', b2])).code, 0, 'the branch is fine before');
    // dedup cannot find a branch outside the stack's directories; verify of it must not say ok
    assert.equal((await cli(['dedup', join(s, '3')])).code, 0);
    const v = await cli(['verify', b2]);
    assert.equal(v.code, 1, v.out + v.err);
    assert.match(v.out + v.err, /deduplicated under another child/);
    assert.equal((await cli(['verify', join(s, '3')])).code, 0, 'the stack it was deduplicated for is fine');
  });
});

describe('output directories inside an input layer', () => {
  test('delta, squash and lazy-images refuse an output inside a layer, and write nothing', async () => {
    const st = copy('series-stack');
    const single = copy('single');
    const cases: [string[], string][] = [
      [['delta', join(st, '1'), join(FIX, 'series', '2'), '-o', join(st, '1', 'sub')], join(st, '1', 'sub')],
      [['squash', join(st, '3'), '-o', join(st, '2', 'sq')], join(st, '2', 'sq')],
      [['lazy-images', single, '-o', join(single, 'R')], join(single, 'R')],
    ];
    for (const [args, out] of cases) {
      assertOneLine(await cli(args), 1, out, 'inside the image directory');
      assert.equal(existsSync(out), false, `${out} not written`);
    }
    assert.equal((await cli(['verify', join(st, '3')])).code, 0);
    assert.equal((await cli(['verify', single])).code, 0);
  });
});

describe('read: size cap, sparse output, - for stdout', () => {
  const single = join(FIX, 'single');
  test('a LEN past the cap is refused in one line, nothing written', async () => {
    const out = join(tmp, `${seq++}-big.bin`);
    assertOneLine(
      await cli(['read', single, '0x100000000000', '100G', '--zero', '-o', out]),
      2,
      'LEN',
      /64(\.0)? GiB/,
    );
    assert.equal(existsSync(out), false);
    assertOneLine(await cli(['read', single, '0x100000000000', '1G', '--zero']), 2, 'hexdump');
  });
  test('--zero -o writes holes as holes', async () => {
    const out = join(tmp, `${seq++}-sparse.bin`);
    // 0x100040000000: a 4 MiB VMA, 1 MiB of it dumped; then 508 MiB past the VMA
    const r = await cli(['read', single, '0x100040000000', '512M', '--zero', '-o', out]);
    assert.equal(r.code, 0, r.err);
    const st = statSync(out);
    assert.equal(st.size, 512 << 20);
    assert.ok(
      st.blocks * 512 <= 2 << 20,
      `allocated ${st.blocks * 512} bytes, expected at most the dumped MiB`,
    );
    const raw = await cli(['read', single, '0x100040000000', '4M', '--raw', '--zero']);
    assert.ok(raw.bytes.some((b) => b !== 0));
    assert.ok(
      readFileSync(out)
        .subarray(0, 4 << 20)
        .equals(raw.bytes),
      'dumped bytes kept',
    );
  });
  test('-o - is standard output, as in export', async () => {
    const r = await cli(['read', single, '0x100000000000', '8192', '-o', '-']);
    assert.equal(r.code, 0, r.err);
    const raw = await cli(['read', single, '0x100000000000', '8192', '--raw']);
    assert.equal(r.bytes.length, 8192);
    assert.ok(r.bytes.equals(raw.bytes));
    assert.equal(existsSync(join(import.meta.dirname, '..', '-')), false, 'no file named -');
  });
});

test('read of the [vsyscall] VMA maps lists: never dumped, one line, exit 1', async () => {
  const single = join(FIX, 'single');
  assert.match((await cli(['maps', single])).out, /ffffffffff600000/);
  assertOneLine(await cli(['read', single, '0xffffffffff600000', '16']), 1, '[vsyscall]', 'never dumps');
});

test('an unknown command with --help is "unknown command", exit 2', async () => {
  for (const args of [
    ['nosuch', '--help'],
    ['uii', '-h'],
  ]) {
    const r = await cli(args);
    assert.equal(r.code, 2, r.out + r.err);
    assert.match(r.err, /^pagestack: error: unknown command '[a-z]+'/);
    assert.equal(r.out, '', 'no help on stdout');
  }
  assert.equal((await cli(['ui', '--help'])).code, 0, 'a known command shows its help');
});

test('decode of an archive without a member says to name one', async () => {
  const tar = join(import.meta.dirname, 'fixtures', 'archives', 'podman-series-step0.tar');
  assertOneLine(await cli(['decode', tar]), 2, tar, 'checkpoint archive', 'pstree.img');
  assertOneLine(await cli(['decode', `${tar}.gz`]), 2, 'gzip');
});

describe('squash output names', () => {
  const like = join(import.meta.dirname, 'fixtures', 'archives', 'podman-series-step0.tar');
  test('an archive name without --like, or a compression it cannot write, is refused', async () => {
    const st = copy('series-stack');
    const out = join(tmp, `${seq++}-sq6.tar`);
    assertOneLine(await cli(['squash', join(st, '3'), '-o', out]), 2, out, '--like');
    assert.equal(existsSync(out), false);
    const xz = join(tmp, `${seq++}-x.tar.xz`);
    assertOneLine(await cli(['squash', join(st, '3'), '-o', xz, '--like', like]), 2, xz, '.tar.xz');
    assert.equal(existsSync(xz), false);
  });
  test('--like a missing file or a directory: one line naming it', async () => {
    const st = copy('series-stack');
    const missing = join(tmp, 'nonexist.tar');
    const r1 = await cli(['squash', join(st, '3'), '-o', join(tmp, `${seq++}-a.tar`), '--like', missing]);
    assertOneLine(r1, 2, missing, 'no such file', 'checkpoint archive');
    const r2 = await cli(['squash', join(st, '3'), '-o', join(tmp, `${seq++}-b.tar`), '--like', tmp]);
    assertOneLine(r2, 2, tmp, 'a directory');
  });
});

describe('messages and consistency', () => {
  test('--keep-below -1 and --max-match 0 are refused', async () => {
    const st = copy('series-stack');
    assertOneLine(
      await cli(['squash', join(st, '3'), '-o', join(tmp, `${seq++}-sq`), '--keep-below', '-1']),
      2,
      '--keep-below -1',
    );
    assertOneLine(await cli(['search', join(FIX, 'single'), 'a', '--max-match', '0']), 2, '--max-match 0');
  });
  test('dedup numbers ancestors as show does (from the bottom: 2 = the parent of the top 3)', async () => {
    const st = copy('series-stack');
    const r = await cli(['dedup', '-n', join(st, '3')]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^\\s*2\\s+${join(st, '2').replace(/[/.-]/g, '\\$&')}`, 'm'));
    assert.match(r.out, new RegExp(`^\\s*1\\s+${join(st, '1').replace(/[/.-]/g, '\\$&')}`, 'm'));
    assert.doesNotMatch(r.out, /^\s*-\d\s/m);
  });
  test('delta claims no saving when the pages grew', async () => {
    const st = copy('series-stack');
    const r = await cli(['delta', join(st, '3'), join(st, '2'), '-o', join(tmp, `${seq++}-drev`)]);
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.out, /saved/);
    assert.match(r.out, /more than CHILD's own/);
    const f = await cli([
      'delta',
      join(FIX, 'series', '1'),
      join(FIX, 'series', '2'),
      '-o',
      join(tmp, `${seq++}-dfwd`),
    ]);
    assert.match(f.out, /pages 2\.4 MiB -> 272 KiB, 2\.1 MiB less than a full dump/);
  });
  test('verify of a truncated archive reports in its own format', async () => {
    const t = join(tmp, `${seq++}-trunc.tar`);
    writeFileSync(
      t,
      readFileSync(join(import.meta.dirname, 'fixtures', 'archives', 'podman-series-step0.tar')).subarray(
        0,
        30000,
      ),
    );
    const r = await cli(['verify', t]);
    assert.equal(r.code, 1);
    assert.match(r.out, /^error: .*trunc\.tar.*\n$/);
    assert.equal(r.err, '');
  });
});

test('--help of commands that take archives says so', async () => {
  for (const c of ['show', 'maps', 'read', 'export', 'verify', 'diff']) {
    const r = await cli([c, '--help']);
    assert.equal(r.code, 0);
    assert.match(r.out, /image directory or checkpoint archive/, `${c} --help`);
  }
});
