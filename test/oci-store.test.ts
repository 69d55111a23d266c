/**
 * pagestack stacks in docker-registry through the store layout's port (src/source/oci/store.ts):
 * push (a second push of the stack with one more layer uploads only that layer's new blobs; the
 * same stack again uploads nothing), ls, and every reading command on
 * oci://REGISTRY/REPOSITORY:NAME[@N] reading the same memory as the local stack.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { listStacks } from '../src/ops/ls.js';
import { push } from '../src/ops/push.js';
import { MT } from '../src/source/oci/media.js';
import { parseImageRef } from '../src/source/oci/ref.js';
import { RegistryClient } from '../src/source/oci/registry.js';
import { RegistryBlobStore, STACK_ARTIFACT } from '../src/source/oci/store.js';
import { openSource } from '../src/source/open.js';
import { cli } from './helpers/cli.js';
import { FIX } from './helpers/fixtures.js';
import { type Registry, SKIP_REGISTRY, startRegistry } from './helpers/registry.js';

const STACK = join(FIX, 'series-stack');

function sha(p: string): string {
  return createHash('sha256').update(readFileSync(p)).digest('hex');
}

describe('stacks in docker-registry', { skip: SKIP_REGISTRY }, () => {
  let reg: Registry;
  let tmp: string;
  before(async () => {
    reg = await startRegistry();
    tmp = mkdtempSync(join(tmpdir(), 'psocistore-'));
  });
  after(async () => {
    await reg?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const pushDir = async (dir: string) => {
    const ref = parseImageRef(`oci://${reg.host}/stacks/series`);
    const store = new RegistryBlobStore(ref, { tlsVerify: false, credentials: null });
    const source = await openSource(dir);
    try {
      return await push({
        store,
        stackUrl: `${store.location}:series`,
        name: 'series',
        source,
        settleMs: 20,
      });
    } finally {
      await source.close?.();
      await store.close();
    }
  };

  test('push, push one more layer (only its new blobs go), push again (nothing goes)', async () => {
    const r2 = await pushDir(join(STACK, '2'));
    assert.deepEqual(
      r2.layers.map((l) => l.status),
      ['new', 'new'],
    );
    const r3 = await pushDir(join(STACK, '3'));
    assert.deepEqual(
      r3.layers.map((l) => l.status),
      ['stored', 'stored', 'new'],
    );
    assert.ok(r3.uploadedBytes < r3.pagesBytes / 2, `uploaded ${r3.uploadedBytes} of ${r3.pagesBytes}`);
    const again = await pushDir(join(STACK, '3'));
    assert.equal(again.blobsUploaded, 0);
    assert.equal(again.uploadedBytes, 0);

    const store = new RegistryBlobStore(parseImageRef(`oci://${reg.host}/stacks/series`), {
      tlsVerify: false,
      credentials: null,
    });
    assert.deepEqual(
      (await listStacks(store)).map((s) => s.name),
      ['series'],
    );
    // tag NAME: the stack as an OCI 1.1 artifact naming every blob of its layers
    const c = new RegistryClient(parseImageRef(`oci://${reg.host}/stacks/series:series`), {
      tlsVerify: false,
      credentials: null,
    });
    const m = await c.getManifest();
    assert.equal(m.mediaType, MT.ociManifest);
    const doc = m.doc as { artifactType?: string; layers: { mediaType: string }[] };
    assert.equal(doc.artifactType, STACK_ARTIFACT);
    assert.ok(
      doc.layers.filter((l) => l.mediaType === 'application/vnd.pagestack.layer.v1+json').length === 3,
    );
    assert.ok(doc.layers.some((l) => l.mediaType === 'application/vnd.pagestack.frame.v1'));
  });

  test('reading commands on oci://REGISTRY/REPO:NAME[@N] see the local stack', async () => {
    const url = `oci://${reg.host}/stacks/series:series`;
    const show = await cli(['--tls-verify=false', 'show', url]);
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, /3 layers/);
    const v = await cli(['--tls-verify=false', 'verify', url]);
    assert.equal(v.code, 0, v.err + v.out);
    for (const [at, dir] of [
      ['', '3'],
      ['@2', '2'],
      ['@1', '1'],
    ] as const) {
      const a = join(tmp, `local${dir}.core`);
      const b = join(tmp, `oci${dir}.core`);
      assert.equal((await cli(['export', join(STACK, dir), '-o', a])).code, 0);
      const e = await cli(['--tls-verify=false', 'export', `${url}${at}`, '-o', b]);
      assert.equal(e.code, 0, e.err);
      assert.equal(sha(a), sha(b), `layer ${dir}`);
    }
    const bad = await cli(['--tls-verify=false', 'show', `${url}@4`]);
    assert.equal(bad.code, 1);
    assert.equal(bad.err.trim().split('\n').length, 1, bad.err);
  });

  test('push, ls, pull on the command line with oci://', async () => {
    const url = `oci://${reg.host}/cli/stacks:series`;
    const p = await cli(['--tls-verify=false', 'push', join(STACK, '3'), url]);
    assert.equal(p.code, 0, p.err);
    assert.match(p.out, /layers 1-3 added, 3 in all/);
    const again = await cli(['--tls-verify=false', 'push', join(STACK, '3'), url]);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /nothing new/);
    const ls = await cli(['--tls-verify=false', 'ls', `oci://${reg.host}/cli/stacks`]);
    assert.equal(ls.code, 0, ls.err);
    assert.match(ls.out, /1 stack\n {2}series {2}3 layers /);
    const lsn = await cli(['--tls-verify=false', 'ls', url, '--json']);
    assert.equal(lsn.code, 0, lsn.err);
    assert.equal((JSON.parse(lsn.out) as { layers: unknown[] }).layers.length, 3);
    const dest = join(tmp, 'pulled');
    const pl = await cli(['--tls-verify=false', 'pull', `${url}@2`, dest]);
    assert.equal(pl.code, 0, pl.err);
    const a = join(tmp, 'pull-a.core');
    const b = join(tmp, 'pull-b.core');
    assert.equal((await cli(['export', join(STACK, '2'), '-o', a])).code, 0);
    const top = /^(\S+): /.exec(pl.out)![1]!;
    const e = await cli(['export', top, '-o', b]);
    assert.equal(e.code, 0, e.err);
    assert.equal(sha(a), sha(b));
  });
});
