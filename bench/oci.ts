/**
 * Registry benchmark: `node --import tsx bench/oci.ts [--mib N] [--rounds R]` (default 256 MiB,
 * 3 rounds; the figures are for 1024). Needs Debian's docker-registry; runs it on
 * loopback in a temporary directory (test/helpers/registry.ts) and removes everything at the end.
 *
 * Generates a one-process stack (bench/gen.ts): L0 a full dump of N MiB, L1 rewriting 10% of the
 * pages; and F, L1 squashed into a plain full dump (90% of its pages equal to L0's). Then, each
 * round into fresh repositories (so nothing is deduplicated across rounds), best round shown:
 *
 *   push        push of L0 (N MiB) through the store port into the registry, against the same
 *               bytes (L0's pages file) as one monolithic blob upload with fetch (POST + PUT);
 *               goal: push >= 0.9x the plain upload's speed
 *   second      push of F onto the pushed L0 (a full dump becomes an increment by page hashes):
 *               bytes uploaded / F's pages bytes; goal <= 12%
 *   export      `export L1 --image` (squash + layer tar + upload) of the 2-layer stack, against the
 *               same plain upload of N MiB (podman push of podman's own image is not timed here)
 *   reads       50 random 4 KiB reads of L0's pages through oci:// (a fresh reader each: each read a
 *               cold frame), median, against 50 ranged 4 KiB blob GETs of L0's frames; goal <= 1.5x
 *
 * Prints the load average with the figures: on a busy machine they move.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportImage } from '../src/ops/export-image.js';
import { push } from '../src/ops/push.js';
import { squash } from '../src/ops/squash.js';
import { Archive } from '../src/source/archive/index.js';
import { parseImageRef } from '../src/source/oci/ref.js';
import { RegistryClient, sha256Digest } from '../src/source/oci/registry.js';
import { setTlsVerifyDefault } from '../src/source/oci/settings.js';
import { RegistryBlobStore } from '../src/source/oci/store.js';
import { openSource, openTarget } from '../src/source/open.js';
import { startRegistry } from '../test/helpers/registry.js';
import { generateStack, rng } from './gen.js';

const args = process.argv.slice(2);
const arg = (k: string, d: number) => {
  const i = args.indexOf(k);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const MIB = arg('--mib', 256);
const ROUNDS = arg('--rounds', 3);
const LIKE = join(import.meta.dirname, '..', 'test', 'fixtures', 'archives', 'podman-series-step0.tar');

setTlsVerifyDefault(false);
const now = () => performance.now();
const log = (m: string) => process.stderr.write(`  .. ${m} (${new Date().toISOString().slice(11, 19)})\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const reg = await startRegistry();
const dir = mkdtempSync(join(tmpdir(), 'psbench-oci-'));
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void reg.stop().finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  });
}
try {
  console.log(
    `bench/oci.ts: ${MIB} MiB, ${ROUNDS} rounds, ${new Date().toISOString()}, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  mkdirSync(join(dir, 'gen'));
  const g = await generateStack(join(dir, 'gen'), {
    bytes: MIB << 20,
    layers: 2,
    dirtyMin: 0.1,
    dirtyMax: 0.1,
    seed: 7,
  });
  const [l0, l1] = g.dirs as [string, string];
  log('generated');
  const full = join(dir, 'F');
  {
    const st = await openTarget(l1);
    try {
      await squash(st, { out: full });
    } finally {
      await st.close();
    }
  }
  const l0pages = readFileSync(join(l0, 'pages-1.img'));
  const l0digest = sha256Digest(l0pages);
  const fullBytes = statSync(join(full, 'pages-1.img')).size;

  const plain: number[] = [];
  const pushes: number[] = [];
  const seconds: number[] = [];
  const exports: number[] = [];
  let secondUploaded = 0;
  let pushResultBytes = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const c = new RegistryClient(parseImageRef(`oci://${reg.host}/plain/r${r}:x`), {
      credentials: null,
      chunkBytes: 2 ** 40,
    });
    let t = now();
    await c.pushBlob(
      { size: l0pages.length, digest: l0digest, read: async () => l0pages },
      { knownAbsent: true },
    );
    plain.push(now() - t);
    log('plain upload');

    const store = new RegistryBlobStore(parseImageRef(`oci://${reg.host}/stacks/r${r}`), {
      credentials: null,
    });
    const src0 = await openSource(l0);
    t = now();
    const p0 = await push({ store, stackUrl: `${store.location}:s`, name: 's', source: src0, settleMs: 20 });
    pushes.push(now() - t);
    log('push');
    pushResultBytes = p0.uploadedBytes;
    await src0.close?.();
    const srcF = await openSource(full);
    t = now();
    const pF = await push({ store, stackUrl: `${store.location}:s`, name: 's', source: srcF, settleMs: 20 });
    seconds.push(now() - t);
    log('second push');
    secondUploaded = pF.uploadedBytes;
    await srcF.close?.();

    const like = await Archive.open(LIKE);
    const imgs = join(dir, `img${r}`);
    t = now();
    const st = await openTarget(l1);
    try {
      await squash(st, { out: imgs });
    } finally {
      await st.close();
    }
    await exportImage({
      images: imgs,
      like,
      image: parseImageRef(`${reg.host}/images/r${r}:x`, true),
      registry: { credentials: null },
      tmpDir: dir,
    });
    exports.push(now() - t);
    log('export');
    like.release();
    rmSync(imgs, { recursive: true, force: true });
  }

  // reads: a fresh reader of stack s@1 in repo stacks/r0, 200 random 4 KiB reads
  const rand = rng(11);
  const buf = new Uint8Array(4096);
  const through: number[] = [];
  for (let i = 0; i < 50; i++) {
    // a fresh reader each time (opening it is not timed): every read finds its frame cold
    const src = await openSource(`oci://${reg.host}/stacks/r0:s@1`);
    const f = (await src.open('pages-1.img'))!;
    const pos = Math.floor(rand() * (f.size / 4096)) * 4096;
    const t = now();
    await f.read(buf, 0, 4096, pos);
    through.push(now() - t);
    await f.close();
    await src.close?.();
  }
  const c = new RegistryClient(parseImageRef(`oci://${reg.host}/plain/r0:x`), { credentials: null });
  const ranged: number[] = [];
  for (let i = 0; i < 50; i++) {
    const pos = Math.floor(rand() * (l0pages.length / 4096)) * 4096;
    const t = now();
    await c.readRange({ digest: l0digest, size: l0pages.length }, pos, pos + 4096);
    ranged.push(now() - t);
  }

  const best = (xs: number[]) => Math.min(...xs);
  const mibs = (ms: number, bytes: number) => (bytes / (1 << 20) / (ms / 1000)).toFixed(0);
  const rows = [
    [
      'plain upload (fetch, monolithic)',
      `${best(plain).toFixed(0)} ms (${mibs(best(plain), l0pages.length)} MiB/s); rounds ${plain.map((x) => x.toFixed(0)).join(', ')}`,
    ],
    [
      'push of L0 (store port)',
      `${best(pushes).toFixed(0)} ms (${mibs(best(pushes), l0pages.length)} MiB/s; ${pushResultBytes} bytes uploaded); rounds ${pushes.map((x) => x.toFixed(0)).join(', ')}; ratio plain/push ${(best(plain) / best(pushes)).toFixed(2)}x (goal >= 0.9x)`,
    ],
    [
      'second push (full dump, 90% unchanged)',
      `${best(seconds).toFixed(0)} ms; uploaded ${secondUploaded} of ${fullBytes} bytes = ${((100 * secondUploaded) / fullBytes).toFixed(1)}% (goal <= 12%)`,
    ],
    [
      'export --image of L1 (squash + tar + upload)',
      `${best(exports).toFixed(0)} ms; rounds ${exports.map((x) => x.toFixed(0)).join(', ')}; plain upload / export ${(best(plain) / best(exports)).toFixed(2)}x`,
    ],
    [
      'random 4 KiB read via oci:// (cold frames)',
      `median ${median(through).toFixed(2)} ms vs ranged blob GET median ${median(ranged).toFixed(2)} ms: ${(median(through) / median(ranged)).toFixed(2)}x (goal <= 1.5x)`,
    ],
  ];
  for (const [k, v] of rows) console.log(`  ${k.padEnd(46)} ${v}`);
  console.log(
    `  load after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
} finally {
  await reg.stop();
  rmSync(dir, { recursive: true, force: true });
}
