/**
 * Checkpoint images made by other tools, read as targets: checkpointctl `build` (buildah under
 * it) and the Kubernetes recipe (buildah from scratch; add ARCHIVE /; config --annotation
 * io.kubernetes.cri-o.annotations.checkpoint.name=...; commit), each pushed by buildah to an OCI
 * layout directory, an OCI layout tar (oci-archive:) and docker-registry. pagestack inspects
 * them (the tool's annotations, the container of config.dump) and exports memory equal to the
 * export of the archive they were made from. The archive is the podman fixture (the recipe's
 * layer layout, the archive's content at the root, is the same for a kubelet archive).
 *
 * buildah runs with vfs storage in the test's own temporary directory. Without buildah the
 * suite skips with one line (fails with env CI); without checkpointctl (PATH, or
 * PAGESTACK_CHECKPOINTCTL, or ../shared/checkpointctl/bin) its case skips.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { cli } from './helpers/cli.js';
import { ROOT } from './helpers/fixtures.js';
import { onPath } from './helpers/live-criu.js';
import { type Registry, SKIP_REGISTRY, startRegistry } from './helpers/registry.js';

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const ARCHIVE = join(ROOT, 'test', 'fixtures', 'archives', 'podman-series-step0.tar');
const BUILDAH = onPath('buildah', `${process.env['PATH'] ?? ''}:${SYSTEM_PATH}`);
const CHECKPOINTCTL =
  process.env['PAGESTACK_CHECKPOINTCTL'] ??
  onPath('checkpointctl', `${process.env['PATH'] ?? ''}:${SYSTEM_PATH}`) ??
  [join(ROOT, '..', 'shared', 'checkpointctl', 'bin', 'checkpointctl')].find((p) => existsSync(p)) ??
  null;
const SKIP: false | string =
  BUILDAH !== null || process.env['CI'] ? false : 'checkpoint image tests skipped: buildah is not installed';

let dir = '';
let env: Record<string, string> = {};
let reg: Registry | null = null;

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

function sha(p: string): string {
  return createHash('sha256').update(readFileSync(p)).digest('hex');
}

/** inspect + export of each place the image was pushed to; the export equals the archive's. */
async function checkEverywhere(t: TestContext, image: string, name: string, expect: Record<string, string>) {
  const layoutDir = join(dir, `${name}-dir`);
  const layoutTar = join(dir, `${name}.tar`);
  run(BUILDAH!, ['push', '-q', image, `oci:${layoutDir}:v1`]);
  run(BUILDAH!, ['push', '-q', image, `oci-archive:${layoutTar}:v1`]);
  const targets = [layoutDir, `${layoutDir}:v1`, layoutTar];
  if (reg) {
    run(BUILDAH!, ['push', '-q', '--tls-verify=false', image, `docker://${reg.host}/ckpt/${name}:v1`]);
    targets.push(`oci://${reg.host}/ckpt/${name}:v1`);
  }
  const want = join(dir, 'archive.core');
  if (!existsSync(want)) assert.equal((await cli(['export', ARCHIVE, '-o', want])).code, 0);
  for (const target of targets) {
    const ins = await cli(['--tls-verify=false', 'inspect', target, '--json']);
    assert.equal(ins.code, 0, `${target}: ${ins.err}`);
    const j = JSON.parse(ins.out) as {
      engine: string;
      image: { annotations: Record<string, string> };
      container: { name: string };
    };
    assert.equal(j.engine, 'podman', target);
    assert.equal(j.container.name, 'ps1', target);
    for (const [k, v] of Object.entries(expect)) assert.equal(j.image.annotations[k], v, `${target}: ${k}`);
    const out = join(dir, `${name}-${targets.indexOf(target)}.core`);
    const e = await cli(['--tls-verify=false', 'export', target, '-o', out]);
    assert.equal(e.code, 0, `${target}: ${e.err}`);
    assert.equal(sha(out), sha(want), target);
  }
  t.diagnostic(`${name}: read from ${targets.length} places`);
}

describe('checkpoint images made by checkpointctl and the kubelet recipe', { skip: SKIP }, () => {
  before(async () => {
    if (BUILDAH === null)
      throw new Error('buildah is not installed, but CI requires the checkpoint image tests');
    dir = mkdtempSync(join(tmpdir(), 'psimg-'));
    writeFileSync(
      join(dir, 'storage.conf'),
      `[storage]\ndriver = "vfs"\nrunroot = "${dir}/run"\ngraphroot = "${dir}/graph"\n`,
    );
    env = { PATH: SYSTEM_PATH, HOME: dir, CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf') };
    if (!SKIP_REGISTRY) reg = await startRegistry();
  });
  after(async () => {
    await reg?.stop();
    if (dir) {
      spawnSync(BUILDAH ?? 'true', ['rm', '-a'], { env });
      spawnSync('umount', ['-R', join(dir, 'graph')], { env });
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the kubelet recipe (buildah from scratch, add, annotation, commit)', async (t) => {
    const ctr = run(BUILDAH!, ['from', 'scratch']).trim();
    run(BUILDAH!, ['add', ctr, ARCHIVE, '/']);
    run(BUILDAH!, ['config', '--annotation', 'io.kubernetes.cri-o.annotations.checkpoint.name=series', ctr]);
    run(BUILDAH!, ['commit', '-q', ctr, 'localhost/kube-ckpt:1']);
    run(BUILDAH!, ['rm', ctr]);
    await checkEverywhere(t, 'localhost/kube-ckpt:1', 'kube', {
      'io.kubernetes.cri-o.annotations.checkpoint.name': 'series',
    });
  });

  test('checkpointctl build', async (t) => {
    if (CHECKPOINTCTL === null) {
      t.skip('checkpointctl not found');
      return;
    }
    run(CHECKPOINTCTL, ['build', ARCHIVE, 'localhost/ctl-ckpt:1']);
    await checkEverywhere(t, 'localhost/ctl-ckpt:1', 'ctl', {
      'org.criu.checkpoint.container.name': 'ps1',
      'org.criu.checkpoint.engine.name': 'Podman',
      'org.criu.checkpoint.runtime.name': 'runc',
    });
  });
});
