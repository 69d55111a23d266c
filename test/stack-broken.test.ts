/**
 * Broken stacks: each gives its own StackError message from the library, `verify` reports it
 * (collecting every problem rather than stopping), and the CLI exits 1 with one line.
 *
 * Layers are built from the metadata of fixtures/criu-4.2/single (pstree, core, mm, ... of pid
 * 24588) with a hand-written pagemap-24588.img and pages file, so that `read` and `verify` see a
 * real process; pages lie in its first VMA (0x100000000000, 256 pages).
 */
import assert from 'node:assert/strict';
import {
  closeSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type ErrorCode, StackError } from '../src/errors.js';
import { PAGE_SIZE, PE_LAZY, PE_PARENT, PE_PRESENT } from '../src/image/pagemap.js';
import { summarizeStack } from '../src/ops/summary.js';
import { type VerifyReport, verifyStack } from '../src/ops/verify.js';
import { DirLayerSource } from '../src/source/dir.js';
import { openStackDir } from '../src/source/open.js';
import { MAX_STACK_DEPTH } from '../src/stack/stack.js';
import { cli } from './helpers/cli.js';
import { testDir } from './helpers/files.js';
import { FIX } from './helpers/fixtures.js';
import { pagemapEntry, pagemapImage } from './helpers/images.js';

const PID = 24588;
const BASE = 0x100000000; // page number of 0x100000000000
const root = testDir('broken');

// ---------------------------------------------------------------------------------------------
// writing layers

interface E {
  /** Page offset from BASE, pages, flags. */
  at: number;
  n: number;
  flags: number;
}

function pagemap(pagesId: number, entries: readonly E[]): Uint8Array {
  return pagemapImage(
    pagesId,
    entries.map((e) => pagemapEntry((BASE + e.at) * PAGE_SIZE, e.n, e.flags)),
  );
}

let counter = 0;

/** A fresh directory under the test root. */
function fresh(name: string): string {
  const d = join(root, `${counter++}-${name}`);
  mkdirSync(d);
  return d;
}

interface LayerOpts {
  /** Pages file: exact (default), short/long by a page, missing, or holes at these page indexes. */
  pages?: 'exact' | 'short' | 'long' | 'missing';
  holes?: number[];
  parent?: string;
  /** Copy single/'s pstree, core, mm, ... (default true). */
  meta?: boolean;
  pagesId?: number;
}

function layer(dir: string, entries: readonly E[], o: LayerOpts = {}): string {
  mkdirSync(dir, { recursive: true });
  if (o.meta !== false) {
    for (const f of readdirSync(join(FIX, 'single'))) {
      if (/^(pagemap-|pages-)/.test(f) || f === 'expected.json') continue;
      copyFileSync(join(FIX, 'single', f), join(dir, f));
    }
  }
  const id = o.pagesId ?? 1;
  writeFileSync(join(dir, `pagemap-${PID}.img`), pagemap(id, entries));
  let present = 0;
  for (const e of entries) if (e.flags & PE_PRESENT) present += e.n;
  const size = (present + (o.pages === 'long' ? 1 : o.pages === 'short' ? -1 : 0)) * PAGE_SIZE;
  if (o.pages !== 'missing') {
    const fd = openSync(join(dir, `pages-${id}.img`), 'w');
    const page = new Uint8Array(PAGE_SIZE);
    for (let p = 0; p * PAGE_SIZE < size; p++) {
      if (o.holes?.includes(p)) continue;
      page.fill((p % 250) + 1);
      writeSync(fd, page, 0, PAGE_SIZE, p * PAGE_SIZE);
    }
    closeSync(fd);
    truncateSync(join(dir, `pages-${id}.img`), size);
  }
  if (o.parent) symlinkSync(o.parent, join(dir, 'parent'));
  return dir;
}

// ---------------------------------------------------------------------------------------------
// running things

async function verify(dir: string): Promise<VerifyReport> {
  return verifyStack(await DirLayerSource.open(dir));
}

function errors(r: VerifyReport): string[] {
  return r.problems.filter((p) => p.severity === 'error').map((p) => p.message);
}

/** The library, verify and the CLI all report `re`; the CLI in one line, exit 1. */
async function expectBroken(
  top: string,
  re: RegExp,
  use: (top: string) => Promise<unknown> = async (t) => {
    const s = await openStackDir(t);
    try {
      await s.process(PID);
      const m = await s.memory(`pagemap-${PID}.img`);
      await m.read(BASE * PAGE_SIZE, PAGE_SIZE, { zero: true });
    } finally {
      await s.close();
    }
  },
  /** The library error's code, where the test pins it. */
  code?: ErrorCode,
): Promise<VerifyReport> {
  await assert.rejects(use(top), (e: unknown) => {
    assert.ok(e instanceof StackError, `expected a StackError, got ${String(e)}`);
    assert.match(e.message, re);
    if (code !== undefined) assert.equal(e.code, code);
    return true;
  });
  const r = await verify(top);
  assert.equal(r.ok, false);
  assert.ok(
    errors(r).some((m) => re.test(m)),
    `verify should report ${re}; it said:\n${r.problems.map((p) => p.message).join('\n')}`,
  );
  const v = await cli(['verify', top]);
  assert.equal(v.code, 1);
  assert.ok(
    v.out.split('\n').some((l) => l.startsWith('error: ') && re.test(l)),
    v.out,
  );
  for (const args of [
    ['read', top, '0x100000000000', '16', '--zero'],
    ['show', top],
  ]) {
    const c = await cli(args);
    assert.equal(c.code, 1, `${args.join(' ')}: ${c.err}`);
    assert.equal(c.out, '');
    assert.match(c.err, /^pagestack: [^\n]*\n$/);
    assert.match(c.err, re);
  }
  return r;
}

const PL = PE_PRESENT | PE_LAZY;

// ---------------------------------------------------------------------------------------------

describe('broken stacks', () => {
  test('a cycle of parent links', async () => {
    const d = fresh('cycle');
    layer(join(d, 'a'), [{ at: 0, n: 2, flags: PE_PARENT }], { parent: '../b' });
    layer(join(d, 'b'), [{ at: 0, n: 2, flags: PE_PARENT }], { parent: '../a' });
    const r = await expectBroken(join(d, 'a'), /parent link leads back to .*: the stack has a cycle/);
    assert.equal(r.layers.length, 2);
  });

  test('a parent link to itself', async () => {
    const d = fresh('self');
    layer(join(d, 'a'), [{ at: 0, n: 2, flags: PE_PARENT }], { parent: '.' });
    await expectBroken(join(d, 'a'), /the stack has a cycle/);
  });

  test('a missing parent directory', async () => {
    const d = fresh('noparent');
    layer(join(d, 'top'), [{ at: 0, n: 2, flags: PE_PARENT }], { parent: '../gone' });
    const r = await expectBroken(
      join(d, 'top'),
      /top\/parent: parent link points to .*gone, which does not exist/,
    );
    // the rest of the top layer is still checked: its images decode, its pages file fits
    assert.equal(errors(r).length, 1);
  });

  test('a parent link to a file', async () => {
    const d = fresh('parentfile');
    writeFileSync(join(d, 'notadir'), 'x');
    layer(join(d, 'top'), [{ at: 0, n: 2, flags: PE_PARENT }], { parent: '../notadir' });
    await expectBroken(join(d, 'top'), /parent link points to .*notadir, which is not a directory/);
  });

  test('a PE_PARENT range the parent lacks', async () => {
    const d = fresh('lacks');
    layer(join(d, '1'), [
      { at: 0, n: 2, flags: PL },
      { at: 6, n: 2, flags: PL },
    ]);
    layer(join(d, '2'), [{ at: 0, n: 8, flags: PE_PARENT }], { parent: '../1' });
    const r = await expectBroken(
      join(d, '2'),
      /missing 0x100000002000-0x100000006000 in parent pagemap .*1\/pagemap-24588\.img/,
      undefined,
      'PAGESTACK_MISSING_IN_PARENT',
    );
    assert.deepEqual(errors(r).length, 1);
  });

  test('a PE_PARENT range with no parent layer', async () => {
    const d = fresh('orphan');
    layer(d, [
      { at: 0, n: 2, flags: PL },
      { at: 4, n: 3, flags: PE_PARENT },
    ]);
    await expectBroken(
      d,
      /pages 0x100000004000-0x100000007000 are marked PE_PARENT but .* has no parent layer/,
    );
  });

  test('the parent layer has no pagemap of that name', async () => {
    const d = fresh('nopagemap');
    layer(join(d, '1'), [{ at: 0, n: 2, flags: PL }]);
    unlinkSync(join(d, '1', `pagemap-${PID}.img`));
    layer(join(d, '2'), [{ at: 0, n: 2, flags: PE_PARENT }], { parent: '../1' });
    await expectBroken(join(d, '2'), /the parent layer .*1 has no pagemap-24588\.img/);
  });

  test('a short pages file', async () => {
    const d = fresh('short');
    layer(
      d,
      [
        { at: 0, n: 2, flags: PL },
        { at: 4, n: 3, flags: PL },
      ],
      { pages: 'short' },
    );
    await expectBroken(
      d,
      /pages-1\.img: 16384 bytes, but pagemap-24588\.img needs 20480 \(short at offset 8192, the pages of 0x100000004000\)/,
    );
  });

  test('a short pages file in a lower layer', async () => {
    const d = fresh('short-lower');
    layer(join(d, '1'), [{ at: 0, n: 4, flags: PL }], { pages: 'short' });
    layer(join(d, '2'), [{ at: 0, n: 4, flags: PE_PARENT }], { parent: '../1' });
    await expectBroken(join(d, '2'), /1\/pages-1\.img: 12288 bytes, but pagemap-24588\.img needs 16384/);
  });

  test('a missing pages file', async () => {
    const d = fresh('nopages');
    layer(d, [{ at: 0, n: 2, flags: PL }], { pages: 'missing' });
    await expectBroken(d, /pages-1\.img: missing, but .*pagemap-24588\.img has 2 pages in it/);
  });

  test('overlapping entries', async () => {
    const d = fresh('overlap');
    layer(d, [
      { at: 0, n: 4, flags: PL },
      { at: 2, n: 4, flags: PL },
    ]);
    await expectBroken(
      d,
      /entry 1 at 0x100000002000 .*overlaps or precedes the entry before it \(which ends at 0x100000004000\)/,
    );
  });

  test('unsorted entries', async () => {
    const d = fresh('unsorted');
    layer(d, [
      { at: 8, n: 2, flags: PL },
      { at: 0, n: 2, flags: PL },
    ]);
    await expectBroken(d, /entry 1 at 0x100000000000 .*overlaps or precedes the entry before it/);
  });

  test('invalid flags (none, or PE_PARENT|PE_PRESENT)', async () => {
    for (const flags of [0, PE_PARENT | PE_PRESENT]) {
      const d = fresh(`flags-${flags}`);
      layer(d, [{ at: 0, n: 2, flags }]);
      await expectBroken(
        d,
        new RegExp(`entry 0 at 0x100000000000 .*has invalid flags 0x${flags.toString(16)}`),
      );
    }
  });

  test(`a stack deeper than ${MAX_STACK_DEPTH} layers`, async () => {
    const d = fresh('deep');
    const n = MAX_STACK_DEPTH + 1;
    for (let i = 0; i < n; i++) {
      mkdirSync(join(d, String(i)));
      if (i > 0) symlinkSync(`../${i - 1}`, join(d, String(i), 'parent'));
    }
    const top = join(d, String(n - 1));
    layer(top, [{ at: 0, n: 1, flags: PE_PARENT }]);
    await expectBroken(top, new RegExp(`the stack is deeper than ${MAX_STACK_DEPTH} layers`), async (t) =>
      openStackDir(t),
    );
    // exactly the limit is fine
    const ok = await openStackDir(join(d, String(n - 2)));
    assert.equal(ok.layers.length, MAX_STACK_DEPTH);
  });

  test('verify collects every problem instead of stopping at the first', async () => {
    const d = fresh('many');
    layer(join(d, '1'), [{ at: 0, n: 2, flags: PL }], { pages: 'long' });
    layer(
      join(d, '2'),
      [
        { at: 0, n: 4, flags: PE_PARENT },
        { at: 10, n: 2, flags: PL },
        { at: 11, n: 1, flags: PL },
      ],
      { parent: '../1', pages: 'short' },
    );
    unlinkSync(join(d, '2', `core-${PID}.img`));
    const r = await verify(join(d, '2'));
    const errs = errors(r);
    assert.ok(
      errs.some((m) => /1\/pages-1\.img: 12288 bytes, but pagemap-24588\.img needs exactly 8192/.test(m)),
      errs.join('\n'),
    );
    assert.ok(errs.some((m) => /2\/pages-1\.img: 8192 bytes, but pagemap-24588\.img needs 12288/.test(m)));
    assert.ok(errs.some((m) => /overlaps or precedes/.test(m)));
    assert.ok(errs.some((m) => /no core-24588\.img for process 24588/.test(m)));
    const v = await cli(['verify', join(d, '2')]);
    assert.equal(v.code, 1);
    assert.equal(v.out.trim().split('\n').length, r.problems.length);
  });
});

describe('verify: more invariants', () => {
  test('a longer pages file is an error (the reader itself does not mind)', async () => {
    const d = fresh('long');
    layer(d, [{ at: 0, n: 2, flags: PL }], { pages: 'long' });
    const r = await verify(d);
    assert.deepEqual(errors(r), [
      `${d}/pages-1.img: 12288 bytes, but pagemap-24588.img needs exactly 8192: 4096 bytes at offset 8192 belong to no pagemap entry`,
    ]);
    const c = await cli(['read', d, '0x100000000000', '16']);
    assert.equal(c.code, 0);
  });

  test('pstree vs core, mm and pagemap files; threads need cores', async () => {
    const d = fresh('tree');
    cpSync(join(FIX, 'tree'), d, { recursive: true });
    unlinkSync(join(d, 'core-25160.img')); // child2's second thread
    unlinkSync(join(d, 'mm-25158.img'));
    unlinkSync(join(d, 'pagemap-25155.img'));
    const r = await verify(d);
    const errs = errors(r);
    assert.ok(errs.includes(`${d}: no core-25160.img for thread 25160 of process 25159`), errs.join('\n'));
    assert.ok(errs.includes(`${d}: no mm-25158.img for process 25158`));
    assert.ok(errs.includes(`${d}: no pagemap-25155.img for process 25155`));
    assert.equal(errs.length, 3, errs.join('\n'));
    assert.equal((await cli(['verify', d])).code, 1);
  });

  test('a shared VMA whose shmem pagemap is missing', async () => {
    const d = fresh('noshmem');
    cpSync(join(FIX, 'tree'), d, { recursive: true });
    unlinkSync(join(d, 'pagemap-shmem-250.img'));
    const r = await verify(d);
    const errs = errors(r);
    assert.ok(
      errs.includes(
        `${d}/mm-25155.img: the shared VMA 0x200000000000-0x200000040000 of process 25155 needs pagemap-shmem-250.img, which is missing`,
      ),
      errs.join('\n'),
    );
    // pages-1.img is now named by no pagemap
    assert.ok(
      r.problems.some(
        (p) => p.severity === 'warning' && /pages-1\.img: no pagemap names this pages file/.test(p.message),
      ),
    );
  });

  test('a memfd VMA whose memfd.img entry is gone', async () => {
    const d = fresh('nomemfd');
    cpSync(join(FIX, 'tree'), d, { recursive: true });
    unlinkSync(join(d, 'memfd.img'));
    const r = await verify(d);
    assert.ok(
      errors(r).some((m) =>
        /the memfd VMA at 0x200000000000 \(files\.img id 1\) has no memfd\.img entry/.test(m),
      ),
    );
  });

  test('pagemap entries outside every VMA', async () => {
    const d = fresh('outside');
    // 0x100000100000 is past the end of the first VMA (256 pages), before the next one
    layer(d, [
      { at: 254, n: 4, flags: PL },
      { at: 0x110, n: 1, flags: PL },
    ]);
    const r = await verify(d);
    assert.deepEqual(errors(r), [
      `${d}/pagemap-24588.img: entry 0: pages 0x100000100000-0x100000102000 lie outside every private VMA of the process`,
      `${d}/pagemap-24588.img: entry 1: pages 0x100000110000-0x100000111000 lie outside every private VMA of the process`,
    ]);
    const m = await cli(['maps', d, '--json']);
    assert.equal(m.code, 0);
    const j = JSON.parse(m.out) as { outside: { start: string; pages: number }[] };
    assert.deepEqual(
      j.outside.map((e) => [e.start, e.pages]),
      [
        ['0x100000100000', 2],
        ['0x100000110000', 1],
      ],
    );
  });

  test('an image with the wrong magic for its name, and a truncated image', async () => {
    const d = fresh('magic');
    layer(d, [{ at: 0, n: 1, flags: PL }]);
    copyFileSync(join(d, `mm-${PID}.img`), join(d, `core-${PID}.img`));
    const buf = readFileSync(join(d, 'pstree.img'));
    writeFileSync(join(d, 'pstree.img'), buf.subarray(0, buf.length - 3));
    const r = await verify(d);
    const errs = errors(r);
    assert.ok(
      errs.includes(
        `${d}/core-${PID}.img: offset 4: the image magic is MM, expected CORE for this file name`,
      ),
      errs.join('\n'),
    );
    assert.ok(
      errs.some((m) => m.startsWith(`${d}/pstree.img: offset 8: entry 0 claims`)),
      errs.join('\n'),
    );
  });

  test('a corrupt pagemap is reported with its offset, and not resolved further', async () => {
    const d = fresh('corrupt');
    layer(d, [{ at: 0, n: 1, flags: PL }]);
    const f = join(d, `pagemap-${PID}.img`);
    const buf = readFileSync(f);
    writeFileSync(f, buf.subarray(0, buf.length - 2));
    const r = await verify(d);
    assert.deepEqual(
      errors(r).map((m) => m.replace(/: entry.*/, '')),
      [`${d}/pagemap-24588.img: offset 14`],
    );
  });

  test('a deduplicated ancestor (punched holes) is a note, not an error', async () => {
    const d = fresh('dedup');
    layer(join(d, '1'), [{ at: 0, n: 8, flags: PL }], { holes: [1, 2, 3] });
    layer(
      join(d, '2'),
      [
        { at: 0, n: 4, flags: PL },
        { at: 4, n: 4, flags: PE_PARENT },
      ],
      { parent: '../1' },
    );
    const st = statSync(join(d, '1', 'pages-1.img'));
    if (st.blocks * 512 >= st.size) return; // this filesystem does not keep holes
    const r = await verify(join(d, '2'));
    assert.equal(r.ok, true, r.problems.map((p) => p.message).join('\n'));
    assert.deepEqual(
      r.problems.map((p) => p.severity),
      ['note'],
    );
    assert.match(r.problems[0]!.message, /1: deduplicated .*valid only under its children/);
    const v = await cli(['verify', join(d, '2')]);
    assert.equal(v.code, 0);
    assert.match(v.out, /^note: .*valid only under its children[^\n]*\nok: 2 layers, 1 process/);
    const s = await summarizeStack(await openStackDir(join(d, '2')));
    assert.deepEqual(
      s.layers.map((l) => l.deduplicated),
      [false, true],
    );
    assert.equal(s.layers[1]!.note, 'deduplicated: valid only under its children');
    const show = await cli(['show', join(d, '2')]);
    assert.match(show.out, /deduplicated: valid only under its children/);
    // the top layer with holes is a warning (its punched pages read as zeros)
    const r1 = await verify(join(d, '1'));
    assert.equal(r1.ok, true);
    assert.match(r1.problems[0]!.message, /pages files have holes/);
  });
});
