/**
 * The store against real OpenStack Swift (s3api) on loopback, through the CLI: fixture stacks and
 * archives pushed and pulled byte-identical, every reading command on s3:// equal to the local
 * result, idempotent re-push, dedup across stacks, a corrupted object on Swift's disk, a push
 * SIGKILLed half way and resumed, two pushes of one NAME at once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { generateStack } from '../bench/gen.js';
import { openS3Store } from '../src/source/s3/object-store.js';
import { ObjectStoreBlobs } from '../src/source/store/blobs.js';
import { StoreContext } from '../src/source/store/source.js';
import { readChain } from '../src/store/refs.js';
import { cli, cliProcess } from './helpers/cli.js';
import { hashDir, testDir } from './helpers/files.js';
import { FIX, ROOT } from './helpers/fixtures.js';
import { assertSameMemory } from './helpers/stacks.js';
import { SKIP_SWIFT, type SwiftServer, swiftServer } from './helpers/swift.js';

const STACK = join(FIX, 'series-stack');
const SERIES = join(FIX, 'series');
const ARCH = join(ROOT, 'test', 'fixtures', 'archives');
const BUCKET = 'pagestack-store';
const S3 = `s3://${BUCKET}/t`;
const tmp = testDir('store-swift');
let swift: SwiftServer;

async function ok(...args: string[]): Promise<string> {
  const r = await cli(args);
  assert.equal(r.code, 0, `pagestack ${args.join(' ')}: ${r.err}${r.out}`);
  return r.out;
}

function assertSameStackDir(a: string, b: string, layers: number): void {
  for (let k = 1; k <= layers; k++) {
    assert.deepEqual(hashDir(join(a, String(k))), hashDir(join(b, String(k))), `layer ${k}`);
  }
}

async function blobsOf(): Promise<ObjectStoreBlobs> {
  return new ObjectStoreBlobs(await openS3Store(S3, { endpoint: swift.endpoint }));
}

describe('store on Swift', { skip: SKIP_SWIFT }, () => {
  before(async () => {
    swift = await swiftServer();
    swift.useCredentials();
  });

  test('push series-stack, pull byte-identical, push again uploads nothing', async () => {
    const out1 = await ok('push', join(STACK, '3'), `${S3}/series`);
    assert.match(out1, new RegExp(`^${S3}/series: layers 1-3 added, 3 in all; pages 3\\.\\d MiB, uploaded`));
    const out2 = await ok('push', join(STACK, '3'), `${S3}/series`);
    assert.match(out2, /nothing new: layers 1-3 stored already, 3 in all; .* uploaded 0 B \(0 objects;/);
    const dest = join(tmp, 'pulled');
    const p = await ok('pull', `${S3}/series`, dest);
    assert.match(p, /3 layers/);
    assertSameStackDir(STACK, dest, 3);
    const flat = join(tmp, 'flat');
    await ok('pull', `${S3}/series@2`, flat, '--flat');
    await assertSameMemory(flat, join(STACK, '2'));
    const ls = await ok('ls', `${S3}/series`);
    assert.match(ls, /series: 3 layers/);
    const lsRoot = await ok('ls', S3);
    assert.match(lsRoot, /series +3 /);
  });

  test('every reading command on s3:// gives the local result', async () => {
    await ok('push', join(STACK, '3'), `${S3}/read`);
    const local = join(STACK, '3');
    const remote = `${S3}/read`;
    const names = (s: string) =>
      s
        .replaceAll(`${S3}/read@3`, 'L0')
        .replaceAll(`${S3}/read@2`, 'L1')
        .replaceAll(`${S3}/read@1`, 'L2')
        .replaceAll(join(STACK, '3'), 'L0')
        .replaceAll(join(STACK, '2'), 'L1')
        .replaceAll(join(STACK, '1'), 'L2')
        .replaceAll(remote, 'L0')
        .replaceAll(local, 'L0');
    for (const args of [
      ['show', '--json'],
      ['maps', '--json'],
      ['verify', '--json'],
      ['inspect', '--json'],
    ]) {
      const a = await cli([args[0]!, local, ...args.slice(1)]);
      const b = await cli([args[0]!, remote, ...args.slice(1)]);
      assert.equal(b.code, a.code, `${args[0]}: ${b.err}`);
      if (args[0] === 'show') {
        // on-disk sizes are the local file system's
        const strip = (s: string) => names(s).replace(/"(allocated\w*)": (null|\d+)/g, '"$1": 0');
        assert.equal(strip(b.out), strip(a.out), args[0]);
      } else assert.equal(names(b.out), names(a.out), args[0]);
    }
    const ra = await cli(['read', local, '0x300000000000', '0x200000', '--raw']);
    const rb = await cli(['read', remote, '0x300000000000', '0x200000', '--raw']);
    assert.equal(rb.code, 0, rb.err);
    assert.ok(rb.bytes.equals(ra.bytes), 'read --raw');
    const ea = join(tmp, 'a.elf');
    const eb = join(tmp, 'b.elf');
    await ok('export', local, '-o', ea);
    await ok('export', remote, '-o', eb);
    assert.ok(readFileSync(ea).equals(readFileSync(eb)), 'export: the same core, byte for byte');
    const sa = await cli(['search', local, 'series', '--json']);
    const sb = await cli(['search', remote, 'series', '--json']);
    assert.equal(sb.code, sa.code, sb.err);
    assert.equal(names(sb.out), names(sa.out), 'search');
    const da = await cli(['diff', join(STACK, '2'), local, '--json']);
    const db = await cli(['diff', `${S3}/read@2`, remote, '--json']);
    assert.equal(names(db.out), names(da.out), 'diff');
  });

  test('plain dumps pushed as increments; a podman archive pushed with its parent', async () => {
    const r1 = await ok('push', join(SERIES, '1'), `${S3}/inc`);
    assert.match(r1, /layer 1 added/);
    const r2 = await ok('push', join(SERIES, '2'), `${S3}/inc`);
    assert.match(r2, /layer 2 added \(an increment: \d+ pages equal to layer 1\)/);
    const up = (s: string) => /pages ([\d.]+ \w+), uploaded ([\d.]+ \w+)/.exec(s)!;
    assert.ok(up(r2), r2);
    await ok('push', join(SERIES, '3'), `${S3}/inc`);
    const dest = join(tmp, 'inc');
    await ok('pull', `${S3}/inc`, dest);
    await assertSameMemory(join(dest, '3'), join(SERIES, '3'));
    // archives: step0 alone, then step1 on it as an increment
    await ok('push', join(ARCH, 'podman-series-step0.tar.zst'), `${S3}/podman`);
    const a2 = await ok('push', join(ARCH, 'podman-series-step1.tar'), `${S3}/podman`);
    assert.match(a2, /layer 2 added \(an increment/);
    const ia = await cli(['inspect', join(ARCH, 'podman-series-step1.tar'), '--json']);
    const ib = await cli(['inspect', `${S3}/podman`, '--json']);
    const procs = (s: string) => JSON.stringify((JSON.parse(s) as { processes: unknown }).processes);
    assert.equal(procs(ib.out), procs(ia.out), 'the processes (cmdline and environment read from memory)');
  });

  test('a second stack of the same program uploads only what differs (dedup across stacks)', async () => {
    await ok('push', join(SERIES, '1'), `${S3}/one`);
    const second = await ok('push', join(SERIES, '1'), `${S3}/two`);
    assert.match(second, /uploaded 0 B/);
  });

  test("a corrupted object on Swift's disk: one line naming object and layer, exit 1", async () => {
    await ok('push', join(STACK, '3'), `${S3}/corrupt`);
    const blobs = await blobsOf();
    const ctx = new StoreContext(blobs, `${S3}/corrupt`);
    const chain = await readChain(blobs, 'corrupt');
    const m = await ctx.manifest(chain[2]!.manifest, 3);
    const frame = m.frames[0]![0];
    // the frame may be shared with another stack pushed above: corrupt it, then restore it
    const file = swift.objectFile(BUCKET, `t/blobs/${frame}`);
    assert.ok(file, 'the frame on disk');
    const good = readFileSync(file);
    const bad = Buffer.from(good);
    bad[bad.length - 100] ^= 0xff;
    writeFileSync(file, bad);
    try {
      const r = await cli(['read', `${S3}/corrupt`, '0x300000000000', '0x200000', '--raw']);
      assert.equal(r.code, 1, r.err);
      assert.equal(r.bytes.length, 0, 'no bytes written');
      assert.match(
        r.err,
        new RegExp(`^pagestack: ${S3}/blobs/${frame}: ${S3}/corrupt@3/pages-1.img: .*\\n$`),
      );
      assert.equal(r.err.split('\n').length, 2);
      // Swift itself moves an object whose MD5 no longer matches aside once it has served it
      // (quarantine): then the object is missing, which is the same one-line error
      const again = await cli(['read', `${S3}/corrupt`, '0x300000000000', '0x200000', '--raw']);
      assert.equal(again.code, 1);
      assert.match(
        again.err,
        new RegExp(
          `^pagestack: ${S3}/blobs/${frame}: ${S3}/corrupt@3/pages-1.img: (the object is missing|content has sha256)`,
        ),
      );
    } finally {
      // the frame may be shared with stacks of the other tests: put it back
      await blobs.putBlob(frame, good);
      await blobs.close();
    }
  });

  test('SIGKILL mid-push leaves no ref to a partial layer; the next push uploads only what is missing', async () => {
    const root = join(tmp, 'gen');
    mkdirSync(root);
    const g = await generateStack(root, { bytes: 48 << 20, layers: 1, seed: 7 });
    const blobs = await blobsOf();
    const count = async () => {
      let n = 0;
      for await (const _ of blobs.listBlobs()) n++;
      return n;
    };
    const start = await count();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'push', g.dirs[0]!, `${S3}/killed`],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    child.stdin.end();
    const closed = new Promise<void>((r) => child.on('close', () => r()));
    try {
      for (let i = 0; i < 600; i++) {
        if ((await count()) - start >= 20) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      child.kill('SIGKILL');
      await closed;
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    const mid = (await count()) - start;
    assert.ok(mid >= 20, `objects stored before the kill: ${mid}`);
    assert.equal((await readChain(blobs, 'killed')).length, 0, 'no ref');
    const r = await ok('push', g.dirs[0]!, `${S3}/killed`);
    const m = /\((\d+) objects; (\d+) stored already\)/.exec(r)!;
    assert.ok(Number(m[2]) >= mid - 8, `resumed: ${r}`);
    const dest = join(tmp, 'killed');
    await ok('pull', `${S3}/killed`, dest);
    await assertSameMemory(join(dest, '1'), g.dirs[0]!);
    await blobs.close();
  });

  test('two pushes to one NAME at once: both layers kept in order or one refused; never a lost layer', async () => {
    await ok('push', join(SERIES, '1'), `${S3}/race`);
    const [a, b] = await Promise.all([
      cliProcess(['push', join(SERIES, '2'), `${S3}/race`]),
      cliProcess(['push', join(SERIES, '3'), `${S3}/race`]),
    ]);
    const blobs = await blobsOf();
    const chain = await readChain(blobs, 'race');
    const won = [a, b].filter((r) => r.code === 0).length;
    for (const r of [a, b]) {
      if (r.code !== 0) assert.match(r.stderr, /another push stored this layer at the same time/);
    }
    assert.ok(won >= 1);
    assert.equal(chain.length, 1 + won, 'every push that said it stored a layer has it in the chain');
    for (let i = 1; i < chain.length; i++) assert.equal(chain[i]!.parent, chain[i - 1]!.manifest);
    await blobs.close();
  });
});
