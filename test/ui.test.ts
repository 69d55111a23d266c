/// <reference lib="dom" />
/**
 * The explorer (`pagestack ui`) in a real browser: Debian's Chromium driven by playwright-core,
 * headless, on the page built by Vite (into a temporary directory) and the API server in this
 * process, over the real CRIU 4.2 series stack.
 *
 * Checks: the map's pixels at known addresses have the colours of the layers holding them
 * (test/fixtures/criu-4.2/series/changes.json says which step rewrote which pages); a click shows
 * the bytes `pagestack read` prints; pages `read` refuses are shown as refused; the diff view counts
 * what `pagestack diff` counts; a bad address in the URL gets a clear message; the server refuses
 * other origins and hosts and listens on loopback only. Screenshots of every view go to
 * test-output/ui/ (and with PAGESTACK_UPDATE_SCREENSHOTS=1 the README's, docs/ui-*.png). The map of
 * a 4 GiB, 8-layer generated process is timed from opening the page to its first drawn frame and the
 * figure printed (a figure, not a pass/fail: timings are the benchmarks' business).
 *
 * Without /usr/bin/chromium (or PAGESTACK_CHROMIUM) the tests skip with one line.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { request } from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { generateStack } from '../bench/gen.js';
import { Explorer } from '../src/server/http/explorer.js';
import { startUiServer, type UiServer } from '../src/server/http/server.js';
import type { MapInfo } from '../src/server/http/types.js';
import { cli } from './helpers/cli.js';
import { FIX, ROOT, seriesChanges } from './helpers/fixtures.js';

const CHROMIUM = process.env['PAGESTACK_CHROMIUM'] ?? '/usr/bin/chromium';
const SKIP = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`;
const OUT = join(ROOT, 'test-output', 'ui');
const DOCS = join(ROOT, 'docs');
const STACK = join(FIX, 'series-stack');
const TOP = join(STACK, '3');
const PID = 25238;
const PAGE = 4096;
/** The colour of search marks on the map (web/colours.ts MARK_COLOUR). */
const MARK: [number, number, number] = [0xff, 0x00, 0xd4];

/** A path as a user would type it from the repository (the screenshots show it), when under cwd. */
function userPath(p: string): string {
  const r = relative(process.cwd(), p);
  return r.startsWith('..') ? p : r;
}

let work = '';
let webRoot = '';
let server: UiServer | undefined;
let explorer: Explorer | undefined;
let context: BrowserContext | undefined;
let page: Page;

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

function rgbOf(colour: string): [number, number, number] {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(colour);
  assert.ok(m, `legend colour ${colour} is #rrggbb`);
  return [Number.parseInt(m[1]!, 16), Number.parseInt(m[2]!, 16), Number.parseInt(m[3]!, 16)];
}

/** Layer number (1 = the bottom) of the series-stack directory `name` ("1", "2", "3"). */
function layerOf(name: string): number {
  return Number(name);
}

/** Which series-stack directory holds the final bytes of the page at `addr` (per changes.json). */
function ownerDir(addr: number): string {
  const steps = seriesChanges().steps;
  let owner = '1';
  steps.forEach((s, i) => {
    for (const [start, pages] of s.changed)
      if (start <= addr && addr < start + pages * PAGE) owner = String(i + 2);
    for (const [start, pages] of s.new)
      if (start <= addr && addr < start + pages * PAGE) owner = String(i + 2);
  });
  return owner;
}

/** A screenshot of the page into OUT; for the README's (`docsHeight`), the top of it into docs/. */
async function shot(name: string, docsHeight?: number): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: join(OUT, `${name}.png`) });
  if (docsHeight !== undefined && process.env['PAGESTACK_UPDATE_SCREENSHOTS'] === '1') {
    mkdirSync(DOCS, { recursive: true });
    await page.screenshot({
      path: join(DOCS, `ui-${name}.png`),
      clip: { x: 0, y: 0, width: 1280, height: docsHeight },
    });
  }
}

async function mapInfo(base: string, pid: number): Promise<MapInfo> {
  const res = await fetch(`${base}api/maps?pid=${pid}`);
  return (await res.json()) as MapInfo;
}

/** Opens `query` and waits for canvas `#id` to draw the window the URL asks for. */
async function openMap(query: string, id = 'map'): Promise<void> {
  await page.goto(`${server!.url}${query}`);
  await page.waitForFunction(
    (cid) => {
      const c = document.getElementById(cid) as HTMLCanvasElement | null;
      return (
        c?.dataset['drawn'] !== undefined && c.dataset['drawn'] === `${c.dataset['from']}:${c.dataset['to']}`
      );
    },
    id,
    { timeout: 20_000 },
  );
}

/** The canvas pixel (RGB) at strip position `pos`, and its x in CSS pixels. */
async function pixelAt(
  pos: number,
  id = 'map',
  /** Device pixels from the top (default: the middle row). */
  row?: number,
): Promise<{ rgb: [number, number, number]; x: number; y: number }> {
  return page.evaluate(
    ({ pos, id, row }) => {
      const c = document.getElementById(id) as HTMLCanvasElement;
      const from = Number(c.dataset['from']);
      const to = Number(c.dataset['to']);
      const f = (pos - from) / (to - from);
      const px = Math.floor(f * c.width);
      const py = row ?? Math.floor(c.height / 2);
      const d = c.getContext('2d')!.getImageData(px, py, 1, 1).data;
      return {
        rgb: [d[0]!, d[1]!, d[2]!] as [number, number, number],
        x: f * c.clientWidth,
        y: c.clientHeight / 2,
      };
    },
    { pos, id, row },
  );
}

async function legendColour(layer: number): Promise<[number, number, number]> {
  const c = await page.getAttribute(`#map-legend [data-layer="${layer}"]`, 'data-colour');
  assert.ok(c, `legend entry for layer ${layer}`);
  return rgbOf(c);
}

describe('pagestack ui in Chromium', { skip: SKIP }, () => {
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'pagestack-ui-'));
    webRoot = join(work, 'web');
    // the page as `npm run build` makes it, into a directory of the test's own
    execFileSync(
      process.execPath,
      [
        join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'),
        'build',
        '--config',
        join(ROOT, 'web', 'vite.config.ts'),
        '--outDir',
        webRoot,
        '--emptyOutDir',
      ],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    // paths as a user gives them from the repository: the page (and the README's screenshots)
    // show them, not this machine's directories
    explorer = await Explorer.open(userPath(TOP), [userPath(join(FIX, 'series', '1'))]);
    server = await startUiServer({ explorer, webRoot });
    own.add(server.url);
    const { chromium } = await import('playwright-core');
    context = await chromium.launchPersistentContext(join(work, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 800 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = context.pages()[0] ?? (await context.newPage());
    // the page asks nothing of anyone but its own server
    page.on('request', (r) => {
      if (![...own].some((u) => r.url().startsWith(u)) && !r.url().startsWith('data:')) foreign.push(r.url());
    });
  });

  const foreign: string[] = [];
  /** URLs of the servers the tests start. */
  const own = new Set<string>();

  after(async () => {
    await context?.close();
    await server?.close();
    await explorer?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('the map: pages in the colours of the layers holding them (changes.json)', async () => {
    const m = await mapInfo(server!.url, PID);
    const heap = m.ranges.find((r) => r.start === 0x300000000000)!;
    assert.ok(heap, 'the 2 MiB rw-p mapping at 0x300000000000');
    const steps = seriesChanges().steps;
    // step 1 -> 2 rewrote 64 pages at 0x300000000000, step 2 -> 3 64 pages at 0x300000020000,
    // and the pages after those were last written in the first dump
    const probes = [
      steps[0]!.changed[0]![0] + 10 * PAGE,
      steps[1]!.changed[0]![0] + 10 * PAGE,
      steps[1]!.changed[0]![0] + 63 * PAGE,
      0x300000000000 + 300 * PAGE,
    ];
    const dirs = probes.map(ownerDir);
    assert.deepEqual(dirs, ['2', '3', '3', '1'], 'changes.json as the probes expect');
    // the whole address space, then zoomed to single pages of that mapping
    for (const query of [`?pid=${PID}`, `?pid=${PID}&from=${heap.at}&to=${heap.at + 128}`]) {
      await openMap(query);
      const legend = [await legendColour(1), await legendColour(2), await legendColour(3)];
      assert.equal(new Set(legend.map(String)).size, 3, 'three layers, three colours');
      for (let i = 0; i < probes.length; i++) {
        const pos = heap.at + (probes[i]! - heap.start) / PAGE + 0.5;
        const w = await page.evaluate(() => {
          const c = document.getElementById('map') as HTMLCanvasElement;
          return { from: Number(c.dataset['from']), to: Number(c.dataset['to']) };
        });
        if (pos < w.from || pos >= w.to) continue;
        // the last page of a run shares its pixel with the next run's first page until zoomed in
        const pagesPerPixel = (w.to - w.from) / (await page.locator('#map').evaluate((c) => c.clientWidth));
        if (i === 2 && pagesPerPixel > 0.5) continue;
        const { rgb } = await pixelAt(pos);
        assert.deepEqual(
          rgb,
          legend[layerOf(dirs[i]!) - 1],
          `${hex(probes[i]!)} (${query}) in the colour of layer ${layerOf(dirs[i]!)} (series-stack/${dirs[i]})`,
        );
      }
      await shot(query.includes('from') ? 'map-zoomed' : 'map', query.includes('from') ? undefined : 400);
    }
    // a not-dumped page (the r--p mapping of the binary) in the not-dumped colour
    const ro = m.ranges.find((r) => r.start === 0x5588b46c7000)!;
    await openMap(`?pid=${PID}&from=${ro.at - 1}&to=${ro.at + 3}`);
    const nd = await page.getAttribute('#map-legend [data-kind="not-dumped"]', 'data-colour');
    assert.deepEqual((await pixelAt(ro.at + 0.5)).rgb, rgbOf(nd!));
  });

  test('the look: axis labels apart and inside, start-end on one line, mixed pixels marked and explained', async () => {
    await openMap(`?pid=${PID}`);
    const axis = await page.evaluate(() => {
      const box = document.getElementById('map-axis')!.getBoundingClientRect();
      const spans = Array.from(document.querySelectorAll('#map-axis span')).map((e) =>
        e.getBoundingClientRect(),
      );
      return { left: box.left, right: box.right, spans: spans.map((r) => [r.left, r.right]) };
    });
    assert.ok(axis.spans.length >= 3, `${axis.spans.length} labels`);
    for (const [i, [l, r]] of axis.spans.entries()) {
      assert.ok(l! >= axis.left - 0.5 && r! <= axis.right + 0.5, `label ${i} [${l}, ${r}] inside the axis`);
      const next = axis.spans[i + 1];
      if (next) assert.ok(r! <= next[0]!, `label ${i} ends (${r}) before the next starts (${next[0]})`);
    }
    const wrapped = await page.evaluate(
      () =>
        Array.from(document.querySelectorAll('#vmas td.addr')).filter((td) => {
          const r = document.createRange();
          r.selectNodeContents(td);
          return r.getClientRects().length !== 1;
        }).length,
    );
    assert.equal(wrapped, 0, 'no start-end wraps');
    assert.ok(
      await page.locator('#map-legend [data-kind="mixed"]').count(),
      'the legend explains mixed pixels',
    );
    // the whole sample on 1,000 pixels: some pixels hold pages of two layers; such a pixel has the
    // band along its bottom, the colour of a layer above it, and the hover gives the shares
    const mixed = await page.evaluate(() => {
      const c = document.getElementById('map') as HTMLCanvasElement;
      const ctx = c.getContext('2d')!;
      const x = Number(c.dataset['firstMixed']);
      const px = Math.floor(x * (c.width / c.clientWidth));
      const bottom = ctx.getImageData(px, c.height - 1, 1, 1).data;
      const mid = ctx.getImageData(px, Math.floor(c.height / 2), 1, 1).data;
      return {
        x: x + 0.25,
        n: Number(c.dataset['mixed']),
        bottom: [bottom[0], bottom[1], bottom[2]],
        mid: [mid[0], mid[1], mid[2]],
      };
    });
    assert.deepEqual(mixed.bottom, [0x24, 0x29, 0x2f], 'the band along the bottom of a mixed pixel');
    assert.notDeepEqual(mixed.mid, [0x24, 0x29, 0x2f], 'over it, the colour of a layer');
    assert.ok(mixed.n > 0 && mixed.x >= 0, `a mixed pixel drawn (${mixed.n} counted)`);
    const box = (await page.locator('#map').boundingBox())!;
    await page.mouse.move(box.x + mixed.x, box.y + box.height / 2);
    await page
      .waitForFunction(() => /this pixel: /.test(document.getElementById('map-hover')!.textContent!), null, {
        timeout: 5000,
      })
      .catch(async (e: unknown) => {
        throw new Error(
          `${e}: hover at x ${mixed.x}: ${await page.textContent('#map-hover')} mix ${await page.getAttribute('#map-hover', 'data-mix')} offsetX ${await page.getAttribute('#map', 'data-hover-x')} box ${JSON.stringify(box)}`,
        );
      });
    assert.match((await page.textContent('#map-hover'))!, /this pixel: [\d,]+ pages: \d+% [^,]+, \d+% /);
  });

  test('hover says VMA, page and layer; a click shows the bytes `pagestack read` gives', async () => {
    const m = await mapInfo(server!.url, PID);
    const heap = m.ranges.find((r) => r.start === 0x300000000000)!;
    const addr = 0x300000020000 + 5 * PAGE;
    await openMap(`?pid=${PID}&from=${heap.at}&to=${heap.at + 256}`);
    const { x, y } = await pixelAt(heap.at + (addr - heap.start) / PAGE + 0.5);
    const box = (await page.locator('#map').boundingBox())!;
    await page.mouse.move(box.x + x, box.y + y);
    await page.waitForFunction(() =>
      document.getElementById('map-hover')!.textContent!.startsWith('page 0x'),
    );
    const hover = (await page.textContent('#map-hover'))!;
    assert.match(hover, new RegExp(`^page ${hex(addr)}: layer 3 \\(.*series-stack/3\\)`));
    assert.match(hover, /VMA 0x300000000000-0x300000200000 rw-p/);
    await shot('map-hover');
    await page.mouse.click(box.x + x, box.y + y);
    await page.waitForSelector('#view-hex:not([hidden]) .row');
    const rows = await page.locator('#hex .row').allTextContents();
    const want = await cli(['read', TOP, hex(addr), '256']);
    assert.equal(want.code, 0, want.err);
    const at = rows.findIndex((r) => r.startsWith(addr.toString(16)));
    assert.ok(at >= 0, 'the clicked address is among the rows');
    assert.deepEqual(rows.slice(at, at + 16), want.out.trimEnd().split('\n'));
    assert.equal((await page.textContent('#hex .row.target'))!, rows[at]);
    assert.equal(await page.getAttribute(`#hex .page[data-addr="${hex(addr)}"]`, 'data-layer'), '3');
    assert.match(page.url(), /view=hex/);
    await shot('hex', 440);
    // PageDown: the next page, from layer 2 or 1
    await page.focus('#hex');
    await page.keyboard.press('PageDown');
    await page.waitForFunction(
      (a) => document.querySelector('#hex .row.target')?.textContent?.startsWith(a),
      (addr + PAGE).toString(16),
    );
  });

  test('pages `read` refuses are shown as refused, in its words', async () => {
    const addr = 0x5588b46c7000; // r--p mapping of the binary: not dumped
    await page.goto(`${server!.url}?pid=${PID}&view=hex&addr=${hex(addr)}`);
    await page.waitForSelector('#hex .refused');
    const text = (await page.textContent('#hex .refused'))!;
    const want = await cli(['read', TOP, hex(addr), '16']);
    assert.equal(want.code, 1);
    // the CLI's line is "pagestack: DIR: 0x...: not dumped (...)"
    const reason = want.err.trim().replace(/^pagestack: [^:]+: /, '');
    assert.ok(text.includes(reason), `${text} says ${reason}`);
    assert.equal(await page.getAttribute('#hex .refused', 'data-state'), 'not-dumped');
    const rows = await page.locator('#hex .row').allTextContents();
    assert.ok(!rows.some((r) => r.startsWith('5588b46c7')), 'no zeros shown for the refused page');
    // the view stops at the end of the (one-page) VMA and says so
    assert.match((await page.textContent('#hex .edge[data-edge="end"]'))!, /end of .*0x5588b46c8000/);
    await shot('hex-refused');
  });

  test('the hex view scrolls through the VMA, fetching pages as it goes; refusals among them', async () => {
    const start = 0x300000000000; // 512 pages, rw-p
    await page.goto(`${server!.url}?pid=${PID}&view=hex&addr=${hex(start)}`);
    await page.waitForSelector('#hex .row.target');
    const scrollTo = (where: 'end' | 'start'): Promise<unknown> =>
      page.waitForFunction(
        (w) => {
          const b = document.getElementById('hex')!;
          b.scrollTop = w === 'end' ? b.scrollHeight : 0;
          return b.querySelector(`.edge[data-edge="${w}"]`) !== null;
        },
        where,
        { polling: 50, timeout: 60_000 },
      );
    await scrollTo('end');
    const pages = await page
      .locator('#hex .hpage')
      .evaluateAll((ps) => ps.map((p) => (p as HTMLElement).dataset['addr']));
    assert.ok(pages.length <= 48, `at most 48 pages kept (${pages.length})`);
    const last = start + 511 * PAGE;
    assert.equal(pages[pages.length - 1], hex(last), 'the last page of the VMA is reached by scrolling');
    const rows = await page.locator(`#hex .hpage[data-addr="${hex(last)}"] .row`).allTextContents();
    const want = await cli(['read', TOP, hex(last), '4096']);
    assert.equal(want.code, 0, want.err);
    assert.deepEqual(rows, want.out.trimEnd().split('\n'), 'its rows are what `pagestack read` prints');
    // and back up: earlier pages come back on demand
    const lo = await page.getAttribute('#hex', 'data-lo');
    await page.evaluate(() => {
      document.getElementById('hex')!.scrollTop = 0;
    });
    await page.waitForFunction((l) => document.getElementById('hex')!.dataset['lo'] !== l, lo);
    // the heap: 33 pages, 3 dumped: rows and refusals in one scroll
    const heap = 0x5588c7b69000;
    await page.goto(`${server!.url}?pid=${PID}&view=hex&addr=${hex(heap)}`);
    await page.waitForSelector('#hex .page');
    await scrollTo('end');
    const states = await page
      .locator('#hex .page')
      .evaluateAll((hs) => hs.map((h) => (h as HTMLElement).dataset['state']));
    assert.equal(states.length, 33, 'every page of the heap, one after the other');
    assert.equal(states.filter((x) => x === 'dumped').length, 3);
    assert.equal(await page.locator('#hex .refused[data-state="not-dumped"]').count(), 30);
    await shot('hex-scroll');
  });

  test('search: a word of the series pattern, where `pagestack search` finds it, listed and marked', async () => {
    // series/1 wrote u64_le(A ^ 0xC100000000000000) at every word A of 0x300000000000 (README of
    // the fixtures); page 300 was never rewritten, so the top of the stack still has it, from
    // layer 1 (series-stack/1), the bottom; `search --json` gives the library's index (2: from the top)
    const A = 0x300000000000 + 300 * PAGE + 0x18;
    const word = Buffer.alloc(8);
    word.writeBigUInt64LE(BigInt(A) ^ 0xc100000000000000n);
    const pattern = word.toString('hex');
    const want = await cli(['search', TOP, pattern, '--hex', '--json', '--pid', String(PID)]);
    assert.equal(want.code, 0, want.err);
    const lines = want.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { address?: string; layer?: number });
    const cliMatches = lines.filter((l) => l.address !== undefined);
    assert.deepEqual(
      cliMatches.map((m) => [m.address, m.layer]),
      [[hex(A), 2]],
    );
    const m = await mapInfo(server!.url, PID);
    const heap = m.ranges.find((r) => r.start === 0x300000000000)!;
    await openMap(`?pid=${PID}`);
    await page.selectOption('#search-mode', 'hex');
    await page.fill('#search-q', pattern);
    await page.press('#search-q', 'Enter');
    await page.waitForSelector('#search-results button');
    const listed = await page
      .locator('#search-results button')
      .evaluateAll((bs) =>
        bs.map((b) => [(b as HTMLElement).dataset['addr'], (b as HTMLElement).dataset['layer']]),
      );
    assert.deepEqual(
      listed,
      [[hex(A), '1']],
      'the page lists what `pagestack search` reports, numbered from the bottom',
    );
    assert.match((await page.textContent('#search-results button'))!, /layer 1 \(series-stack\/1\)/);
    const text = (await page.textContent('#search-results button'))!;
    assert.match(text, /rw-p 0x300000000000-0x300000200000/);
    assert.ok(text.includes(pattern), 'the matched bytes in its context');
    assert.match(page.url(), new RegExp(`q=${pattern}&mode=hex`));
    // its mark on the map, at the match's place on the strip
    await page.waitForFunction(() => {
      const c = document.getElementById('map') as HTMLCanvasElement;
      return c.dataset['marks'] === '1' && c.dataset['drawn'] === `${c.dataset['from']}:${c.dataset['to']}`;
    });
    const pos = heap.at + (A - heap.start) / PAGE;
    assert.deepEqual((await pixelAt(pos, 'map', 3)).rgb, MARK, 'the mark over the match');
    assert.notDeepEqual((await pixelAt(pos + 200, 'map', 3)).rgb, MARK, 'and not elsewhere');
    await shot('search', 470);
    // zoomed in, the mark stays on the match's page
    await openMap(`?pid=${PID}&from=${heap.at + 290}&to=${heap.at + 310}&q=${pattern}&mode=hex`);
    await page.waitForFunction(() => {
      const c = document.getElementById('map') as HTMLCanvasElement;
      return c.dataset['marks'] === '1' && c.dataset['drawn'] === `${c.dataset['from']}:${c.dataset['to']}`;
    });
    assert.deepEqual((await pixelAt(pos, 'map', 3)).rgb, MARK);
    // the keyboard: from the box, ArrowDown to the match, Enter opens the hex view there
    await page.focus('#search-q');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#view-hex:not([hidden]) .row.target');
    const row = (await page.textContent('#hex .row.target'))!;
    const read = await cli(['read', TOP, hex(A - 8), '16']);
    assert.equal(row, read.out.trimEnd(), 'the row of the match, as `pagestack read` prints it');
    // bounded: at most `max` matches, and saying so; a bad pattern in its own words
    const many = (await (
      await fetch(`${server!.url}api/search?pid=${PID}&q=${pattern.slice(0, 4)}&mode=hex&max=2`)
    ).json()) as { matches: unknown[]; truncated: boolean };
    assert.equal(many.matches.length, 2);
    assert.equal(many.truncated, true);
    const big = await fetch(`${server!.url}api/search?pid=${PID}&q=x&max=100000`);
    assert.equal(big.status, 400);
    const bad = await fetch(`${server!.url}api/search?pid=${PID}&q=${encodeURIComponent('(')}&mode=regex`);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { class: string } }).error.class, 'SearchPatternError');
  });

  test('lazy pages: hatched in the lazy colour on the map, refused as lazy in the hex view', async () => {
    const lazyDir = join(FIX, 'lazy');
    const ex = await Explorer.open(lazyDir);
    const srv = await startUiServer({ explorer: ex, webRoot });
    own.add(srv.url);
    try {
      const m = await mapInfo(srv.url, 25494);
      const r = m.ranges.find((x) => x.start === 0x100000000000)!;
      await page.goto(`${srv.url}?pid=25494&from=${r.at}&to=${r.at + 64}`);
      await page.waitForFunction(() => {
        const c = document.getElementById('map') as HTMLCanvasElement | null;
        return c?.dataset['drawn'] === `${c?.dataset['from']}:${c?.dataset['to']}`;
      });
      const lazy = rgbOf((await page.getAttribute('#map-legend [data-kind="lazy"]', 'data-colour'))!);
      const column = await page.evaluate(() => {
        const c = document.getElementById('map') as HTMLCanvasElement;
        const x = Math.floor(c.width / 2);
        const d = c.getContext('2d')!.getImageData(x, 0, 1, c.height).data;
        const out: string[] = [];
        for (let y = 0; y < c.height; y++) out.push(`${d[4 * y]},${d[4 * y + 1]},${d[4 * y + 2]}`);
        return out;
      });
      const counts = new Map<string, number>();
      for (const px of column) counts.set(px, (counts.get(px) ?? 0) + 1);
      const top = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
      assert.equal(top, lazy.join(','), 'the lazy colour is the main colour of the column');
      assert.ok(counts.size > 1, 'with hatching over it');
      await shot('map-lazy');
      await page.goto(`${srv.url}?pid=25494&view=hex&addr=0x100000000000`);
      await page.waitForSelector('#hex .refused');
      assert.equal(await page.getAttribute('#hex .refused', 'data-state'), 'lazy');
      const want = await cli(['read', lazyDir, '0x100000000000', '16']);
      assert.equal(want.code, 1);
      const reason = want.err.trim().replace(/^pagestack: [^:]+: /, '');
      assert.ok((await page.textContent('#hex .refused'))!.includes(reason), reason);
    } finally {
      await srv.close();
      await ex.close();
    }
  });

  test('the diff view counts what `pagestack diff` counts', async () => {
    for (const [a, b, dirA, dirB] of [
      ['2', '3', join(STACK, '2'), TOP],
      ['1', '3', join(STACK, '1'), TOP],
      ['d0', '3', join(FIX, 'series', '1'), TOP],
    ] as const) {
      await openMap(`?pid=${PID}&view=diff&a=${a}&b=${b}`, 'diffmap');
      const want = await cli(['diff', dirA, dirB, '--json']);
      assert.equal(want.code, 1, want.err); // they differ: diff exits 1, as diff(1)
      const p = (JSON.parse(want.out) as { processes: Record<string, number>[] }).processes[0]!;
      const got = await page.evaluate(() => ({ ...document.getElementById('diff-counts')!.dataset }));
      assert.deepEqual(
        [got['changed'], got['added'], got['removed'], got['equal']].map(Number),
        [p['changed_pages'], p['added_pages'], p['removed_pages'], p['equal_pages']],
        `diff ${dirA} ${dirB}`,
      );
      // the list of ranges that differ adds up to the counts
      const listed = await page
        .locator('#diff-changes tbody tr')
        .evaluateAll((rows) =>
          rows.map((r) => [
            (r as HTMLElement).dataset['kind'],
            Number(r.children[2]!.textContent!.replace(/,/g, '')),
          ]),
        );
      for (const kind of ['changed', 'added', 'removed'] as const) {
        const sum = listed.filter(([k]) => k === kind).reduce((n, [, v]) => n + (v as number), 0);
        assert.equal(sum, p[`${kind}_pages`], `${kind} pages listed, diff ${dirA} ${dirB}`);
      }
      if (a === '2') await shot('diff', 620);
    }
    // the --with directory is named by its path, the layers by number from the bottom
    assert.equal(
      await page.textContent('#diff-a option[value="d0"]'),
      `${userPath(join(FIX, 'series', '1'))} (--with)`,
    );
    assert.equal(await page.textContent('#diff-a option[value="1"]'), 'layer 1 (series-stack/1)');
    // a click on a listed range opens the hex view at its start
    await openMap(`?pid=${PID}&view=diff&a=2&b=3`, 'diffmap');
    const first = page.locator('#diff-changes tbody tr').first();
    const start = Number((await first.getAttribute('data-start'))!);
    await first.click();
    await page.waitForSelector('#view-hex:not([hidden]) .row.target');
    assert.ok((await page.textContent('#hex .row.target'))!.startsWith(start.toString(16)));
    // the pages changed from 2 to 3 are drawn as changed
    const changed = await page.getAttribute('#diff-legend [data-kind="changed"]', 'data-colour');
    await openMap(`?pid=${PID}&view=diff&a=2&b=3`, 'diffmap');
    const diff = (await (await fetch(`${server!.url}api/diff?pid=${PID}&a=2&b=3`)).json()) as {
      ranges: { start: number; at: number }[];
    };
    const heap = diff.ranges.find((r) => r.start === 0x300000000000)!;
    const pos = heap.at + (0x300000020000 + 3 * PAGE - heap.start) / PAGE + 0.5;
    assert.deepEqual((await pixelAt(pos, 'diffmap')).rgb, rgbOf(changed!));
    // hover says what the diff says of the page: changed (step 2 -> 3), equal (page 300)
    const box = (await page.locator('#diffmap').boundingBox())!;
    for (const [addr, kind] of [
      [0x300000020000 + 3 * PAGE, 'changed'],
      [0x300000000000 + 300 * PAGE, 'equal'],
    ] as const) {
      const at = heap.at + (addr - heap.start) / PAGE;
      await openMap(`?pid=${PID}&view=diff&a=2&b=3&from=${at - 8}&to=${at + 8}`, 'diffmap');
      const p = await pixelAt(at + 0.5, 'diffmap');
      await page.mouse.move(box.x + p.x, box.y + p.y);
      await page.waitForFunction((k) => document.getElementById('diff-hover')!.dataset['kind'] === k, kind);
      assert.match((await page.textContent('#diff-hover'))!, new RegExp(`^page ${hex(addr)}: ${kind}`));
    }
  });

  test('an archive: its container as `pagestack inspect` says it; a long path cut, not wrapped', async () => {
    const tar = join(ROOT, 'test', 'fixtures', 'archives', 'podman-series-step0.tar');
    // the same archive under a long path (a symlink in the test's directory)
    const longDir = join(
      work,
      'checkpoints-of-the-series-container-taken-on-2026-12-01',
      'podman',
      'nightly',
    );
    mkdirSync(longDir, { recursive: true });
    const longTar = join(longDir, 'podman-series-step0-checkpoint-with-a-long-name.tar');
    symlinkSync(tar, longTar);
    const want = await cli(['inspect', tar, '--json']);
    assert.equal(want.code, 0, want.err);
    const c = (JSON.parse(want.out) as { container: Record<string, string> }).container;
    for (const [target, name] of [
      [longTar, 'archive-long'],
      [userPath(tar), 'archive'],
    ] as const) {
      const ex = await Explorer.open(target);
      const srv = await startUiServer({ explorer: ex, webRoot });
      own.add(srv.url);
      try {
        await page.goto(srv.url);
        await page.waitForSelector('#container:not([hidden]) dd[data-field="name"]');
        for (const f of ['name', 'image', 'runtime', 'created', 'checkpointed'])
          assert.equal(await page.textContent(`#container dd[data-field="${f}"]`), c[f], f);
        assert.ok(
          (await page.getAttribute('#top', 'title'))!.startsWith(target),
          'the whole path in its title',
        );
        const header = await page.evaluate(() => {
          const top = document.getElementById('top')!;
          return {
            height: document.querySelector('header')!.getBoundingClientRect().height,
            cut: top.scrollWidth > top.clientWidth,
          };
        });
        assert.ok(header.height < 48, `the header is one line (${header.height} px)`);
        if (target === longTar) assert.ok(header.cut, 'the long path is cut with an ellipsis');
        const names = await page
          .locator('#layers td.name')
          .evaluateAll((tds) => tds.map((td) => td.getBoundingClientRect().height));
        assert.ok(
          names.every((h) => h < 24),
          `layer names on one line (${names})`,
        );
        await page.waitForFunction(() => {
          const m = document.getElementById('map') as HTMLCanvasElement;
          return m.dataset['drawn'] === `${m.dataset['from']}:${m.dataset['to']}`;
        });
        await shot(name, name === 'archive' ? 520 : undefined);
      } finally {
        await srv.close();
        await ex.close();
      }
    }
  });

  test('a bad address in the URL gets a clear message on the page', async () => {
    await page.goto(`${server!.url}?pid=${PID}&view=hex&addr=0xzz`);
    await page.waitForSelector('#error:not([hidden])');
    assert.equal(
      await page.textContent('#error'),
      "address '0xzz': expected a number in hex (0x...) or decimal",
    );
    await shot('bad-address');
    await page.goto(`${server!.url}?pid=${PID}&view=hex&addr=0x40000000000000`);
    await page.waitForSelector('#error:not([hidden])');
    assert.match((await page.textContent('#error'))!, /beyond 2\^53/);
    // the server's own refusals come through in its words
    await page.goto(`${server!.url}?pid=4242&view=map`);
    await page.waitForSelector('#error:not([hidden])');
    assert.match(
      (await page.textContent('#error'))!,
      /no process 4242 in the stack.*25238.*StackError PAGESTACK_NO_SUCH_PID, HTTP 404/,
    );
  });

  test('the server refuses other origins and hosts, and listens on loopback only', async () => {
    const base = server!.url;
    const evil = await fetch(`${base}api/stack`, { headers: { origin: 'http://evil.example' } });
    assert.equal(evil.status, 403);
    const body = (await evil.json()) as { error: { class: string; message: string } };
    assert.equal(body.error.class, 'ForeignRequestError');
    assert.match(body.error.message, /Origin 'http:\/\/evil\.example'/);
    const cross = await fetch(`${base}api/stack`, { headers: { 'sec-fetch-site': 'cross-site' } });
    assert.equal(cross.status, 403);
    // DNS rebinding: a page of evil.example resolving to 127.0.0.1 sends its own Host
    const rebound = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: server!.port,
          path: '/api/stack',
          headers: { host: `evil.example:${server!.port}` },
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => {
            text += d;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(rebound.status, 403);
    assert.match(rebound.text, /Host 'evil\.example:\d+' is not this server/);
    const own = await fetch(`${base}api/stack`, { headers: { origin: base.replace(/\/$/, '') } });
    assert.equal(own.status, 200);
    const post = await fetch(`${base}api/stack`, { method: 'POST' });
    assert.equal(post.status, 400);
    const addr = server!.server.address();
    assert.ok(addr && typeof addr === 'object' && addr.address === '127.0.0.1', 'bound to 127.0.0.1');
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && !i.internal && i.family === 'IPv4');
    if (external) {
      await assert.rejects(
        fetch(`http://${external.address}:${server!.port}/api/stack`),
        'not on other interfaces',
      );
    }
    assert.deepEqual(foreign, [], 'the page made no request but to its own server');
  });

  test('the map of a 4 GiB, 8-layer process: time to the first drawn frame', async (t) => {
    const root = join(work, 'bench');
    mkdirSync(root);
    const t0 = performance.now();
    const g = await generateStack(root, { bytes: 4 * 1024 ** 3, layers: 8, sparse: true });
    const genMs = performance.now() - t0;
    // as `pagestack ui` does: the process tree checked, the server started and the URL printed,
    // then the stack resolved behind it while the page loads: the figure includes that work
    const t1 = performance.now();
    const ex = await Explorer.open(g.top);
    await ex.stack.processes();
    const srv = await startUiServer({ explorer: ex, webRoot });
    own.add(srv.url);
    const urlMs = performance.now() - t1;
    try {
      const start = performance.now();
      ex.prepareInBackground();
      await page.goto(`${srv.url}?pid=${g.pid}`);
      const shown = performance.now() - start;
      await page.waitForFunction(() => document.getElementById('map')?.dataset['drawn'] !== undefined, null, {
        timeout: 60_000,
      });
      const ms = performance.now() - start;
      // and opened again once the server is done: the map from the server's cached layout
      await ex.prepare();
      const again = performance.now();
      await page.goto(`${srv.url}?pid=${g.pid}`);
      await page.waitForFunction(() => document.getElementById('map')?.dataset['drawn'] !== undefined, null, {
        timeout: 60_000,
      });
      const warmMs = performance.now() - again;
      const legend = await page.locator('#map-legend [data-layer]').count();
      assert.equal(legend, 8, 'eight layers in the legend');
      const runs = (
        (await (await fetch(`${srv.url}api/runs?pid=${g.pid}&from=0&to=1048576&buckets=1280`)).json()) as {
          runs: unknown[];
        }
      ).runs.length;
      assert.ok(runs <= 1280, 'at most one run per bucket');
      const line = `4 GiB, 8-layer map (${g.entries.reduce((a, b) => a + b, 0).toLocaleString('en-US')} pagemap entries): URL printed ${urlMs.toFixed(0)} ms after start; page loaded ${shown.toFixed(0)} ms and map drawn ${ms.toFixed(0)} ms after opening it (the server resolving the stack behind the URL meanwhile); opened again once the server is done: ${warmMs.toFixed(0)} ms (stack generated in ${genMs.toFixed(0)} ms, sparse)`;
      t.diagnostic(line);
      await shot('map-4g');
      // a search of these 4 GiB (tens of seconds) runs in a process of its own: the server answers
      // meanwhile, and a newer search ends it
      const long = fetch(`${srv.url}api/search?pid=${g.pid}&q=no-such-text-anywhere`);
      await new Promise((r) => setTimeout(r, 300));
      const t2 = performance.now();
      const during = await fetch(`${srv.url}api/maps?pid=${g.pid}`);
      assert.equal(during.status, 200);
      const duringMs = performance.now() - t2;
      const quick = await fetch(`${srv.url}api/search?pid=${g.pid}&q=00&mode=hex&max=1`);
      assert.equal(quick.status, 200);
      const q = (await quick.json()) as { matches: unknown[]; truncated: boolean; ms: number };
      assert.equal(q.matches.length, 1);
      assert.equal(q.truncated, true);
      const ended = await long;
      assert.equal(ended.status, 400);
      assert.match(((await ended.json()) as { error: { message: string } }).error.message, /newer search/);
      t.diagnostic(
        `during a 4 GiB search the map answered in ${duringMs.toFixed(0)} ms; a search stopped at its first match took ${q.ms} ms (a process of its own: start, open, resolve)`,
      );
      // zoom in from the keyboard: still drawn
      await page.focus('#map');
      await page.keyboard.press('+');
      await page.waitForFunction(() => {
        const c = document.getElementById('map') as HTMLCanvasElement;
        const span = Number(c.dataset['to']) - Number(c.dataset['from']);
        return c.dataset['drawn'] === `${c.dataset['from']}:${c.dataset['to']}` && span <= 524288 + 1;
      });
    } finally {
      await srv.close();
      await ex.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
