/**
 * search: real fixtures (podman archives, the three-layer series stack, the tree with shared
 * memory), matches placed across page / layer / chunk edges, and a reference model: a naive
 * search over each whole run of held pages, against the chunked search with tiny chunks.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { rng } from '../bench/gen.js';
import { compilePattern, type SearchMatch, searchStack } from '../src/ops/search.js';
import { openTarget } from '../src/source/open.js';
import { LAZY } from '../src/stack/resolve.js';
import type { Stack } from '../src/stack/stack.js';
import { cli } from './helpers/cli.js';
import { FIX, ROOT } from './helpers/fixtures.js';

const ARCHIVES = join(ROOT, 'test', 'fixtures', 'archives');
const SERIES3 = join(FIX, 'series-stack', '3');

async function all(
  stack: Stack,
  text: string,
  opts: Parameters<typeof compilePattern>[1] = {},
  chunkSize?: number,
): Promise<SearchMatch[]> {
  const out: SearchMatch[] = [];
  await searchStack(stack, compilePattern(text, opts), { onMatch: (m) => out.push(m), chunkSize });
  return out;
}

const hexOf = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

test('search the podman archives: environment on the stack, the marker text in the heap, hex with wildcards', async () => {
  const a = join(ARCHIVES, 'podman-series-step0.tar.zst');
  let r = await cli(['search', a, 'HOSTNAME=ba8851860f44', '--context', '4']);
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.out,
    /^pid 1 0x7fff6f56cfd3 len 21 {2}vma 7fff6f54c000-7fff6f56d000 rw-p \[stack\] {2}layer 1 .*step0\.tar\.zst:checkpoint$/m,
  );
  assert.match(r.out, /^7fff6f56cfcf: 6d61 6e00 484f 5354 4e41 4d45 3d62 6138 {2}man\.HOSTNAME=ba8$/m);
  assert.match(r.out, /^1 match in 1 memory object/m);
  r = await cli(['search', a, '--regex', 'series step [0-9]', '--json']);
  const lines = r.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 2);
  assert.equal((lines[0]!['vma'] as { name: string }).name, '[heap]');
  // `layer` keeps its meaning (0 = top); `number` counts from the bottom (1 = the first dump)
  assert.equal(lines[0]!['layer'], 0);
  assert.equal(lines[0]!['number'], 1);
  assert.equal(
    Buffer.from(lines[0]!['context'] as string, 'hex')
      .toString('latin1')
      .includes('series step 0'),
    true,
  );
  // the Q VMA of step 1: words 0x300040000000 + 8k ^ 0xC2.. ; one byte wildcarded: one word per 64 KiB
  r = await cli(['search', join(ARCHIVES, 'podman-series-step1.tar'), '--hex', '00 00 ?? 40 00 30 00 c2']);
  assert.match(r.out, /^4 matches/m);
  r = await cli(['search', join(ARCHIVES, 'podman-series-step1.tar'), 'no such text anywhere']);
  assert.equal(r.code, 1);
  assert.match(r.out, /^0 matches/m);
  r = await cli(['search', a, '--hex', '4g']);
  assert.equal(r.code, 2);
  assert.match(r.err, /"4g" is not hex bytes/);
  r = await cli(['search', a, '--regex', '(']);
  assert.equal(r.code, 2);
});

test('a match split between pages of different layers is one match, its layer is its first byte', async () => {
  const stack = await openTarget(SERIES3);
  try {
    const pid = (await stack.processes())[0]!.pid;
    const pm = await stack.process(pid);
    const x = pm.private.extents;
    let tried = 0;
    for (let i = 0; i + 1 < x.count && tried < 6; i++) {
      if (
        x.end[i] !== x.start[i + 1] ||
        x.layer[i] === x.layer[i + 1] ||
        x.layer[i] === LAZY ||
        x.layer[i + 1] === LAZY
      )
        continue;
      tried++;
      const edge = x.end[i]! * 4096;
      const at = edge - 5;
      const bytes = await pm.read(at, 12);
      const found = await all(stack, hexOf(bytes), { hex: true }, 4096);
      const hit = found.find((m) => m.address === at);
      assert.ok(hit, `match across the layer edge at 0x${edge.toString(16)}`);
      assert.equal(hit.layer, x.layer[i]);
      assert.equal(hit.layerName, stack.layers[x.layer[i]!]!.source.name);
      assert.ok(Buffer.from(hit.context).includes(Buffer.from(bytes)));
    }
    assert.ok(tried > 0, 'the series stack has neighbouring pages from different layers');
  } finally {
    await stack.close();
  }
});

test('model: chunked search (tiny chunks) = naive search over whole runs, random patterns from memory', async () => {
  const rand = rng(7);
  for (const dir of [SERIES3, join(FIX, 'tree')]) {
    const stack = await openTarget(dir);
    try {
      const procs = await stack.processes();
      for (let k = 0; k < 8; k++) {
        const p = procs[Math.floor(rand() * procs.length)]!;
        if (!stack.top.files.includes(`pagemap-${p.pid}.img`)) continue;
        const pm = await stack.process(p.pid);
        const x = pm.private.extents;
        const i = Math.floor(rand() * x.count);
        if (x.layer[i] === LAZY) continue;
        const len = 3 + Math.floor(rand() * 40);
        const start = x.start[i]! * 4096 + Math.floor(rand() * ((x.end[i]! - x.start[i]!) * 4096 - len));
        const needle = Buffer.from(await pm.read(start, len));
        // naive: every private run of every process, plus each shared object once
        const want = new Set<string>();
        for (const q of procs) {
          if (!stack.top.files.includes(`pagemap-${q.pid}.img`)) continue;
          const qm = await stack.process(q.pid);
          const mems = [{ mem: qm.private, map: (a: number) => [a] }];
          for (const [v, shm] of qm.shared) {
            mems.push({
              mem: shm,
              map: (a: number) =>
                a >= v.pgoff && a - v.pgoff < v.end - v.start ? [v.start + a - v.pgoff] : [],
            });
          }
          for (const { mem, map } of mems) {
            const e = mem.extents;
            let j = 0;
            while (j < e.count) {
              if (e.layer[j] === LAZY) {
                j++;
                continue;
              }
              const s = e.start[j]!;
              let end = e.end[j]!;
              j++;
              while (j < e.count && e.layer[j] !== LAZY && e.start[j] === end) end = e.end[j++]!;
              const run = Buffer.from(await mem.read(s * 4096, (end - s) * 4096));
              for (let at = run.indexOf(needle); at >= 0; at = run.indexOf(needle, at + 1)) {
                for (const addr of map(s * 4096 + at)) want.add(`${q.pid}:${addr}`);
              }
            }
          }
        }
        for (const chunk of [4096, 1 << 20]) {
          const got = await all(stack, hexOf(needle), { hex: true }, chunk);
          assert.deepEqual(
            new Set(got.map((m) => `${m.pid}:${m.address}`)),
            want,
            `${dir} pattern at 0x${start.toString(16)}, chunk ${chunk}`,
          );
        }
      }
    } finally {
      await stack.close();
    }
  }
});

test('UTF-16LE text, and --pid', async () => {
  const r = await cli(['search', join(ARCHIVES, 'podman-series-step2.tar'), '--utf16', 'series']);
  assert.match(r.out, /^\d+ match/m);
  const stack = await openTarget(join(FIX, 'tree'));
  try {
    const pids = (await stack.processes()).map((p) => p.pid);
    const every = await all(stack, 'tree');
    assert.deepEqual([...new Set(every.map((m) => m.pid))].sort(), [...pids].sort());
    const one = await cli(['search', join(FIX, 'tree'), 'tree', '--pid', String(pids[1]), '--json']);
    const rows = one.out
      .trim()
      .split('\n')
      .slice(0, -1)
      .map((l) => JSON.parse(l) as { pid: number });
    assert.ok(rows.length > 0 && rows.every((m) => m.pid === pids[1]));
  } finally {
    await stack.close();
  }
});
