/**
 * `pagestack inspect` on the real podman archives, and on CRI-O / containerd / bare-CRIU archives
 * BUILT here from the issue's member lists (not captured: no CRI-O or containerd on these
 * machines). checkpointctl 1.x's `inspect --ps-tree --files` of podman-series-step0.tar, run by
 * hand on this machine, showed: ps1, image localhost/pagestack-series:1, id ba885186…, runtime
 * runc, created 2026-12-01T08:44:47Z, engine Podman, process [1] series, fds REG 0 /dev/null,
 * PIPE 1 pipe[78007], PIPE 2 pipe[78008], cwd /, root /: the expectations below agree with it.
 */
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { InspectReport } from '../src/ops/inspect.js';
import { openArchiveSource } from '../src/source/archive/index.js';
import { cli } from './helpers/cli.js';
import { testDir } from './helpers/files.js';
import { FIX, ROOT } from './helpers/fixtures.js';
import { dirEntries, makeTar, type TarEntry } from './helpers/tar.js';

const ARCHIVES = join(ROOT, 'test', 'fixtures', 'archives');
const ENV = [
  'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'TERM=xterm',
  'container=podman',
  'HOSTNAME=ba8851860f44',
  'HOME=/',
];

async function inspectJson(args: string[]): Promise<InspectReport> {
  const r = await cli(['inspect', ...args, '--json']);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out) as InspectReport;
}

test('inspect the podman fixture archives: container, process from memory, files, mounts, stats, layers', async () => {
  for (const name of [
    'podman-series-step0.tar',
    'podman-series-step0.tar.gz',
    'podman-series-step0.tar.zst',
    'podman-series-step1.tar',
    'podman-series-step2.tar',
  ]) {
    const r = await inspectJson([join(ARCHIVES, name)]);
    assert.deepEqual(Object.keys(r), [
      'target',
      'engine',
      'archive',
      'container',
      'processes',
      'mounts',
      'stats',
      'layers',
      'image',
      'sizes',
      'ociMounts',
    ]);
    assert.equal(r.engine, 'podman');
    assert.equal(r.archive?.members, 31);
    assert.equal(r.archive?.format, name.endsWith('.gz') ? 'gzip' : name.endsWith('.zst') ? 'zstd' : 'tar');
    const c = r.container!;
    assert.equal(c.name, 'ps1');
    assert.equal(c.id, 'ba8851860f44c586e7d6643f34e8acd9565c41b722fef7f1d3c640fa8b240ed4');
    assert.equal(c.image, 'localhost/pagestack-series:1');
    assert.equal(c.imageId, '42ad6b06262dd7962a34d9a2bebeab761612190351a7bb3943565aaa7070108a');
    assert.equal(c.runtime, 'runc');
    assert.equal(c.created, '2026-12-01T08:44:47.212439481Z');
    // podman 4.3.1 exports no checkpoint time: it is stats-dump's tar time (CRIU writes it last)
    const statsTime: Record<string, string> = {
      'podman-series-step0.tar': '08:45:43',
      'podman-series-step0.tar.gz': '08:45:48',
      'podman-series-step0.tar.zst': '08:45:48',
      'podman-series-step1.tar': '08:46:10',
      'podman-series-step2.tar': '08:46:11',
    };
    assert.equal(c.checkpointed, `2026-12-01T${statsTime[name]}.000Z`);
    assert.equal(c.checkpointedSource, 'stats-dump');
    assert.deepEqual(c.command, ['/series', '/tmp']);
    assert.equal(c.annotations['io.container.manager'], 'libpod');
    assert.equal(r.processes.length, 1);
    const p = r.processes[0]!;
    assert.equal(p.pid, 1);
    assert.equal(p.comm, 'series');
    assert.equal(p.state, 'alive');
    assert.deepEqual(p.cmdline, ['/series', '/tmp']);
    assert.deepEqual(p.environment, ENV);
    assert.equal(p.exe, '/series');
    assert.equal(p.cwd, '/');
    assert.equal(p.root, '/');
    assert.deepEqual(p.files, [
      { fd: 0, type: 'REG', path: '/dev/null' },
      { fd: 1, type: 'PIPE', path: 'pipe:[78007]' },
      { fd: 2, type: 'PIPE', path: 'pipe:[78008]' },
    ]);
    assert.deepEqual(p.sockets, []);
    assert.equal(r.mounts.length, 29);
    assert.ok(r.mounts.some((m) => m.mountpoint === '/proc' && m.fstype === 'proc'));
    // the root: CRIU's fstype 0 (no driver: a host filesystem, bind-mounted), code kept beside the name
    assert.ok(r.mounts.some((m) => m.mountpoint === '/' && m.fstypeCode === 0 && m.source === '/dev/vda'));
    // what checkpointctl shows: the OCI mounts of spec.dump and the sizes
    assert.equal(r.ociMounts?.length, 10);
    assert.deepEqual(r.ociMounts?.find((m) => m.destination === '/etc/hosts')?.type, 'bind');
    assert.equal(r.sizes.memoryPages, 593 * 4096);
    assert.equal(r.sizes.archive, statSync(join(ARCHIVES, name)).size);
    assert.ok((r.sizes.rootfsDiff ?? 0) > 0);
    assert.equal(r.stats?.['pages_written'], 593);
    assert.equal(r.stats?.['pages_scanned'], 601);
    assert.deepEqual(
      r.layers.map((l) => [l.index, l.number, l.pages, l.pagesUsed]),
      [[0, 1, 593, 593]],
    );
  }
  // step0.tar's stats-dump per the fixtures README: frozen_time 176004 µs
  const s0 = await inspectJson([join(ARCHIVES, 'podman-series-step0.tar')]);
  assert.equal(s0.stats?.['frozen_time'], 176004);
});

test('inspect text: sections chosen by flags', async () => {
  const a = join(ARCHIVES, 'podman-series-step1.tar');
  let r = await cli(['inspect', a]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /engine {7}podman \(tar archive, 31 members, images in checkpoint\/\)/);
  assert.match(r.out, /checkpointed 2026-12-01T08:46:10\.000Z \(time of stats-dump, CRIU's last file\)/);
  assert.match(r.out, /^ {2}1 series \[alive\] \/series \/tmp$/m);
  assert.doesNotMatch(r.out, /env TERM|mounts \(|dump statistics|fd 0/);
  r = await cli(['inspect', a, '--ps-tree', '--stats']);
  assert.match(r.out, /env HOSTNAME=ba8851860f44/);
  assert.match(r.out, /pages written {5}593/);
  assert.doesNotMatch(r.out, /mounts \(/);
  r = await cli(['inspect', a, '--files', '--mounts']);
  assert.match(r.out, /fd 1 PIPE pipe:\[78007\]/);
  assert.match(r.out, /cwd \/ {2}root \/ {2}exe \/series/);
  assert.match(
    r.out,
    /\nmounts \(10, from spec\.dump; --criu: CRIU's 29 mountpoints\):\n +destination +type +source\n/,
  );
  assert.match(r.out, /\n {2}\/etc\/hosts +bind +\/opt\/podman-work\/runroot\/\S+\/userdata\/hosts\n/);
  assert.match(r.out, /\n {2}sizes {8}archive [\d.]+ MiB, memory pages 2\.3 MiB, root-fs diff [\d.]+ KiB\n/);
  r = await cli(['inspect', a, '--mounts', '--criu']);
  assert.match(r.out, /CRIU mount tree \(29 mountpoints of the root task\):/);
  assert.match(r.out, /\n +70 +47 +\/ +host fs +\/dev\/vda /);
  assert.match(r.out, /\n {2}host fs: CRIU's fstype 0 \(UNSUPPORTED\)/);
  assert.equal((await cli(['inspect', a, '--criu'])).code, 2);
  r = await cli(['inspect', a, '--all']);
  for (const want of [
    /env TERM=xterm/,
    /fd 0 REG \/dev\/null/,
    /\(no sockets\)/,
    /mounts \(10, from spec\.dump/,
    /frozen time/,
  ])
    assert.match(r.out, want);
});

test('inspect built CRI-O and containerd archives: engine, pod, namespace, annotations; a bare tree of processes', async () => {
  const dir = testDir('inspect-built');
  const step0 = await openArchiveSource(join(ARCHIVES, 'podman-series-step0.tar'));
  const cp: TarEntry[] = [{ name: 'checkpoint/', type: '5' }];
  for (const f of await step0.list()) cp.push({ name: `checkpoint/${f}`, data: (await step0.readFile(f))! });
  const statsDump = (await step0.archive.readMember('stats-dump'))!;
  await step0.close();
  const annotations = {
    'io.kubernetes.cri-o.Created': '2026-12-01T08:44:47.212439481Z',
    'io.kubernetes.pod.name': 'series-pod',
    'io.kubernetes.pod.namespace': 'default',
    'io.kubernetes.container.name': 'series',
    'io.kubernetes.cri-o.ImageName': 'localhost/pagestack-series:1',
  };
  const crio: TarEntry[] = [
    ...cp,
    {
      name: 'config.dump',
      data: JSON.stringify({
        id: 'c0ffee',
        name: 'k8s_series_series-pod_default',
        rootfsImageName: 'localhost/pagestack-series:1',
        rootfsImageRef: 'sha256:42ad6b06',
        OCIRuntime: 'runc',
        createdTime: '2026-12-01T08:44:47Z',
        checkpointedTime: '2026-12-01T08:45:42Z',
      }),
    },
    {
      name: 'spec.dump',
      data: JSON.stringify({ ociVersion: '1.0.2', annotations, process: { args: ['/series', '/tmp'] } }),
    },
    { name: 'bind.mounts', data: '[]' },
    { name: 'dump.log', data: 'Dumping finished successfully\n' },
    { name: 'stats-dump', data: statsDump },
    { name: 'io.kubernetes.cri-o.LogPath', data: '' },
  ];
  const containerd = [
    ...crio,
    { name: 'status', data: '{}' },
    { name: 'status.dump', data: '{}' },
    { name: 'container.log', data: '' },
  ];
  for (const [name, entries, engine] of [
    ['crio.tar', crio, 'CRI-O'],
    ['containerd.tar', containerd, 'containerd'],
  ] as const) {
    writeFileSync(join(dir, name), makeTar(entries));
    const r = await inspectJson([join(dir, name)]);
    assert.equal(r.engine, engine);
    const c = r.container!;
    assert.equal(c.name, 'series');
    assert.equal(c.pod, 'series-pod');
    assert.equal(c.namespace, 'default');
    assert.equal(c.runtime, 'runc');
    assert.equal(c.checkpointed, '2026-12-01T08:45:42Z');
    assert.equal(c.checkpointedSource, 'config.dump');
    assert.equal(c.annotations['io.kubernetes.pod.name'], 'series-pod');
    assert.equal(r.stats?.['pages_written'], 593);
    assert.deepEqual(r.processes[0]!.environment, ENV);
  }
  // a tar of the tree fixture: three processes (one with two threads), shared memory; no container metadata
  const treeTar = join(dir, 'tree.tar.gz');
  const { gzipSync } = await import('node:zlib');
  writeFileSync(treeTar, gzipSync(makeTar(dirEntries(join(FIX, 'tree'), 'tree'))));
  const t = await inspectJson([treeTar]);
  assert.equal(t.engine, 'criu');
  assert.equal(t.container, null);
  assert.deepEqual(
    t.processes.map((p) => [p.pid, p.ppid, p.threads.length]),
    [
      [25155, 0, 1],
      [25158, 25155, 1],
      [25159, 25155, 2],
    ],
  );
  const direct = await inspectJson([join(FIX, 'tree')]);
  assert.deepEqual(t.processes, direct.processes, 'the same from the archive as from the directory');
  const r = await cli(['inspect', treeTar, '--ps-tree']);
  assert.match(r.out, /├── |└── /);
});
