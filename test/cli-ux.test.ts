/**
 * The CLI's experience around the commands (issue 21): binary output refused on a terminal, several
 * inspect targets, add-images picking the layer a dump made.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  utimesSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../src/cli/main.js';
import type { ProgressReporter } from '../src/engine/progress.js';
import { diffStacks } from '../src/ops/diff.js';
import { compilePattern, searchStack } from '../src/ops/search.js';
import { openTarget } from '../src/source/open.js';
import { cli } from './helpers/cli.js';
import { testDir } from './helpers/files.js';
import { ROOT } from './helpers/fixtures.js';

const FIX = join(import.meta.dirname, 'fixtures', 'criu-4.2');
const SINGLE = join(FIX, 'single');

/** Runs the CLI in-process with standard output said to be (or not to be) a terminal. */
async function cliOn(
  args: string[],
  terminal: boolean,
): Promise<{ code: number; bytes: number; err: string }> {
  let bytes = 0;
  let err = '';
  const code = await runCli(args, {
    stdout: (d) => {
      bytes += typeof d === 'string' ? Buffer.byteLength(d) : d.length;
    },
    stderr: (t) => {
      err += t;
    },
    stdin: async () => new Uint8Array(),
    stdoutIsTerminal: () => terminal,
  });
  return { code, bytes, err };
}

test('read --raw, read -o - and export -o - refuse to write binary to a terminal (as gzip)', async () => {
  for (const args of [
    ['read', SINGLE, '100000000000', '4K', '--raw'],
    ['read', SINGLE, '100000000000', '4K', '-o', '-'],
    ['export', SINGLE, '-o', '-'],
  ]) {
    const tty = await cliOn(args, true);
    assert.equal(tty.code, 2, `${args.join(' ')}: ${tty.err}`);
    assert.equal(tty.bytes, 0);
    assert.match(tty.err, /^pagestack: .*binary data not written to a terminal: redirect standard output/);
    assert.equal(tty.err.split('\n').length, 2, tty.err);
    const pipe = await cliOn(args, false);
    assert.equal(pipe.code, 0, pipe.err);
    assert.ok(pipe.bytes >= 4096, `${args.join(' ')}: ${pipe.bytes} bytes`);
  }
  // the hexdump is text: it goes to a terminal
  const hex = await cliOn(['read', SINGLE, '100000000000', '64'], true);
  assert.equal(hex.code, 0, hex.err);
});

test('a real terminal (script(1) gives the CLI a pty): read --raw refuses, nothing binary is written', (t) => {
  const script = spawnSync('script', ['--version']);
  if (script.status !== 0) {
    t.skip('no script(1) (util-linux)');
    return;
  }
  const cmd = `node --import tsx src/cli/main.ts read ${SINGLE} 100000000000 4K --raw; echo "rc=$?"`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
    cwd: ROOT,
    encoding: 'latin1',
    timeout: 60_000,
  });
  assert.match(r.stdout, /binary data not written to a terminal/);
  assert.match(r.stdout, /rc=2/);
  assert.ok(r.stdout.length < 400, `wrote ${r.stdout.length} bytes to the terminal`);
});

test('inspect A B ...: several targets, in turn; --json gives an array of reports', async () => {
  const a = join(ROOT, 'test', 'fixtures', 'archives', 'podman-series-step0.tar');
  const b = join(FIX, 'series-stack', '3');
  const r = await cli(['inspect', a, b]);
  assert.equal(r.code, 0, r.err);
  const heads = r.out.split('\n').filter((l) => l === a || l === b);
  assert.deepEqual(heads, [a, b]);
  assert.match(r.out, /engine {7}podman/);
  assert.match(r.out, /engine {7}bare CRIU image directory/);
  const j = await cli(['inspect', a, b, '--json']);
  assert.equal(j.code, 0, j.err);
  const reports = JSON.parse(j.out) as { target: string; layers: unknown[] }[];
  assert.deepEqual(
    reports.map((x) => [x.target, x.layers.length]),
    [
      [a, 1],
      [b, 3],
    ],
  );
  // one target: one report, as before
  const one = JSON.parse((await cli(['inspect', b, '--json'])).out) as { target: string };
  assert.equal(one.target, b);
  const both = await cli(['inspect', a, b, '--parent', b]);
  assert.equal(both.code, 2);
  assert.match(both.err, /--parent names the layer below one target/);
});

/**
 * A page-server stack as `pagestack page-server` leaves it (STACK/N with pagemaps, pages and the
 * parent link only) and the dumps' -D directories (everything else), split from series-stack.
 */
function pageServerStack(root: string): { stack: string; dumps: string[] } {
  const stack = join(root, 'stack');
  const dumps: string[] = [];
  for (const n of ['1', '2']) {
    const src = join(FIX, 'series-stack', n);
    const layer = join(stack, n);
    const dump = join(root, `d${n}`);
    mkdirSync(layer, { recursive: true });
    mkdirSync(dump, { recursive: true });
    for (const f of readdirSync(src)) {
      if (f === 'parent') symlinkSync(readlinkSync(join(src, f)), join(layer, f));
      else if (/^(pagemap-.*|pages-\d+)\.img$/.test(f)) cpSync(join(src, f), join(layer, f));
      else cpSync(join(src, f), join(dump, f));
    }
    dumps.push(dump);
  }
  return { stack, dumps };
}

test('add-images STACK DUMP_DIR picks the layer that dump made', async () => {
  const { stack, dumps } = pageServerStack(testDir('cli-ux-add-images'));
  const [d1, d2] = dumps as [string, string];
  // both layers wait for images: the one written nearest in time to the dump's inventory.img
  const t = Date.now() / 1000;
  utimesSync(join(stack, '1', 'pagemap-25238.img'), t - 100, t - 100);
  utimesSync(join(stack, '2', 'pagemap-25238.img'), t - 10, t - 10);
  utimesSync(join(d1, 'inventory.img'), t - 99, t - 99);
  let r = await cli(['add-images', stack, d1]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /stack\/1: of the layers without images \(1, 2\), the one written nearest in time to /);
  assert.match(r.out, /stack\/1: \d+ images added from .*d1, verified/);
  assert.ok(existsSync(join(stack, '1', 'inventory.img')));
  assert.ok(!existsSync(join(stack, '2', 'inventory.img')));
  // now layer 2 is the only one waiting
  r = await cli(['add-images', stack, d2]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /stack\/2: the only layer of .*stack without images\n/);
  assert.equal((await cli(['verify', join(stack, '2')])).code, 0);
  // none waits any more: one line, naming what to do
  r = await cli(['add-images', stack, d2]);
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /^pagestack: .*stack: no layer of this stack is waiting for the images of .*d2 .*name the layer, STACK\/N\n$/,
  );
  // the layer itself still works as before
  r = await cli(['add-images', join(stack, '2'), d2]);
  assert.equal(r.code, 0, r.err);
});

test('read -o (export copy loop) writes what read --raw writes, unaligned and across VMAs and holes', async () => {
  const dir = testDir('cli-ux-read-o');
  for (const [addr, len, zero] of [
    ['100000000ff3', '0x1235', false],
    ['1000000ff001', '0x40000', true], // runs past the VMA's end into unmapped memory: zeros
    ['100040000123', '3M', true], // a sparse VMA: dumped pages and never-dumped ones
  ] as const) {
    const extra = zero ? ['--zero'] : [];
    const raw = await cli(['read', SINGLE, addr, len, '--raw', ...extra]);
    assert.equal(raw.code, 0, raw.err);
    const out = join(dir, `${addr}.bin`);
    const o = await cli(['read', SINGLE, addr, len, '-o', out, ...extra]);
    assert.equal(o.code, 0, o.err);
    assert.ok(readFileSync(out).equals(raw.bytes), `${addr} ${len}`);
  }
});

test('search reports progress: start with the bytes it will search, updates up to them, finish', async () => {
  const calls: [string, number][] = [];
  const progress: ProgressReporter = {
    start: (total) => calls.push(['start', total]),
    update: (done) => calls.push(['update', done]),
    finish: () => calls.push(['finish', 0]),
  };
  const stack = await openTarget(join(FIX, 'series-stack', '3'));
  try {
    const s = await searchStack(stack, compilePattern('series', {}), {
      onMatch: () => {},
      progress,
      chunkSize: 64 << 10,
    });
    assert.equal(calls[0]![0], 'start');
    assert.equal(calls[0]![1], s.bytesSearched);
    assert.equal(calls.at(-1)![0], 'finish');
    const updates = calls.filter((c) => c[0] === 'update').map((c) => c[1]);
    assert.ok(updates.length > 10, `${updates.length} updates`);
    assert.ok(updates.every((u, i) => i === 0 || u >= updates[i - 1]!));
    assert.equal(updates.at(-1), s.bytesSearched);
  } finally {
    await stack.close();
  }
});

test('diff reports progress per process: the bytes it compares, in batches, then finish', async () => {
  const calls: [string, number][] = [];
  const progress: ProgressReporter = {
    start: (total) => calls.push(['start', total]),
    update: (done) => calls.push(['update', done]),
    finish: () => calls.push(['finish', 0]),
  };
  const a = await openTarget(join(FIX, 'series', '1'));
  const b = await openTarget(join(FIX, 'series', '2'));
  try {
    const r = await diffStacks(a, b, { progress, chunkSize: 64 << 10 });
    const total = r.stats.pagesCompared * 4096;
    assert.deepEqual(calls[0], ['start', total]);
    assert.deepEqual(calls.at(-2), ['update', total]);
    assert.deepEqual(calls.at(-1), ['finish', 0]);
    assert.ok(calls.length > 5, `${calls.length} calls`);
  } finally {
    await a.close();
    await b.close();
  }
});
