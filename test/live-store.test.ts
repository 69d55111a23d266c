/**
 * Live acceptance of the object store with real CRIU 4.2 and real Swift: three dumps of the
 * `series` program (steps 0, 1, 2), turned into a 3-layer stack by pushing each plain dump (the
 * first as the bottom layer, the next two as increments from page hashes), the local dumps
 * deleted, the stack pulled into a new directory and restored by CRIU; the restored process checks
 * its memory and must say `bad_words 0` at step 2. Layer 2 pulled alone restores at step 1, the
 * flat pull of the top at step 2, and `export` from s3:// equals `export` of the pulled stack.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, type TestContext, test } from 'node:test';
import { cli } from './helpers/cli.js';
import { LiveSession, requireLive, SKIP_LIVE } from './helpers/live-criu.js';
import { SKIP_SWIFT, type SwiftServer, swiftServer } from './helpers/swift.js';

const live = new LiveSession('store');
const root = live.dir;
const DUMP = [1, 2, 3].map((k) => join(root, 'dumps', String(k)));
const S3 = 's3://pagestack-live/ckpt/series';
let pid = 0;
let markers = '';
let swift: SwiftServer;

async function pagestack(...args: string[]): Promise<string> {
  const r = await cli(args);
  assert.equal(r.code, 0, `pagestack ${args.join(' ')}: ${r.err}${r.out}`);
  return r.out.trim();
}

async function restoreAndVerify(t: TestContext, dir: string, step: number): Promise<void> {
  const r = await live.restore(dir);
  try {
    assert.ok(r.ok, `criu restore -D ${dir} failed (exit ${r.code}): ${r.output}\n${r.log}`);
    const host = r.pids.get(pid);
    assert.ok(host, `restored ${dir}, but no pid ${pid} in its namespace`);
    const v = await live.verifyProcess(host, markers, 'series.verified');
    t.diagnostic(`${dir.slice(root.length + 1)}: restored process says "${v.line}"`);
    assert.equal(v.step, step, v.line);
    assert.equal(v.badWords, 0, `${v.line}\n${r.log}`);
  } finally {
    await r.kill();
  }
}

describe('live CRIU + Swift: dumps pushed, pulled, restored', { skip: SKIP_LIVE || SKIP_SWIFT }, () => {
  before(async () => {
    requireLive();
    swift = await swiftServer();
    swift.useCredentials();
    const s = await live.start('series', ['series.step0']);
    pid = s.pids.get('series.step0')!;
    markers = s.markers;
    await live.dump(pid, DUMP[0]!);
    for (const k of [1, 2]) {
      live.signal(pid, 'SIGUSR1');
      await live.waitMarker(markers, `series.step${k}`);
      await live.dump(pid, DUMP[k]!);
    }
  });

  test('3 dumps -> 3-layer stored stack -> local copies deleted -> pull -> CRIU restores', async (t) => {
    const outs: string[] = [];
    for (const d of DUMP) outs.push(await pagestack('push', d, S3));
    t.diagnostic(outs.join(' | '));
    assert.match(outs[1]!, /layer 2 added \(an increment/);
    assert.match(outs[2]!, /layer 3 added \(an increment/);
    for (const d of DUMP) rmSync(d, { recursive: true, force: true });
    const pulled = join(root, 'pulled');
    assert.match(await pagestack('pull', S3, pulled), /3 layers/);
    await pagestack('verify', join(pulled, '3'));
    await restoreAndVerify(t, join(pulled, '3'), 2);
    const two = join(root, 'pulled-2');
    await pagestack('pull', `${S3}@2`, two);
    await restoreAndVerify(t, join(two, '2'), 1);
    const flat = join(root, 'flat');
    await pagestack('pull', S3, flat, '--flat');
    await restoreAndVerify(t, flat, 2);
    // export straight from the store equals export of the pulled stack
    await pagestack('export', S3, '-o', join(root, 's3.elf'));
    await pagestack('export', join(pulled, '3'), '-o', join(root, 'local.elf'));
    assert.ok(readFileSync(join(root, 's3.elf')).equals(readFileSync(join(root, 'local.elf'))));
  });
});
