/**
 * The object store benchmark: pagestack's push, pull and reads through s3:// against the AWS SDK
 * doing the same transfers itself (bench/store-baseline.ts), in the same run, on the same server.
 *
 *   node --import tsx bench/store.ts [SIZE]     (SIZE default 256M; starts its own Swift on loopback)
 *
 * Rows (ratios > 1 mean pagestack is faster where the row is a speed):
 *   push      a SIZE dump (one layer, every page distinct) vs the SDK's multipart Upload of its pages file
 *   push next the next layer, 10% of the pages rewritten: bytes uploaded / the layer's memory, time / first push
 *   second    the fixture dump series/3 pushed as a new stack after series/1: uploaded / its pages
 *   pull      the SIZE stack pulled to a directory vs 16 parallel 2 MiB ranged GETs of the same bytes
 *   random    4 KiB reads at random pages through s3://: cold median vs one ranged 4 KiB GET's median;
 *             warm (frames cached) rate vs the local directory's rate
 * plus the process's peak RSS. Figures, not pass/fail; with the load average and the date.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PAGE_SIZE } from '../src/image/pagemap.js';
import { pull } from '../src/ops/pull.js';
import { push } from '../src/ops/push.js';
import { openSource, openStackDir } from '../src/source/open.js';
import { openS3Store } from '../src/source/s3/object-store.js';
import { ObjectStoreBlobs } from '../src/source/store/blobs.js';
import { openStoreLayer, StoreContext } from '../src/source/store/source.js';
import { openStack } from '../src/stack/stack.js';
import { generateStack } from './gen.js';
import {
  baselineClient,
  ensureBucket,
  parallelRangedGets,
  rangedGetLatency,
  sdkUploadFile,
} from './store-baseline.js';

const MiB = 1 << 20;
const BUCKET = 'pagestack-bench';

function parseSize(s: string | undefined): number {
  if (!s) return 256 * MiB;
  const m = /^(\d+)([KMG]?)$/i.exec(s);
  if (!m) throw new Error(`size ${s}: expected e.g. 256M or 1G`);
  return (
    Number(m[1]) * { '': 1, K: 1024, M: MiB, G: 1024 * MiB }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G']
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const size = parseSize(process.argv[2]);
  const { startSwiftServer } = await import('../test/helpers/swift-server.js');
  const swift = await startSwiftServer();
  const work = mkdtempSync(join(tmpdir(), 'pagestack-store-bench-'));
  const line = (s: string) => process.stdout.write(`${s}\n`);
  try {
    Object.assign(process.env, swift.env());
    const client = baselineClient(swift.endpoint);
    await ensureBucket(client, BUCKET);
    const gen = join(work, 'gen');
    mkdirSync(gen);
    const g = await generateStack(gen, { bytes: size, layers: 2, dirtyMin: 0.1, dirtyMax: 0.1, seed: 3 });
    line(
      `store bench ${new Date().toISOString()}: ${size / MiB} MiB, load ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );

    // 1. push vs the SDK's own Upload of the pages file
    const sdk = await sdkUploadFile(client, BUCKET, 'baseline/pages-1.img', g.pagesFiles[0]!);
    const store = new ObjectStoreBlobs(await openS3Store(`s3://${BUCKET}/b`, { endpoint: swift.endpoint }));
    let src = await openSource(g.dirs[0]!);
    let t0 = performance.now();
    const p1 = await push({ store, stackUrl: `s3://${BUCKET}/b/s`, name: 's', source: src });
    const push1 = performance.now() - t0;
    line(
      `push ${size / MiB} MiB: ${push1.toFixed(0)} ms (${(size / MiB / (push1 / 1000)).toFixed(1)} MiB/s, ${p1.blobsUploaded} objects); SDK Upload ${sdk.ms.toFixed(0)} ms (${sdk.rate.toFixed(1)} MiB/s): ratio ${(sdk.ms / push1).toFixed(2)}x (goal >= 0.9x)`,
    );
    // 2. the next layer: 10% of the pages rewritten
    src = await openSource(g.dirs[1]!);
    t0 = performance.now();
    const p2 = await push({ store, stackUrl: `s3://${BUCKET}/b/s`, name: 's', source: src });
    const push2 = performance.now() - t0;
    line(
      `push next (10% rewritten): uploaded ${(p2.uploadedBytes / MiB).toFixed(1)} MiB = ${((p2.uploadedBytes / size) * 100).toFixed(1)}% of its memory (goal <= 12%), ${push2.toFixed(0)} ms = ${(push2 / push1).toFixed(2)}x the first push (goal <= 0.3x)`,
    );
    // 3. a second container of the same program (real CRIU dumps): series/3 as a new stack after series/1
    const fix = resolve(import.meta.dirname, '..', 'test', 'fixtures', 'criu-4.2', 'series');
    await push({
      store,
      stackUrl: `s3://${BUCKET}/b/c1`,
      name: 'c1',
      source: await openSource(join(fix, '1')),
    });
    const c2 = await push({
      store,
      stackUrl: `s3://${BUCKET}/b/c2`,
      name: 'c2',
      source: await openSource(join(fix, '3')),
    });
    line(
      `second stack (series/3 after series/1, CRIU 4.2 dumps): uploaded ${(c2.uploadedBytes / 1024).toFixed(0)} KiB of ${(c2.pagesBytes / 1024).toFixed(0)} KiB pages = ${((c2.uploadedBytes / c2.pagesBytes) * 100).toFixed(1)}% (goal <= 30%)`,
    );
    // 4. pull vs parallel ranged GETs of the same bytes
    const gets = await parallelRangedGets(client, BUCKET, 'baseline/pages-1.img', size);
    const ctx = new StoreContext(store, `s3://${BUCKET}/b/s`);
    t0 = performance.now();
    await pull({ ctx, name: 's', at: 1, dest: join(work, 'pulled') });
    const pullMs = performance.now() - t0;
    line(
      `pull ${size / MiB} MiB: ${pullMs.toFixed(0)} ms (${(size / MiB / (pullMs / 1000)).toFixed(1)} MiB/s); 16 parallel 2 MiB GETs ${gets.ms.toFixed(0)} ms (${gets.rate.toFixed(1)} MiB/s): ratio ${(gets.ms / pullMs).toFixed(2)}x (goal >= 0.9x)`,
    );
    rmSync(join(work, 'pulled'), { recursive: true, force: true });
    // 5. random 4 KiB reads
    const lat = await rangedGetLatency(client, BUCKET, 'baseline/pages-1.img', size, { samples: 40 });
    const cold: number[] = [];
    const base = g.base;
    const pages = g.pages;
    for (let i = 0; i < 40; i++) {
      const c = new StoreContext(store, `s3://${BUCKET}/b/s`);
      const stack = await openStack(await openStoreLayer(c, 's'));
      const mem = await stack.memory(`pagemap-${g.pid}.img`);
      const addr = base + Math.floor(Math.random() * pages) * PAGE_SIZE;
      const t = performance.now();
      await mem.read(addr, PAGE_SIZE);
      cold.push(performance.now() - t);
    }
    line(
      `random 4 KiB cold: median ${median(cold).toFixed(1)} ms vs one ranged GET ${lat.median.toFixed(1)} ms: ${(median(cold) / lat.median).toFixed(2)}x (goal <= 1.5x)`,
    );
    const warmPages = Math.min(pages, (32 * MiB) / PAGE_SIZE);
    const addrs = Array.from(
      { length: 20000 },
      () => base + Math.floor(Math.random() * warmPages) * PAGE_SIZE,
    );
    const wc = new StoreContext(store, `s3://${BUCKET}/b/s`);
    const ws = await openStack(await openStoreLayer(wc, 's'));
    const wm = await ws.memory(`pagemap-${g.pid}.img`);
    for (let p = 0; p < warmPages; p += 256)
      await wm.read(base + p * PAGE_SIZE, Math.min(256, warmPages - p) * PAGE_SIZE);
    t0 = performance.now();
    for (const a of addrs) await wm.read(a, PAGE_SIZE);
    const warm = addrs.length / ((performance.now() - t0) / 1000);
    const ls = await openStackDir(g.top);
    const lm = await ls.memory(`pagemap-${g.pid}.img`);
    t0 = performance.now();
    for (const a of addrs) await lm.read(a, PAGE_SIZE);
    const local = addrs.length / ((performance.now() - t0) / 1000);
    await ls.close();
    line(
      `random 4 KiB warm: ${warm.toFixed(0)} reads/s vs local directory ${local.toFixed(0)} reads/s: ${(warm / local).toFixed(2)}x (goal >= 0.5x)`,
    );
    line(
      `peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB; load ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
    await store.close();
  } finally {
    swift.stop();
    rmSync(work, { recursive: true, force: true });
    rmSync(swift.dir, { recursive: true, force: true });
  }
}

await main();
