/**
 * `--parent ARCHIVE|DIR` on every command that takes a target (one option definition,
 * src/cli/options.ts parentOption, passed to openTarget). The case it is for: a podman
 * `--with-previous` archive, whose `checkpoint/parent -> ../pre-checkpoint` is not in the archive
 * (its pages are in a second archive). Built here from the real stack test/fixtures/criu-4.2/
 * series-stack (layer 3 as such an archive; layer 2 + 1 as the other archive, or layer 2 as a
 * directory): every command must then give what it gives for series-stack/3 itself.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { cli } from './helpers/cli.js';
import { testDir } from './helpers/files.js';
import { FIX } from './helpers/fixtures.js';
import { dirEntries, makeTar } from './helpers/tar.js';

const STACK = join(FIX, 'series-stack');
const REF = join(STACK, '3');
const R = '0x300000000000';

const dir = testDir('parent-option');
let top = ''; // layer 3, checkpoint/parent -> ../pre-checkpoint (not in the archive)
let below = ''; // layers 2 and 1 in one archive
const parents = (): [string, string][] => [
  ['archive', below],
  ['directory', join(STACK, '2')],
];

/** The command's output with the layer names (which differ by design) taken out. */
function unnamed(text: string): string {
  return text
    .replaceAll(REF, 'TOP')
    .replaceAll(`${top}:checkpoint`, 'TOP')
    .replace(/\S*series-stack\/[12]\S*/g, 'L')
    .replace(/\S*below\.tar\S*/g, 'L');
}

describe('--parent ARCHIVE|DIR', () => {
  before(() => {
    top = join(dir, 'top.tar');
    writeFileSync(top, makeTar(dirEntries(REF, 'checkpoint', '../pre-checkpoint')));
    below = join(dir, 'below.tar');
    writeFileSync(
      below,
      makeTar([
        ...dirEntries(join(STACK, '2'), 'checkpoint', '../pre-1'),
        ...dirEntries(join(STACK, '1'), 'pre-1'),
      ]),
    );
  });

  test('without it, the link that leaves the archive is an error naming the member and the option', async () => {
    for (const args of [
      ['show', top],
      ['maps', top],
      ['read', top, R, '16'],
      ['verify', top],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.out}`);
      assert.match(
        `${r.err}${r.out}`,
        /top\.tar: member "checkpoint\/parent" links to "\.\.\/pre-checkpoint", which is not a directory in this archive/,
      );
      // the CLI's hint for the code (verify lists it as one of its problems, without hints)
      if (args[0] !== 'verify') assert.match(r.err, /; give the layer below with --parent ARCHIVE\|DIR$/m);
    }
  });

  test('show, maps, verify, inspect: as for the stack itself', async () => {
    for (const [what, p] of parents()) {
      for (const cmd of ['show', 'maps', 'verify']) {
        const ref = await cli([cmd, REF]);
        const got = await cli([cmd, top, '--parent', p]);
        assert.equal(got.code, 0, `${cmd} --parent ${what}: ${got.err}`);
        if (cmd === 'show') assert.match(got.out, /: 3 layers/);
        if (cmd === 'verify') assert.match(got.out, /^ok: 3 layers/m);
        if (cmd !== 'show') assert.equal(unnamed(got.out), unnamed(ref.out), `${cmd} --parent ${what}`);
      }
      const ins = await cli(['inspect', top, '--parent', p, '--json']);
      assert.equal(ins.code, 0, ins.err);
      assert.equal((JSON.parse(ins.out) as { layers: unknown[] }).layers.length, 3);
    }
  });

  test('read, export, search: the same bytes', async () => {
    const want = await cli(['read', REF, R, '0x40000', '--raw']);
    assert.equal(want.code, 0, want.err);
    for (const [what, p] of parents()) {
      const got = await cli(['read', top, R, '0x40000', '--raw', '--parent', p]);
      assert.equal(got.code, 0, got.err);
      assert.ok(got.bytes.equals(want.bytes), `read --parent ${what}`);
      const core = join(dir, `core-${what}.raw`);
      const e = await cli([
        'export',
        top,
        '--parent',
        p,
        '--format',
        'raw',
        '--start',
        R,
        '--end',
        '0x300000200000',
        '-o',
        core,
      ]);
      assert.equal(e.code, 0, e.err);
      const full = await cli(['read', REF, R, '0x200000', '--raw']);
      assert.ok(readFileSync(core).equals(full.bytes), `export --parent ${what}`);
      // a word of layer 1 (R pages 96.. keep seed A = 0xc1...): searched through the parent
      const word = Buffer.alloc(8);
      word.writeBigUInt64LE(BigInt(0x300000000000 + 96 * 4096) ^ 0xc100000000000000n);
      const s = await cli(['search', top, word.toString('hex'), '--hex', '--parent', p, '--json']);
      assert.equal(s.code, 0, s.err);
      assert.match(s.out, /"address":"0x300000060000".*"layer":2/);
    }
  });

  test('diff (--parent for A, --parent-b for B), delta (--parent, --child-parent), squash', async () => {
    const p = below;
    let r = await cli(['diff', top, REF, '--parent', p, '--json']);
    assert.equal(r.code, 0, r.err);
    const equal = (text: string): boolean =>
      (
        JSON.parse(text) as {
          processes: { changed_pages: number; added_pages: number; removed_pages: number }[];
        }
      ).processes.every((x) => x.changed_pages === 0 && x.added_pages === 0 && x.removed_pages === 0);
    assert.ok(equal(r.out), r.out);
    r = await cli(['diff', REF, top, '--parent-b', p, '--json']);
    assert.equal(r.code, 0, r.err);
    assert.ok(equal(r.out), r.out);
    // against series/2 (step 2's full dump) B differs: the option reached B
    r = await cli(['diff', join(FIX, 'series', '2'), top, '--parent-b', p, '--json']);
    assert.equal(r.code, 1, r.err); // different: 1, as diff(1)
    assert.ok(!equal(r.out), r.out);

    // delta: the full dump 3 on top of (top.tar + below): every page equal, none kept
    r = await cli(['delta', top, join(FIX, 'series', '3'), '--parent', p, '-o', join(dir, 'd3')]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /: 0 pages kept/);
    // CHILD is the archive: read through --child-parent, rewritten on series-stack/2
    r = await cli(['delta', join(STACK, '2'), top, '--child-parent', p, '-o', join(dir, 'c3')]);
    assert.equal(r.code, 0, r.err);
    const c3 = await cli(['read', join(dir, 'c3'), R, '0x200000', '--raw']);
    const ref = await cli(['read', REF, R, '0x200000', '--raw']);
    assert.ok(c3.bytes.equals(ref.bytes));

    for (const out of [join(dir, 'sq'), join(dir, 'sq.tar.zst')]) {
      const args = ['squash', top, '--parent', p, '-o', out];
      if (out.endsWith('.zst')) args.push('--like', top);
      r = await cli(args);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /3 of 3 layers merged/);
      const got = await cli(['read', out, R, '0x200000', '--raw']);
      assert.ok(got.bytes.equals(ref.bytes), out);
      const v = await cli(['verify', out]);
      assert.match(v.out, /^ok: 1 layer/m);
    }
  });

  test('on a directory it replaces the parent link; a missing one is named', async () => {
    const flat = join(dir, 'flat2');
    assert.equal((await cli(['squash', join(STACK, '2'), '-o', flat])).code, 0);
    const r = await cli(['show', REF, '--parent', flat]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /: 2 layers/);
    const a = await cli(['read', REF, R, '0x200000', '--raw', '--parent', flat]);
    const b = await cli(['read', REF, R, '0x200000', '--raw']);
    assert.ok(a.bytes.equals(b.bytes));
    const m = await cli(['show', top, '--parent', join(dir, 'nope')]);
    assert.equal(m.code, 1);
    assert.match(m.err, /nope/);
    assert.equal(m.err.trim().split('\n').length, 1, m.err);
  });
});
