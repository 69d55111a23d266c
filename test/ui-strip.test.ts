/// <reference lib="dom" />
/**
 * The explorer's strip (src/server/http/strip.ts) against a page-by-page reference model on
 * generated layouts, and the API's answers to bad requests.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { rng } from '../bench/gen.js';
import { diffChanges, Explorer } from '../src/server/http/explorer.js';
import { startUiServer, type UiServer } from '../src/server/http/server.js';
import { buildStrip, classAt, classRuns, stripPosition, summarize } from '../src/server/http/strip.js';
import type { ClassInfo, DiffInfo, MapInfo, StackInfo } from '../src/server/http/types.js';
import { pixelClass } from '../web/strip.js';
import { cli } from './helpers/cli.js';
import { FIX } from './helpers/fixtures.js';

const PAGE = 4096;

test('strip: bucket mixes match a page-by-page model (generated layouts)', () => {
  for (let seed = 1; seed <= 60; seed++) {
    const rand = rng(seed);
    const classes = 2 + Math.floor(rand() * 4); // layers..., then fill, then gap
    const FILL = classes;
    const GAP = classes + 1;
    // ranges: sorted, disjoint, some touching
    const ranges: { start: number; end: number; ref: number }[] = [];
    let p = Math.floor(rand() * 50);
    const n = 1 + Math.floor(rand() * 6);
    for (let i = 0; i < n; i++) {
      const len = 1 + Math.floor(rand() * 40);
      ranges.push({ start: p * PAGE, end: (p + len) * PAGE, ref: i });
      p += len + (rand() < 0.3 ? 0 : 1 + Math.floor(rand() * 1000));
    }
    // runs inside the ranges
    const model = new Map<number, number>(); // page -> class
    const runs = classRuns(200);
    for (const r of ranges) {
      let q = r.start / PAGE;
      while (q < r.end / PAGE) {
        q += Math.floor(rand() * 4);
        const len = Math.min(r.end / PAGE - q, 1 + Math.floor(rand() * 6));
        if (len <= 0) break;
        const c = Math.floor(rand() * classes);
        runs.start[runs.count] = q;
        runs.end[runs.count] = q + len;
        runs.cls[runs.count] = c;
        runs.count++;
        for (let k = 0; k < len; k++) model.set(q + k, c);
        q += len;
      }
    }
    const s = buildStrip(ranges, runs, FILL, GAP, classes + 2);
    // the model's strip: pages of each range in order, gaps of s.gap pages between non-touching ones
    const cells: number[] = [];
    ranges.forEach((r, i) => {
      if (i > 0 && ranges[i - 1]!.end !== r.start) for (let k = 0; k < s.gap; k++) cells.push(GAP);
      assert.equal(stripPosition(s, r.start), cells.length);
      for (let q = r.start / PAGE; q < r.end / PAGE; q++) cells.push(model.get(q) ?? FILL);
    });
    assert.equal(s.total, cells.length, `seed ${seed}: strip length`);
    for (let i = 0; i < cells.length; i++)
      assert.equal(classAt(s, i + 0.5), cells[i], `seed ${seed}: cell ${i}`);
    // windows: whole, random, sub-page buckets
    const windows: [number, number, number][] = [
      [0, s.total, cells.length],
      [0, s.total, 1 + Math.floor(rand() * 30)],
    ];
    for (let k = 0; k < 5; k++) {
      const a = Math.floor(rand() * s.total);
      const b = a + 1 + Math.floor(rand() * (s.total - a));
      windows.push([a, b, 1 + Math.floor(rand() * 3 * (b - a))]);
    }
    for (const [from, to, buckets] of windows) {
      const got = summarize(s, from, to, buckets).flatMap((r) => Array.from({ length: r.n }, () => r.mix));
      assert.equal(got.length, buckets);
      const w = (to - from) / buckets;
      for (let b = 0; b < buckets; b++) {
        const b0 = from + b * w;
        const b1 = b === buckets - 1 ? to : from + (b + 1) * w;
        const acc = new Map<number, number>();
        for (let i = Math.floor(b0); i < Math.ceil(b1); i++) {
          const c = Math.min(b1, i + 1) - Math.max(b0, i);
          if (c > 0) acc.set(cells[i]!, (acc.get(cells[i]!) ?? 0) + c);
        }
        const total = [...acc.values()].reduce((x, y) => x + y, 0);
        const want = [...acc.entries()]
          .sort((x, y) => x[0] - y[0])
          .map(([c, v]) => [c, Math.round((v / total) * 255)])
          .filter(([, v]) => v! > 0)
          .flat();
        assert.deepEqual(got[b], want, `seed ${seed}: window ${from}-${to}/${buckets}, bucket ${b}`);
      }
    }
  }
});

let server: UiServer;
let explorer: Explorer;

before(async () => {
  explorer = await Explorer.open(join(FIX, 'series-stack', '3'));
  server = await startUiServer({ explorer, webRoot: join(FIX, 'no-web') });
});

after(async () => {
  await server.close();
  await explorer.close();
});

test('API: bad requests get a status and a JSON error naming the parameter', async () => {
  const cases: [string, number, string, RegExp][] = [
    ['api/read?pid=25238&addr=zz', 400, 'RequestError', /addr 'zz': expected a number in hex/],
    ['api/read?pid=25238', 400, 'RequestError', /missing parameter 'addr'/],
    ['api/read?pid=25238&addr=0x20000000000000', 400, 'RequestError', /beyond 2\^53/],
    ['api/read?pid=25238&addr=0x1000&len=1000000', 400, 'RequestError', /at most 65536 bytes/],
    ['api/runs?pid=25238&from=0&to=10&buckets=0', 400, 'RequestError', /buckets 0: expected 1 to/],
    ['api/runs?pid=25238&from=10&to=10&buckets=5', 400, 'RequestError', /empty window/],
    ['api/maps?pid=1', 404, 'StackError', /no process 1 in the stack; its processes are 25238/],
    [
      'api/diff?pid=25238&a=7&b=3',
      400,
      'RequestError',
      /no layer 7: the stack has layers 1 \(the bottom\) to 3/,
    ],
    [
      'api/diff?pid=25238&a=0&b=3',
      400,
      'RequestError',
      /no layer 0: the stack has layers 1 \(the bottom\) to 3/,
    ],
    ['api/diff?pid=25238&a=d0&b=3', 400, 'RequestError', /no directory 'd0'/],
    ['api/nothing', 404, 'NotFoundError', /no API endpoint \/api\/nothing/],
    ['', 500, 'Error', /the page is not built \(run npm run build\)/],
  ];
  for (const [path, status, cls, message] of cases) {
    const res = await fetch(`${server.url}${path}`);
    assert.equal(res.status, status, path);
    const body = (await res.json()) as { error: { class: string; code: string | null; message: string } };
    assert.equal(body.error.class, cls, path);
    const code = { 400: 'PAGESTACK_BAD_REQUEST', 404: null, 500: 'ENOENT' }[status as 400 | 404 | 500];
    if (code) assert.equal(body.error.code, code, path);
    else assert.match(body.error.code ?? '', /^PAGESTACK_(NOT_FOUND|NO_SUCH_PID)$/, path);
    assert.match(body.error.message, message, path);
  }
});

test('API: a read is cut at pages; unmapped memory says why', async () => {
  const res = await fetch(`${server.url}api/read?pid=25238&addr=0x300000001ff0&len=32`);
  const r = (await res.json()) as {
    pieces: { addr: number; len: number; state: string; layer: number | null }[];
  };
  assert.deepEqual(
    r.pieces.map((p) => [p.addr, p.len, p.state]),
    [
      [0x300000001ff0, 16, 'dumped'],
      [0x300000002000, 16, 'dumped'],
    ],
  );
  const gap = (await (await fetch(`${server.url}api/read?pid=25238&addr=0x10&len=16`)).json()) as {
    pieces: { state: string; refusal: string }[];
  };
  assert.equal(gap.pieces[0]!.state, 'unmapped');
  assert.match(gap.pieces[0]!.refusal, /0x10: unmapped \(no VMA of process 25238 covers it\)/);
});

test('API: layers numbered from the bottom (1 = the first dump), named "layer N (directory)"', async () => {
  const s = (await (await fetch(`${server.url}api/stack`)).json()) as StackInfo;
  assert.deepEqual(
    s.layers.map((l) => [l.number, l.label]),
    [
      [3, 'layer 3 (series-stack/3)'],
      [2, 'layer 2 (series-stack/2)'],
      [1, 'layer 1 (series-stack/1)'],
    ],
  );
  assert.equal(s.container, null, 'a directory has no container');
  const m = (await (await fetch(`${server.url}api/maps?pid=25238`)).json()) as MapInfo;
  assert.deepEqual(
    m.classes.filter((c) => c.kind === 'layer').map((c) => [c.layer, c.name]),
    [
      [3, 'layer 3 (series-stack/3)'],
      [2, 'layer 2 (series-stack/2)'],
      [1, 'layer 1 (series-stack/1)'],
    ],
  );
  // page 300 of the heap was written by the first dump only: layer 1
  const at = (await (
    await fetch(`${server.url}api/at?pid=25238&addr=${0x300000000000 + 300 * PAGE}`)
  ).json()) as {
    layer: number;
  };
  assert.equal(at.layer, 1);
});

test('API: the diff lists its changed, added and removed ranges, adding up to its counts', async () => {
  const d = (await (await fetch(`${server.url}api/diff?pid=25238&a=2&b=3`)).json()) as DiffInfo;
  assert.equal(d.a, 'layer 2 (series-stack/2)');
  assert.equal(d.b, 'layer 3 (series-stack/3)');
  assert.ok(d.changes.length > 0 && d.changes.length === d.changesTotal);
  for (const kind of ['changed', 'added', 'removed'] as const) {
    const pages = d.changes.filter((c) => c.kind === kind).reduce((a, c) => a + c.pages, 0);
    assert.equal(pages, d.counts[kind], kind);
  }
  for (let i = 1; i < d.changes.length; i++)
    assert.ok(d.changes[i - 1]!.end <= d.changes[i]!.start, 'sorted');
  for (const c of d.changes) assert.equal(c.end - c.start, c.pages * PAGE);
  // the same against the directory the explorer was opened on (layer 3, the top): nothing differs
  const same = (await (await fetch(`${server.url}api/diff?pid=25238&a=3&b=3`)).json()) as DiffInfo;
  assert.deepEqual([same.changes, same.changesTotal], [[], 0]);
});

test('diffChanges: one kind continuing is one range; at most `max`, the total says how many', () => {
  const r = diffChanges(
    [
      {
        kind: 'changed',
        ranges: [
          [10, 12],
          [12, 13],
          [20, 21],
        ],
      },
      { kind: 'added', ranges: [[13, 15]] },
      { kind: 'removed', ranges: [[30, 31]] },
    ],
    () => 'rw-p x',
    3,
  );
  assert.deepEqual(
    r.changes.map((c) => [c.start / PAGE, c.end / PAGE, c.kind, c.pages]),
    [
      [10, 13, 'changed', 3],
      [13, 15, 'added', 2],
      [20, 21, 'changed', 1],
    ],
  );
  assert.equal(r.total, 4);
});

test('API: an archive says its container as `pagestack inspect` does', async () => {
  const tar = join(FIX, '..', 'archives', 'podman-series-step0.tar');
  const ex = await Explorer.open(tar);
  try {
    const s = await ex.stackInfo();
    const want = await cli(['inspect', tar, '--json']);
    assert.equal(want.code, 0, want.err);
    const c = (JSON.parse(want.out) as { container: Record<string, unknown> }).container;
    assert.ok(s.container, 'container metadata for an archive');
    assert.deepEqual(
      [
        s.container.name,
        s.container.image,
        s.container.runtime,
        s.container.created,
        s.container.checkpointed,
      ],
      [c['name'], c['image'], c['runtime'], c['created'], c['checkpointed']],
    );
    assert.equal(s.container.archive, tar);
    assert.equal(s.container.engine, 'podman');
  } finally {
    await ex.close();
  }
});

test('a pixel of several classes: the one ranked first (else the largest share), gaps aside', () => {
  const cls = (id: number, kind: string, layer: number | null = null): ClassInfo => ({
    id,
    name: kind,
    kind,
    layer,
  });
  const map = [cls(0, 'layer', 2), cls(1, 'layer', 1), cls(2, 'gap')];
  const share = (): number => 0;
  assert.deepEqual(pixelClass([0, 100, 1, 155], map, share), { cls: 1, mixed: true });
  assert.deepEqual(pixelClass([0, 155, 1, 100], map, share), { cls: 0, mixed: true });
  // a range's edge is not "mixed" for the gap beside it, and a little of a range shows over it
  assert.deepEqual(pixelClass([0, 55, 2, 200], map, share), { cls: 0, mixed: false });
  assert.deepEqual(pixelClass([2, 255], map, share), { cls: 2, mixed: false });
  // the diff ranks a change over equal pages: one changed page in 255 shows
  const diff = [cls(0, 'equal'), cls(1, 'changed'), cls(2, 'gap')];
  const rank = (c: ClassInfo): number => (c.kind === 'changed' ? 3 : 0);
  assert.deepEqual(pixelClass([0, 254, 1, 1], diff, rank), { cls: 1, mixed: true });
});
