/**
 * Page-server receive benchmark: `node --import tsx bench/page-server.ts [--mib N]` (default 256 MiB;
 * `--quick` 64 MiB).
 *
 * A generated `criu dump --page-server` session (one process, ADD_F flags 6 in 256-page runs, as
 * CRIU 4.2 sends them) is sent over loopback, from this process, to:
 *   - the baseline: a bare TCP receiver that appends every byte it gets to one file and fsyncs it
 *     (the least any receiver that stores the dump durably has to do);
 *   - pagestack's PageServer, first layer (nothing to compare with);
 *   - pagestack's PageServer, second layer, the dump differing in 10% of its pages from the first
 *     (every page compared with the layer below; a tenth of the bytes written).
 * Each best of 2; prints MiB/s of page data and the ratio against the baseline in the same run.
 *
 * `--criu [PATH]` (root; PATH defaults to $PAGESTACK_CRIU, else `criu`) adds the live comparison
 * with CRIU 4.2 itself (bench/page-server-criu.ts): a real process of `--live-mib` MiB (default 1024)
 * dumped to `criu page-server` and to pagestack's, interleaved, `--rounds` times (default 2);
 * `--lazy` adds the lazy-restore comparison; `--live-only` skips the generated sessions.
 * Temporary data is removed at the end; every process started is killed by its pid.
 */
import { createWriteStream, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { addFRequest, closeRequest, open2Request } from '../src/protocol/pageserver/writer.js';
import { PageServer } from '../src/server/page-server.js';
import { rng } from './gen.js';

const args = process.argv.slice(2);
const mib = args.includes('--quick') ? 64 : Number(args[args.indexOf('--mib') + 1] ?? 256) || 256;
const PAGES = (mib << 20) / 4096;
const RUN = 256;
const dst = { kind: 'pid', id: 4242 } as const;
const optAt = (name: string) => args.indexOf(name);
const criuAt = optAt('--criu');
const criuArg =
  criuAt < 0
    ? null
    : args[criuAt + 1] && !args[criuAt + 1]!.startsWith('--')
      ? args[criuAt + 1]!
      : (process.env['PAGESTACK_CRIU'] ?? 'criu');
// a relative path as typed here: criu runs from other directories
const criuPath = criuArg?.includes('/') ? resolve(criuArg) : criuArg;
const numOpt = (name: string, dflt: number) =>
  optAt(name) < 0 ? dflt : Number(args[optAt(name) + 1]) || dflt;

/** The session as chunks: headers + page data; `seed` changes 10% of the pages (in runs of 1..32). */
function session(changed: Set<number>): Buffer[] {
  const out: Buffer[] = [open2Request(dst) as Buffer];
  for (let p = 0; p < PAGES; p += RUN) {
    const n = Math.min(RUN, PAGES - p);
    out.push(Buffer.from(addFRequest(dst, 6, BigInt(0x100000000000 + p * 4096), n)));
    const data = Buffer.alloc(n * 4096);
    for (let i = 0; i < n; i++) {
      const pg = p + i;
      data.writeBigUInt64LE((BigInt(pg) * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn, i * 4096);
      if (changed.has(pg)) data.writeUInt32LE(0xdeadbeef, i * 4096 + 8);
    }
    out.push(data);
  }
  out.push(Buffer.from(closeRequest()));
  return out;
}

function send(port: number, chunks: Buffer[], answerBytes: number): Promise<void> {
  return new Promise((ok, fail) => {
    let got = 0;
    const s = connect({ port, host: '127.0.0.1' }, async () => {
      for (const c of chunks) if (!s.write(c)) await new Promise((r) => s.once('drain', r));
      if (answerBytes === 0) s.end();
    });
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= answerBytes) s.end();
    });
    s.on('error', fail);
    s.on('close', () => ok());
  });
}

async function baseline(dir: string, chunks: Buffer[]): Promise<number> {
  const file = join(dir, 'raw.bin');
  const srv = createServer((sock) => {
    const out = createWriteStream(file);
    sock.pipe(out);
    out.on('finish', async () => {
      const fh = await open(file, 'r+');
      await fh.sync();
      await fh.close();
      srv.emit('stored');
    });
  });
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', () => ok()));
  const port = (srv.address() as { port: number }).port;
  const t = performance.now();
  const stored = new Promise((ok) => srv.once('stored', ok));
  await send(port, chunks, 0);
  await stored;
  const ms = performance.now() - t;
  srv.close();
  rmSync(file, { force: true });
  return ms;
}

async function pagestack(stack: string, chunks: Buffer[], keepLayers: number): Promise<number> {
  const server = await PageServer.start({ stack, port: 0 });
  const done = new Promise<void>((ok) => server.onSession(() => ok()));
  const t = performance.now();
  await send(server.port, chunks, 5);
  await done;
  const ms = performance.now() - t;
  await server.close();
  // drop the layer just written unless it is the base the next run compares with
  for (const n of readdirSync(stack)) if (Number(n) > keepLayers) rmSync(join(stack, n), { recursive: true });
  return ms;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pagestack-bench-ps-'));
  try {
    const rand = rng(42);
    const changed = new Set<number>();
    while (changed.size < PAGES / 10) {
      const at = Math.floor(rand() * PAGES);
      const len = 1 + Math.floor(rand() * 32);
      for (let i = at; i < Math.min(PAGES, at + len); i++) changed.add(i);
    }
    const first = session(new Set());
    const second = session(changed);
    const stack = join(dir, 'stack');
    const best = async (f: () => Promise<number>) => Math.min(await f(), await f());
    const base = await best(() => baseline(dir, first));
    const l1 = await best(() => pagestack(stack, first, 0));
    await pagestack(stack, first, 1); // layer 1 stays as the base
    const l2 = await best(() => pagestack(stack, second, 1));
    const rate = (ms: number) => `${((mib / ms) * 1000).toFixed(0)} MiB/s`;
    process.stdout.write(
      `page-server receive, ${mib} MiB of pages over loopback (best of 2, fsync included):\n` +
        `  baseline (bare TCP -> file + fsync):  ${base.toFixed(0)} ms  ${rate(base)}\n` +
        `  pagestack, first layer:               ${l1.toFixed(0)} ms  ${rate(l1)}  ${(base / l1).toFixed(2)}x baseline speed\n` +
        `  pagestack, second layer (90% equal):  ${l2.toFixed(0)} ms  ${rate(l2)}  ${(base / l2).toFixed(2)}x baseline speed (${changed.size} of ${PAGES} pages kept)\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (!args.includes('--live-only')) await main();
if (criuPath) {
  const { liveBench } = await import('./page-server-criu.js');
  await liveBench({
    criu: criuPath,
    mib: numOpt('--live-mib', 1024),
    rounds: numOpt('--rounds', 2),
    lazy: args.includes('--lazy'),
    out: (l) => process.stdout.write(`${l}\n`),
  });
}
