/**
 * Readers on inputs that are not what they seem (issue 17, sections 5-7): special files in place
 * of images, damaged and deduplicated layers, hostile patterns and requests, odd messages. Each
 * test here failed on the code before its fix.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { PageServerProtocolError, SearchPatternError, StackError } from '../src/errors.js';
import { compilePattern, searchStack } from '../src/ops/search.js';
import { squash } from '../src/ops/squash.js';
import { encodeIov } from '../src/protocol/pageserver/iov.js';
import { PageServerParser } from '../src/protocol/pageserver/parser.js';
import { open2Request } from '../src/protocol/pageserver/writer.js';
import { Explorer } from '../src/server/http/explorer.js';
import { startUiServer } from '../src/server/http/server.js';
import { DirLayerSource } from '../src/source/dir.js';
import { openTarget } from '../src/source/open.js';
import type { LayerSource } from '../src/stack/source.js';
import { openStack } from '../src/stack/stack.js';
import { cli, cliProcess } from './helpers/cli.js';
import { testDir } from './helpers/files.js';
import { copyStack, FIX, ROOT } from './helpers/fixtures.js';
import { field, pagemapImage, varint } from './helpers/images.js';
import { dirEntries, makeTar, tarHeader } from './helpers/tar.js';

const SINGLE = join(FIX, 'single');
const tmp = testDir('readers');

test('npm test builds the explorer page before the tests that serve it', () => {
  const scripts = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts;
  const steps = scripts['test']!.split('&&').map((s) => s.trim());
  const runner = steps.findIndex((s) => s.includes('--test'));
  const build = steps.findIndex((s) => s === 'npm run build:web' || s === 'npm run build');
  assert.ok(build >= 0 && build < runner, `"test" builds before the runner: ${scripts['test']}`);
  assert.match(scripts['build:web'] ?? '', /vite build --config web\/vite\.config\.ts/);
  assert.match(readFileSync(join(ROOT, 'web', 'vite.config.ts'), 'utf8'), /\.\.\/dist\/web/);
});

test('the explorer API refuses same-site and cross-site requests; a malformed %-escape is 400', async () => {
  const explorer = await Explorer.open(join(FIX, 'series-stack', '3'));
  const server = await startUiServer({ explorer, webRoot: join(ROOT, 'dist', 'web'), port: 0 });
  try {
    const get = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${server.url}${path}`, { headers });
    for (const site of ['same-site', 'cross-site']) {
      const r = await get('api/stack', { 'sec-fetch-site': site });
      assert.equal(r.status, 403, site);
      const body = (await r.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'PAGESTACK_FOREIGN_REQUEST');
      assert.match(body.error.message, new RegExp(`Sec-Fetch-Site '${site}'`));
    }
    assert.equal((await get('api/stack', { 'sec-fetch-site': 'same-origin' })).status, 200);
    assert.equal((await get('api/stack', { 'sec-fetch-site': 'none' })).status, 200);
    assert.equal((await get('api/stack')).status, 200);
    const bad = await get('%E0%A4%A');
    assert.equal(bad.status, 400);
    const body = (await bad.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'PAGESTACK_BAD_REQUEST');
    assert.match(body.error.message, /malformed %-escape/);
  } finally {
    await server.close();
    await explorer.close();
  }
});

test('a FIFO in place of an image: every reader refuses it in one line instead of blocking', async () => {
  const dir = copyStack(join(tmp, 'fifo'), ['single'], FIX);
  rmSync(join(dir, 'pages-1.img'));
  execFileSync('mkfifo', [join(dir, 'pages-1.img')]);
  const mm = copyStack(join(tmp, 'fifo-mm'), ['single'], FIX);
  rmSync(join(mm, 'mm-24588.img'));
  execFileSync('mkfifo', [join(mm, 'mm-24588.img')]);
  const runs: [string, string[]][] = [
    ['pages-1.img', ['read', dir, '0x100000000000', '16']],
    ['pages-1.img', ['export', dir, '-o', join(tmp, 'fifo.core')]],
    ['pages-1.img', ['search', dir, 'abc']],
    ['pages-1.img', ['verify', dir]],
    ['mm-24588.img', ['show', mm]],
    ['mm-24588.img', ['maps', mm]],
  ];
  // processes of their own, killed after 60 s: a reader that blocks in open() fails, not hangs
  const results = await Promise.all(runs.map(([, args]) => cliProcess(args, { killAfterMs: 60_000 })));
  for (const [i, r] of results.entries()) {
    const [file, args] = runs[i]!;
    assert.equal(r.signal, null, `${args[0]} ended by ${r.signal}: it blocked`);
    assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
    // verify lists problems on stdout ("error: ..."), the others print one line on stderr
    const text = args[0] === 'verify' ? r.stdout.toString() : r.stderr;
    assert.ok(text.includes(`${file}: is a FIFO, expected a regular image file`), `${args[0]}: ${text}`);
    assert.doesNotMatch(r.stderr, /\bat .*:\d+:\d+/, 'no stack trace');
  }
});

/** A copy of the single fixture whose pagemap is `entries` (message bytes), pages_id 1. */
function singleWithPagemap(name: string, entries: number[][]): string {
  const dir = copyStack(join(tmp, name), ['single'], FIX);
  writeFileSync(join(dir, 'pagemap-24588.img'), pagemapImage(1, entries));
  return dir;
}

/** A pagemap_entry message with 64-bit vaddr and nr_pages. */
function entry64(vaddr: bigint, nrPages: bigint, flags: number): number[] {
  const m: number[] = [1 << 3];
  varint(m, vaddr);
  field(m, 2, 0);
  field(m, 4, flags);
  m.push(5 << 3);
  return varint(m, nrPages);
}

test('a pagemap entry that wraps past 2^64 is refused by show, read, export and squash', async () => {
  // 512 pages from 2^64 - 1 MiB: the last 256 lie beyond the address space
  const dir = singleWithPagemap('wrap', [entry64(0xfffffffffff00000n, 512n, 4)]);
  for (const args of [
    ['show', dir],
    ['maps', dir],
    ['read', dir, '0x100000000000', '16'],
    ['export', dir, '-o', join(tmp, 'wrap.core')],
    ['squash', dir, '-o', join(tmp, 'wrap-flat')],
  ]) {
    const r = await cli(args);
    assert.equal(r.code, 1, `${args[0]} exits 1: ${r.err}`);
    assert.match(
      r.err,
      /^pagestack: [^\n]*pagemap-24588\.img[^\n]*pagemap_entry 0: 512 pages at 0xfffffffffff00000 run past the end of the 64-bit address space\n$/,
      args[0],
    );
  }
});

test('nr_pages 2^64-1 is printed exactly', async () => {
  const dir = singleWithPagemap('nr64', [entry64(0x100000000000n, 2n ** 64n - 1n, 4)]);
  const r = await cli(['show', dir]);
  assert.equal(r.code, 1);
  assert.match(r.err, /nr_pages 18446744073709551615 is beyond any address space/);
});

test('an unknown page-server command is printed as its unsigned 32-bit cmd', () => {
  const parser = new PageServerParser({ message: () => undefined, data: () => undefined });
  const bad = encodeIov({ code: 0x712a, flags: 0xbf22, nrPages: 0n, vaddr: 0n, dstId: 0x101n });
  assert.throws(
    () => parser.feed(Buffer.concat([open2Request({ kind: 'pid', id: 1 }), bad])),
    (e: unknown) =>
      e instanceof PageServerProtocolError && /unknown command 28970 \(cmd 0xbf22712a\)/.test(e.message),
  );
});

test('archive members: a FIFO member is named as one; a 700 MB config.dump is refused by name and limit', async () => {
  const fifo = join(tmp, 'fifo-member.tar');
  const entries = dirEntries(SINGLE, 'checkpoint').filter((e) => !e.name.endsWith('pages-1.img'));
  entries.push({ name: 'checkpoint/pages-1.img', type: '6' });
  writeFileSync(fifo, makeTar(entries));
  const r = await cli(['read', fifo, '0x100000000000', '16']);
  assert.equal(r.code, 1);
  assert.match(r.err, /member "checkpoint\/pages-1\.img" is a FIFO, expected a regular file\n$/);

  // podman's layout with a config.dump of 700,000,000 bytes (a sparse file: holes, not data)
  const big = join(tmp, 'big-config.tar');
  const head = makeTar(dirEntries(SINGLE, 'checkpoint'));
  const at = head.length - 1024;
  writeFileSync(big, head.subarray(0, at));
  writeFileSync(big, tarHeader({ name: 'config.dump' }, 700_000_000), { flag: 'a' });
  truncateSync(big, at + 512 + Math.ceil(700_000_000 / 512) * 512 + 1024);
  const i = await cli(['inspect', big]);
  assert.equal(i.code, 1);
  assert.match(
    i.err,
    /^pagestack: [^\n]*big-config\.tar: member "config\.dump" is 700000000 bytes; [^\n]*up to 67108864 bytes \(64 MiB\)\n$/,
  );
});

test('a pages file cut short while squash reads it: one error naming it, no unhandled rejection, no temp output', async () => {
  const work = join(tmp, 'cut-while-reading');
  mkdirSync(work);
  const dir = copyStack(work, ['single'], FIX);
  const pages = join(dir, 'pages-1.img');
  const real = await DirLayerSource.open(dir);
  // the pages file is cut to 5 pages by the first read of it: the first 4-page chunk is read
  // whole, the second (already read ahead while the first is written) comes up short
  const source: LayerSource = {
    name: real.name,
    id: real.id,
    list: () => real.list(),
    readFile: (f) => real.readFile(f),
    parent: () => real.parent(),
    open: async (f) => {
      const file = await real.open(f);
      if (f !== 'pages-1.img' || !file) return file;
      let cut = false;
      return {
        size: file.size,
        close: () => file.close(),
        read: (buf, offset, length, position) => {
          if (!cut) {
            cut = true;
            truncateSync(pages, 5 * 4096);
          }
          return file.read(buf, offset, length, position);
        },
      };
    },
  };
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown): void => {
    unhandled.push(e);
  };
  process.on('unhandledRejection', onUnhandled);
  const stack = await openStack(source);
  try {
    await assert.rejects(
      squash(stack, { out: join(work, 'flat'), chunkBytes: 4 * 4096 }),
      (e: unknown) =>
        e instanceof StackError &&
        e.code === 'PAGESTACK_PAGES_FILE_SHORT' &&
        e.message.startsWith(`${pages}: offset 20480: the pages file ends here`),
    );
    await new Promise((r) => setTimeout(r, 100)); // let a stray rejection surface
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await stack.close();
  }
  assert.deepEqual(unhandled, [], 'no unhandled rejection');
  assert.deepEqual(readdirSync(work), ['single'], 'no output and no temporary left beside it');
});

describe('a regular expression that backtracks without end', () => {
  const EVIL = '(.*)*$';

  test('search stops with one line at its deadline; a sound one still finds what it found', async () => {
    const stack = await openTarget(SINGLE);
    try {
      const t0 = Date.now();
      await assert.rejects(
        searchStack(stack, compilePattern(EVIL, { regex: true }), {
          onMatch: () => undefined,
          regexDeadlineMs: 300,
        }),
        (e: unknown) =>
          e instanceof SearchPatternError &&
          /^regular expression "\(\.\*\)\*\$": no answer after 0\.3 s over \d+ KiB at 0x100000000000: it backtracks without end/.test(
            e.message,
          ),
      );
      assert.ok(Date.now() - t0 < 30_000, 'stopped at the deadline, not at the end of the search');
    } finally {
      await stack.close();
    }
    const series = await openTarget(join(FIX, 'series-stack', '3'));
    try {
      const regex: number[] = [];
      const literal: number[] = [];
      await searchStack(series, compilePattern('HOME=[a-z/]+', { regex: true }), {
        onMatch: (m) => regex.push(m.address),
      });
      await searchStack(series, compilePattern('HOME='), { onMatch: (m) => literal.push(m.address) });
      assert.ok(literal.length > 0);
      assert.deepEqual(regex, literal);
    } finally {
      await series.close();
    }
  });

  test('pagestack search --regex exits 1 with one line instead of running forever', async () => {
    const r = await cliProcess(['search', SINGLE, '--regex', EVIL], { killAfterMs: 90_000 });
    assert.equal(r.signal, null, 'ended by itself');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^pagestack: regular expression "\(\.\*\)\*\$": no answer after 5 s [^\n]*\n$/);
  });

  test('the explorer answers other requests while such a search runs, and the search fails with 400', async () => {
    const explorer = await Explorer.open(SINGLE);
    const server = await startUiServer({ explorer, webRoot: join(ROOT, 'dist', 'web'), port: 0 });
    try {
      const search = fetch(`${server.url}api/search?pid=24588&mode=regex&q=${encodeURIComponent(EVIL)}`);
      await new Promise((r) => setTimeout(r, 500));
      const t0 = Date.now();
      const other = await fetch(`${server.url}api/stack`, { signal: AbortSignal.timeout(4000) });
      assert.equal(other.status, 200);
      assert.ok(Date.now() - t0 < 4000);
      const res = await search;
      assert.equal(res.status, 400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'PAGESTACK_SEARCH_PATTERN');
      assert.match(body.error.message, /backtracks without end/);
    } finally {
      await server.close();
      await explorer.close();
    }
  });
});

test('delta of two dumps with no process in common is refused in one line; --force goes on', async () => {
  const out = join(tmp, 'unrelated');
  const r = await cli(['delta', SINGLE, join(FIX, 'series', '1'), '-o', out]);
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /^pagestack: [^\n]*series\/1: no process in common with [^\n]*single \(CHILD: 25238 series; PARENT: 24588 single\): not a later dump of the same processes \(--force to go on\)\n$/,
  );
  assert.throws(() => readdirSync(out), /ENOENT/, 'nothing written');
  const f = await cli(['delta', SINGLE, join(FIX, 'series', '1'), '-o', out, '--force']);
  assert.equal(f.code, 0, f.err);
  assert.match(f.out, /0 shared with the parent/);
});

test('verify of a pages file longer than its entries need says so, and does not call it deduplicated', async () => {
  const top = copyStack(join(tmp, 'long-pages'));
  const pages = join(tmp, 'long-pages', '2', 'pages-1.img');
  truncateSync(pages, readFileSync(pages).length + 8192); // a hole past the end
  const r = await cli(['verify', top]);
  assert.equal(r.code, 1);
  assert.match(
    r.out,
    /2\/pages-1\.img: \d+ bytes, but pagemap-25238\.img needs exactly \d+: 8192 bytes at offset \d+ belong to no pagemap entry/,
  );
  assert.doesNotMatch(r.out, /deduplicated|punched/);
});

test('dedup on a full disk names the file it could not write', async (t) => {
  const mnt = join(tmp, 'small-fs');
  mkdirSync(mnt);
  try {
    // 3.5 MiB: the stack (3.3 MB) fits, a copy of layer 1's 2.4 MB pages file does not
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3584k', 'tmpfs', mnt], { stdio: 'pipe' });
  } catch {
    t.skip('needs root to mount a small tmpfs');
    return;
  }
  try {
    const top = copyStack(mnt);
    const before = readFileSync(join(mnt, '1', 'pages-1.img'));
    const r = await cli(['dedup', top]);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(
      r.err,
      /^pagestack: [^\n]*small-fs\/1\/pages-1\.img: writing its deduplicated copy \.pages-1\.img\.pagestack-tmp-[^:\n]+: no space left on device[^\n]*; pages-1\.img is unchanged\n$/,
    );
    assert.ok(before.equals(readFileSync(join(mnt, '1', 'pages-1.img'))), 'the layer is intact');
  } finally {
    execFileSync('umount', [mnt]);
  }
});

test('a layer deduplicated under another child, opened as the top: reading a released page is an error', async () => {
  const top = copyStack(join(tmp, 'dedup-top'));
  const mid = join(tmp, 'dedup-top', '2');
  const d = await cli(['dedup', top]);
  assert.equal(d.code, 0, d.err);
  const released =
    /: offset 131072 \(the page of 0x300000020000\): released by dedup under [^\n]*dedup-top\/3; [^\n]*dedup-top\/2 holds it only for that child, not as memory of this stack\n$/;
  const r = await cli(['read', mid, '0x300000020010', '16']);
  assert.equal(r.code, 1);
  assert.match(r.err, /^pagestack: [^\n]*dedup-top\/2\/pages-1\.img/);
  assert.match(r.err, released);
  for (const args of [
    ['export', mid, '-o', join(tmp, 'dedup-top.core')],
    ['search', mid, 'HOME='],
    ['squash', mid, '-o', join(tmp, 'dedup-top-flat')],
  ]) {
    const e = await cli(args);
    assert.equal(e.code, 1, args[0]);
    // each reads in its own order: the first released page it meets
    assert.match(
      e.err,
      /dedup-top\/2\/pages-1\.img: offset \d+ \(the page of 0x[0-9a-f]+\): released by dedup under /,
      args[0],
    );
  }
  // --zero: the zeros it reads back as, with a warning
  const z = await cli(['read', mid, '0x300000020010', '16', '--zero']);
  assert.equal(z.code, 0, z.err);
  assert.match(z.out, /^300000020010: (0000 ){7}0000 /);
  assert.match(
    z.err,
    /^warning: [^\n]*dedup-top\/2 was deduplicated under [^\n]*dedup-top\/3: pages it released for that child read as zeros here\n$/,
  );
  // pages it did not release still read; through the child it was deduplicated under, all do
  assert.equal((await cli(['read', mid, '0x300000000000', '16'])).code, 0);
  assert.equal((await cli(['export', top, '-o', join(tmp, 'dedup-ok.core')])).code, 0);
  const v = await cli(['verify', mid]);
  assert.equal(v.code, 1);
  assert.match(
    v.out,
    /dedup-top\/2: was deduplicated under [^\n]*dedup-top\/3: the pages dedup released for that child read as zeros/,
  );
  assert.equal((await cli(['verify', top])).code, 0);
});

test('--salvage: a cut-short pages file loses only its own pages; show, read, search and export read the rest', async () => {
  const top = copyStack(join(tmp, 'salvage'));
  const cut = join(tmp, 'salvage', '1', 'pages-1.img');
  truncateSync(cut, 1_000_000); // 244 whole pages of 606 kept
  const summary =
    /salvage: 362 pages lost \([^\n]*salvage\/1\/pages-1\.img: cut short at offset 1000000 \(pagemap-25238\.img needs 2482176 bytes\)\): 0x3000000f4000-0x300000200000, [^\n]*\nsalvage: 362 pages \(1\.4 MiB\) lost in 1 pages file, unreadable where no newer layer holds them; everything else was read\n$/;
  // without --salvage every reader fails on the damaged layer
  for (const args of [
    ['show', top],
    ['read', top, '0x300080000000', '16'],
    ['search', top, 'x'],
    ['export', top, '-o', join(tmp, 'salvage-fail.core')],
  ]) {
    const r = await cli(args);
    assert.equal(r.code, 1, args[0]);
    assert.match(r.err, /salvage\/1\/pages-1\.img: 1000000 bytes, but pagemap-25238\.img needs 2482176/);
  }
  const show = await cli(['show', top, '--salvage']);
  assert.equal(show.code, 0, show.err);
  assert.match(show.err, summary);
  // a page the top layer holds reads as before; one only the cut layer held is marked, as zeros
  const good = await cli(['read', top, '0x300080000000', '16', '--salvage']);
  const want = await cli(['read', join(FIX, 'series-stack', '3'), '0x300080000000', '16']);
  assert.equal(good.code, 0, good.err);
  assert.equal(good.out, want.out);
  const lost = await cli(['read', top, '0x3000000f3ff8', '16', '--salvage']);
  assert.equal(lost.code, 0, lost.err);
  assert.match(
    lost.err,
    /^unreadable: 0x3000000f4000-0x3000000f5000 \(1 pages, shown as zeros\): [^\n]*salvage\/1\/pages-1\.img: cut short at offset 1000000/,
  );
  assert.match(lost.out, /^3000000f3ff8: f83f 0f00 0030 00c1 0000 0000 0000 0000 /);
  const exp = await cli(['export', top, '-o', join(tmp, 'salvage.core'), '--salvage']);
  assert.equal(exp.code, 0, exp.err);
  assert.match(exp.err, summary);
  assert.ok(readFileSync(join(tmp, 'salvage.core')).length > 0);
  const found = await cli(['search', top, '--hex', '00 00 00 00 00 30 00 c3', '--salvage']);
  assert.equal(found.code, 0, found.err);
  assert.match(found.err, summary);
});

/** The single fixture with its third VMA grown to `pages` pages, all dumped from a sparse pages file holding `marks`. */
async function sparseStack(
  name: string,
  pages: number,
  marks: readonly (readonly [number, string])[],
): Promise<string> {
  const dir = copyStack(join(tmp, name), ['single'], FIX);
  const mm = JSON.parse((await cli(['decode', join(dir, 'mm-24588.img')])).out) as {
    entries: { vmas: { start: number; end: number }[] }[];
  };
  const vma = mm.entries[0]!.vmas.find((v) => v.start === SPARSE_VMA)!;
  vma.end = SPARSE_VMA + pages * 4096;
  const mmJson = join(tmp, `${name}-mm.json`);
  writeFileSync(mmJson, JSON.stringify(mm));
  assert.equal((await cli(['encode', mmJson, '-o', join(dir, 'mm-24588.img')])).code, 0);
  writeFileSync(
    join(dir, 'pagemap-24588.img'),
    pagemapImage(1, [entry64(BigInt(SPARSE_VMA), BigInt(pages), 4)]),
  );
  const file = join(dir, 'pages-1.img');
  writeFileSync(file, '');
  truncateSync(file, pages * 4096);
  const fd = openSync(file, 'r+');
  try {
    for (const [page, text] of marks) writeSync(fd, Buffer.from(text), 0, text.length, page * 4096);
  } finally {
    closeSync(fd);
  }
  return dir;
}

const SPARSE_VMA = 0x100080000000;

test('export of a sparse pages file (1 GiB of holes, 3 pages of data) writes a sparse core, not 1 GiB', async () => {
  const VMA = SPARSE_VMA;
  const PAGES = 1 << 18; // 1 GiB
  const marks = [
    [0, 'first'],
    [100_000, 'middle'],
    [PAGES - 1, 'last'],
  ] as const;
  const dir = await sparseStack('sparse', PAGES, marks);
  const core = join(tmp, 'sparse.core');
  const r = await cli(['export', dir, '-o', core]);
  assert.equal(r.code, 0, r.err);
  const st = statSync(core);
  assert.ok(st.size > PAGES * 4096, 'the core holds the whole VMA');
  assert.ok(st.blocks * 512 < 16 << 20, `written sparse: ${st.blocks * 512} bytes allocated`);
  for (const [page, text] of marks) {
    const got = await cli([
      'read',
      dir,
      `0x${(VMA + page * 4096).toString(16)}`,
      String(text.length),
      '--raw',
    ]);
    assert.equal(got.out, text);
  }
  const raw = join(tmp, 'sparse.raw');
  const rr = await cli([
    'export',
    dir,
    '--format',
    'raw',
    '--start',
    `0x${VMA.toString(16)}`,
    '--end',
    `0x${(VMA + PAGES * 4096).toString(16)}`,
    '-o',
    raw,
  ]);
  assert.equal(rr.code, 0, rr.err);
  const rs = statSync(raw);
  assert.equal(rs.size, PAGES * 4096);
  assert.ok(rs.blocks * 512 < 16 << 20, `raw written sparse: ${rs.blocks * 512} bytes allocated`);
  const b = readFileSync(raw);
  assert.equal(b.subarray(100_000 * 4096, 100_000 * 4096 + 6).toString(), 'middle');
});

test('export whose page data cannot fit the output file system is refused before writing', async (t) => {
  const mnt = join(tmp, 'small-out');
  mkdirSync(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { stdio: 'pipe' });
  } catch {
    t.skip('needs root to mount a small tmpfs');
    return;
  }
  try {
    // 16 MiB of pages, 4 MiB of them data (every 4th page): at least 4 MiB to write, 2 MiB of room
    const marks: [number, string][] = [];
    for (let p = 0; p < 4096; p += 4) marks.push([p, 'x'.repeat(4096)]);
    const dir = await sparseStack('sparse-big', 4096, marks);
    const r = await cli(['export', dir, '-o', join(mnt, 'out.core')]);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /^pagestack: [^\n]*small-out\/out\.core: needs room for up to 4194304 bytes of page data \(16777216 with the holes of sparse pages files\), but its file system has \d+ bytes free\n$/,
    );
    assert.deepEqual(readdirSync(mnt), [], 'nothing written');
  } finally {
    execFileSync('umount', [mnt]);
  }
});
