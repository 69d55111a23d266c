/**
 * Live podman 4.3.1 + runc + CRIU 4.2 through a registry (issue 20's acceptance), with a private
 * podman (test/helpers/podman.ts; skip rules as podman-live) and docker-registry on loopback:
 *
 * - three checkpoints of a container running `series` as archives, `delta`ed into a stack,
 *   `push`ed to the registry, `export --image` of the registry's copy to the registry, `podman pull --tls-verify=false` and
 *   `podman container restore IMAGE`: the restored program checks its memory and logs
 *   `bad_words 0`;
 * - the other way: `podman container checkpoint --create-image`, `podman push` to the registry,
 *   pagestack reading it by oci://: inspect shows the image's annotations as podman shows them
 *   and the container as in the checkpoint; `export` of it equals the export of the checkpoint
 *   images as podman itself unpacks the image (`podman image mount`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { cli } from './helpers/cli.js';
import { FIX } from './helpers/fixtures.js';
import { PodmanSession, SKIP_PODMAN } from './helpers/podman.js';
import { type Registry, SKIP_REGISTRY, startRegistry } from './helpers/registry.js';
import { makeTar, type TarEntry } from './helpers/tar.js';

const IMAGE = 'localhost/pagestack-series:oci';
const SKIP = SKIP_PODMAN || SKIP_REGISTRY;

let pod!: PodmanSession;
let reg: Registry | null = null;
let cleanup: (() => Promise<void>) | null = null;

/** The static series program in a one-file root fs, imported as IMAGE. */
async function buildImage(p: PodmanSession): Promise<void> {
  const exe = join(p.dir, 'series');
  const r = spawnSync(
    'gcc',
    ['-O2', '-Wall', '-Wextra', '-static', '-pthread', '-o', exe, join(FIX, 'prog', 'series.c')],
    { encoding: 'utf8', env: { PATH: '/usr/local/bin:/usr/bin:/bin' } },
  );
  if (r.status !== 0) throw new Error(`gcc -static series.c: ${(r.stderr || r.error?.message || '').trim()}`);
  const dirs: TarEntry[] = ['./', 'dev/', 'etc/', 'proc/', 'sys/'].map((name) => ({ name, type: '5' }));
  const tar = join(p.dir, 'rootfs.tar');
  writeFileSync(
    tar,
    makeTar([
      ...dirs,
      { name: 'tmp/', type: '5', mode: 0o1777 },
      { name: 'series', data: readFileSync(exe), mode: 0o755 },
    ]),
  );
  await p.ok(['import', '-q', '--change', 'CMD ["/series","/tmp"]', tar, IMAGE]);
}

function sha(p: string): string {
  return createHash('sha256').update(readFileSync(p)).digest('hex');
}

describe('podman + registry: checkpoint images both ways', { skip: SKIP }, () => {
  before(async () => {
    pod = new PodmanSession();
    reg = await startRegistry();
    cleanup = async () => {
      await pod.cleanup();
      await reg?.stop();
    };
    await buildImage(pod);
  });
  after(() => cleanup?.());

  test('archives -> delta stack -> push -> export --image -> podman pull + container restore: bad_words 0', async (t: TestContext) => {
    await pod.ok(['run', '-d', '--name', 'psoci', '--network', 'none', IMAGE, '/series', '/tmp']);
    const archives: string[] = [];
    for (let step = 0; step <= 2; step++) {
      await pod.waitLog('psoci', new RegExp(`^series step ${step} pid 1$`));
      const a = join(pod.dir, `oci-step${step}.tar`);
      await pod.ok(['container', 'checkpoint', '--leave-running', '--export', a, 'psoci']);
      archives.push(a);
      if (step < 2) await pod.ok(['kill', '--signal', 'USR1', 'psoci']);
    }
    await pod.ok(['rm', '-f', '-t', '0', 'psoci']);
    const stack = join(pod.dir, 'oci-stack');
    mkdirSync(stack);
    assert.equal((await cli(['delta', archives[0]!, archives[1]!, '-o', join(stack, '1')])).code, 0);
    assert.equal((await cli(['delta', join(stack, '1'), archives[2]!, '-o', join(stack, '2')])).code, 0);
    // the stack pushed to the registry, and the image made from the registry's copy
    const stackUrl = `oci://${reg!.host}/ckpt/stacks:series`;
    const pushed = await cli(['--tls-verify=false', 'push', join(stack, '2'), stackUrl]);
    assert.equal(pushed.code, 0, pushed.err);
    assert.match(pushed.out, /layers 1-3 added/);
    t.diagnostic(pushed.out.trim());
    const ref = `${reg!.host}/ckpt/series:stack`;
    const ex = await cli(['--tls-verify=false', 'export', stackUrl, '--image', ref, '--like', archives[2]!]);
    assert.equal(ex.code, 0, ex.err);
    assert.match(ex.out, /3 of 3 layers merged/);
    t.diagnostic(ex.out.trim());
    await pod.ok(['pull', '-q', '--tls-verify=false', ref], 120_000);
    const r = await pod.run(['container', 'restore', '--name', 'psoci-r', ref], 120_000);
    assert.equal(r.code, 0, `podman container restore ${ref}:\n${r.err}${r.out}`);
    const state = (
      await pod.ok(['inspect', '--format', '{{.State.Status}} {{.State.Restored}}', 'psoci-r'])
    ).trim();
    assert.equal(state, 'running true');
    await pod.ok(['kill', '--signal', 'USR2', 'psoci-r']);
    const line = await pod.waitLog('psoci-r', /^series verify /);
    await pod.ok(['rm', '-f', '-t', '0', 'psoci-r']);
    t.diagnostic(`restored from the registry image: ${line}`);
    assert.match(line, /series verify step 2 pid 1 bad_words 0$/, line);
  });

  test('checkpoint --create-image -> podman push -> pagestack reads oci://', async (t: TestContext) => {
    await pod.ok(['run', '-d', '--name', 'psnative', '--network', 'none', IMAGE, '/series', '/tmp']);
    await pod.waitLog('psnative', /^series step 0 pid 1$/);
    const local = 'localhost/psnative-ckpt:1';
    await pod.ok(['container', 'checkpoint', '--create-image', local, 'psnative'], 120_000);
    const ref = `${reg!.host}/ckpt/native:1`;
    await pod.ok(['push', '-q', '--tls-verify=false', local, ref], 120_000);
    const podmanAnn = JSON.parse(
      await pod.ok(['image', 'inspect', '--format', '{{json .Annotations}}', local]),
    ) as Record<string, string>;
    assert.equal(podmanAnn['io.podman.annotations.checkpoint.name'], 'psnative');

    const ins = await cli(['--tls-verify=false', 'inspect', `oci://${ref}`, '--json']);
    assert.equal(ins.code, 0, ins.err);
    const j = JSON.parse(ins.out) as {
      engine: string;
      image: { annotations: Record<string, string>; layer: { mediaType: string } };
      container: { name: string; image: string };
      processes: { cmdline: string[] }[];
    };
    assert.equal(j.engine, 'podman');
    assert.equal(j.container.name, 'psnative');
    assert.equal(j.container.image, IMAGE);
    assert.deepEqual(j.processes[0]!.cmdline, ['/series', '/tmp']);
    for (const [k, v] of Object.entries(podmanAnn)) {
      if (k.startsWith('io.podman.annotations.checkpoint.')) assert.equal(j.image.annotations[k], v, k);
    }
    t.diagnostic(`podman's layer as pushed: ${j.image.layer.mediaType}`);

    // export of the image equals export of the checkpoint as podman unpacks the image
    const mnt = (await pod.ok(['image', 'mount', local])).trim();
    const a = join(pod.dir, 'native-a.core');
    const b = join(pod.dir, 'native-b.core');
    const ea = await cli(['export', join(mnt, 'checkpoint'), '-o', a]);
    assert.equal(ea.code, 0, ea.err);
    const eb = await cli(['--tls-verify=false', 'export', `oci://${ref}`, '-o', b]);
    assert.equal(eb.code, 0, eb.err);
    await pod.run(['image', 'unmount', local]);
    assert.equal(sha(a), sha(b));
  });
});
