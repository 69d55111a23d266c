/**
 * Checkpoint archives as stack layers (src/source/archive): the five real podman archives in
 * test/fixtures/archives (podman 4.3.1 + runc + CRIU 4.2, see the README in the shared fixtures),
 * CRI-O / containerd / bare-CRIU / multi-layer archives BUILT here from member lists (not captured:
 * no CRI-O or containerd on these machines), and hostile archives.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  Archive,
  ArchiveError,
  detectFormat,
  openArchiveSource,
  pendingTempDirs,
} from '../src/source/archive/index.js';
import { openSource, openTarget } from '../src/source/open.js';
import { cli } from './helpers/cli.js';
import { testDir } from './helpers/files.js';
import { FIX, ROOT } from './helpers/fixtures.js';
import { dirEntries, makeTar, type TarEntry } from './helpers/tar.js';

export const ARCHIVES = join(ROOT, 'test', 'fixtures', 'archives');
const arch = (n: string): string => join(ARCHIVES, n);
const STEP0 = arch('podman-series-step0.tar');
const ALL = [
  'podman-series-step0.tar',
  'podman-series-step0.tar.gz',
  'podman-series-step0.tar.zst',
  'podman-series-step0.tar.xz',
  'podman-series-step0.tar.bz2',
  'podman-series-step1.tar',
  'podman-series-step2.tar',
];
const R = 0x300000000000;
const SEED_A = 0xc100000000000000n;
const SEED_B = 0xc300000000000000n;
const SEED_C = 0xc400000000000000n;

/** The series pattern: the word at address a is u64_le(a ^ seed). */
function patternOk(bytes: Uint8Array, addr: number, seed: bigint): boolean {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i + 8 <= bytes.length; i += 8) {
    if (v.getBigUint64(i, true) !== (BigInt(addr + i) ^ seed)) return false;
  }
  return true;
}

test('fixture archives: format from the bytes, podman layout, 31 members, pattern memory through the stack', async () => {
  const formats = ['tar', 'gzip', 'zstd', 'xz', 'bzip2', 'tar', 'tar'];
  for (const [i, name] of ALL.entries()) {
    const head = readFileSync(arch(name)).subarray(0, 512);
    assert.equal(detectFormat(head), formats[i], name);
    const src = await openArchiveSource(arch(name));
    assert.equal(src.archive.engine, 'podman');
    assert.equal(src.archive.imageDir, 'checkpoint');
    assert.equal(src.archive.index.members.length, 31, name);
    assert.ok((await src.list()).includes('pages-1.img'));
    const stack = await openTarget(arch(name));
    try {
      const mem = await stack.process(1);
      const step = name.includes('step1') ? 1 : name.includes('step2') ? 2 : 0;
      // R pages 0-31: A at step 0, B after; pages 32-63: A, B, C
      const p0 = await mem.read(R, 32 * 4096);
      assert.ok(patternOk(p0, R, step === 0 ? SEED_A : SEED_B), `${name} R 0-31`);
      const p32 = await mem.read(R + 32 * 4096, 32 * 4096);
      assert.ok(patternOk(p32, R + 32 * 4096, [SEED_A, SEED_B, SEED_C][step]!), `${name} R 32-63`);
      const p96 = await mem.read(R + 96 * 4096, 416 * 4096);
      assert.ok(patternOk(p96, R + 96 * 4096, SEED_A), `${name} R 96-511`);
    } finally {
      await stack.close();
    }
  }
});

test('members read in place: the tar sizes and bytes agree with GNU tar; one page read reads a few KiB', async () => {
  const src = await openArchiveSource(STEP0);
  const listing = execFileSync('tar', ['-tvf', STEP0], { encoding: 'utf8' }).trim().split('\n');
  const ours = src.archive.index.members;
  assert.equal(ours.length, listing.length);
  for (const [i, line] of listing.entries()) {
    const f = line.split(/\s+/);
    assert.equal(ours[i]!.name, f[5]!.replace(/\/$/, ''));
    assert.equal(ours[i]!.size, Number(f[2]));
  }
  const viaTar = execFileSync('tar', ['-xOf', STEP0, 'checkpoint/mm-1.img']);
  assert.deepEqual(Buffer.from((await src.readFile('mm-1.img'))!), viaTar);
  await src.close();

  // count what the container is asked for while reading one page
  const top = await openArchiveSource(STEP0);
  const c = top.archive.container as unknown as {
    read: (b: Uint8Array, o: number, l: number, p: number) => Promise<number>;
    readSync: (b: Uint8Array, o: number, l: number, p: number) => number;
  };
  let bytes = 0;
  const r = c.read.bind(c);
  const rs = c.readSync.bind(c);
  c.read = (b, o, l, p) => {
    bytes += l;
    return r(b, o, l, p);
  };
  c.readSync = (b, o, l, p) => {
    bytes += l;
    return rs(b, o, l, p);
  };
  const { openStack } = await import('../src/stack/stack.js');
  const stack = await openStack(top);
  const mem = await stack.process(1);
  const page = await mem.read(R + 200 * 4096, 4096);
  assert.ok(patternOk(page, R + 200 * 4096, SEED_A));
  await stack.close();
  assert.ok(bytes < 64 * 1024, `read ${bytes} bytes of a ${statSync(STEP0).size}-byte archive for one page`);
});

test('compressed archives: unpacked once to memory, or to a private 0700 temp dir removed on close', async () => {
  for (const name of [
    'podman-series-step0.tar.gz',
    'podman-series-step0.tar.zst',
    'podman-series-step0.tar.xz',
    'podman-series-step0.tar.bz2',
  ]) {
    const before = pendingTempDirs().length;
    const a = await Archive.open(arch(name), { memoryLimit: 64 * 1024 });
    const dirs = pendingTempDirs();
    assert.equal(dirs.length, before + 1, `${name}: one temp dir`);
    const dir = dirs[dirs.length - 1]!;
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(dir), ['archive.tar']);
    assert.equal(statSync(join(dir, 'archive.tar')).size, 2_522_624);
    const pages = await a.readMember('checkpoint/pages-1.img');
    assert.equal(pages?.length, 2_428_928);
    a.release();
    assert.throws(() => statSync(dir), /ENOENT/);
    // small enough: no temp dir at all
    const b = await Archive.open(arch(name));
    assert.equal(pendingTempDirs().length, before);
    b.release();
  }
});

test('a decompression bomb is refused past the (settable) limit', async () => {
  await assert.rejects(Archive.open(arch('podman-series-step0.tar.gz'), { limit: 1 << 20 }), (e: Error) => {
    assert.ok(e instanceof ArchiveError);
    assert.match(e.message, /step0\.tar\.gz: decompresses to more than 1048576 bytes .*decompression bomb/);
    return true;
  });
  const dir = testDir('bomb');
  const bomb = join(dir, 'bomb.tar.gz');
  writeFileSync(bomb, gzipSync(new Uint8Array(64 << 20)));
  const old = process.env['PAGESTACK_UNPACK_LIMIT'];
  process.env['PAGESTACK_UNPACK_LIMIT'] = '8M';
  try {
    const r = await cli(['show', bomb]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^pagestack: .*bomb\.tar\.gz: decompresses to more than 8388608 bytes/);
  } finally {
    if (old === undefined) delete process.env['PAGESTACK_UNPACK_LIMIT'];
    else process.env['PAGESTACK_UNPACK_LIMIT'] = old;
  }
});

test('every reading command takes an archive: show, maps, read, verify, diff, export, decode ARCHIVE MEMBER', async () => {
  const dir = testDir('archive-cli');
  const gz = arch('podman-series-step0.tar.gz');
  let r = await cli(['show', '--json', arch('podman-series-step0.tar.zst')]);
  assert.equal(r.code, 0, r.err);
  assert.equal((JSON.parse(r.out) as { processes: unknown[] }).processes.length, 1);
  r = await cli(['maps', gz]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /\[heap\]|heap/);
  r = await cli(['read', arch('podman-series-step1.tar'), '0x300000000000', '8', '--raw']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.bytes.readBigUInt64LE(0), BigInt(R) ^ SEED_B);
  for (const a of ALL) {
    r = await cli(['verify', arch(a)]);
    assert.equal(r.code, 0, `${a}: ${r.out}${r.err}`);
  }
  r = await cli(['diff', arch('podman-series-step1.tar'), arch('podman-series-step2.tar')]);
  assert.match(r.out, /pid 1: 68 pages changed, 64 added, 64 removed/);
  r = await cli(['export', gz, '-o', join(dir, 'core')]);
  assert.equal(r.code, 0, r.err);
  assert.ok(statSync(join(dir, 'core')).size > 2_400_000);
  r = await cli(['decode', arch('podman-series-step0.tar.zst'), 'pstree.img']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), {
    magic: 'PSTREE',
    entries: [{ pid: 1, ppid: 0, pgid: 1, sid: 1, threads: [1] }],
  });
  r = await cli(['decode', STEP0, 'stats-dump']);
  assert.match(r.out, /"pages_written": 593/);
  r = await cli(['decode', STEP0, 'checkpoint/inventory.img']);
  assert.match(r.out, /"magic": "INVENTORY"/);
  r = await cli(['decode', STEP0, 'nope.img']);
  assert.equal(r.code, 1);
  assert.match(r.err, /step0\.tar: no member "nope\.img"/);
});

test('built archives: three layers in one archive (parent links inside), --parent for a link that leaves it', async () => {
  const dir = testDir('archive-layers');
  const stackDir = join(FIX, 'series-stack');
  const three = join(dir, 'three.tar');
  writeFileSync(
    three,
    makeTar([
      ...dirEntries(join(stackDir, '3'), 'checkpoint', '../pre-2'),
      ...dirEntries(join(stackDir, '2'), 'pre-2', '../pre-1'),
      ...dirEntries(join(stackDir, '1'), 'pre-1'),
    ]),
  );
  const ref = await openTarget(join(stackDir, '3'));
  const got = await openTarget(three);
  try {
    assert.equal(got.layers.length, 3);
    assert.deepEqual(
      got.layers.map((l) => l.source.name),
      [`${three}:checkpoint`, `${three}:pre-2`, `${three}:pre-1`],
    );
    const pid = (await ref.processes())[0]!.pid;
    const a = await ref.process(pid);
    const b = await got.process(pid);
    for (const v of a.vmas) {
      const x = await a.read(v.start, v.end - v.start, { zero: true });
      const y = await b.read(v.start, v.end - v.start, { zero: true });
      assert.ok(Buffer.from(x).equals(Buffer.from(y)), `vma 0x${v.start.toString(16)}`);
    }
  } finally {
    await ref.close();
    await got.close();
  }
  // podman --with-previous: checkpoint/parent -> ../pre-checkpoint, not in the archive
  const top = join(dir, 'top.tar');
  writeFileSync(top, makeTar(dirEntries(join(stackDir, '3'), 'checkpoint', '../pre-checkpoint')));
  let r = await cli(['show', top]);
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /top\.tar: member "checkpoint\/parent" links to "\.\.\/pre-checkpoint", which is not a directory in this archive; give the layer below with --parent/,
  );
  const out = join(dir, 'out.tar');
  writeFileSync(out, makeTar(dirEntries(join(stackDir, '3'), 'checkpoint', '../../../etc')));
  r = await cli(['show', out]);
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /out\.tar: member "checkpoint\/parent" links to "\.\.\/\.\.\/\.\.\/etc", outside the archive; it is not followed/,
  );
  // the layer below supplied from outside: a directory, or another archive
  const two = join(dir, 'two.tar');
  writeFileSync(
    two,
    makeTar([
      ...dirEntries(join(stackDir, '2'), 'checkpoint', '../pre-1'),
      ...dirEntries(join(stackDir, '1'), 'pre-1'),
    ]),
  );
  for (const parent of [join(stackDir, '2'), two]) {
    const s = await openTarget(out, { parent });
    assert.equal(s.layers.length, 3);
    await s.close();
  }
  const src = await openSource(top, { parent: two });
  assert.equal((await src.parent())?.name, `${two}:checkpoint`);
  await src.close?.();
});

test('built archives: CRI-O, containerd and bare CRIU layouts; pax and GNU long names', async () => {
  const dir = testDir('archive-layouts');
  const step0 = await openArchiveSource(STEP0);
  const cp: TarEntry[] = [{ name: 'checkpoint/', type: '5' }];
  for (const f of await step0.list()) cp.push({ name: `checkpoint/${f}`, data: (await step0.readFile(f))! });
  const spec = (await step0.archive.readText('spec.dump'))!;
  await step0.close();
  const crio: TarEntry[] = [
    ...cp,
    {
      name: 'config.dump',
      data: '{"id":"ba8851860f44","name":"k8s_series_pod","rootfsImageName":"localhost/pagestack-series:1"}',
    },
    { name: 'spec.dump', data: spec },
    { name: 'bind.mounts', data: '[]' },
    { name: 'dump.log', data: 'Dumping finished successfully\n' },
    { name: 'stats-dump', data: readFileSync(join(FIX, 'single', 'stats-dump')) },
    { name: 'io.kubernetes.cri-o.LogPath', data: '2026-12-01T08:44:47Z stdout F series step 0 pid 1\n' },
  ];
  const cases: [string, TarEntry[], string][] = [
    ['crio.tar', crio, 'CRI-O'],
    [
      'containerd.tar',
      [
        ...crio,
        { name: 'status', data: '{}' },
        { name: 'status.dump', data: '{}' },
        { name: 'container.log', data: '' },
      ],
      'containerd',
    ],
    ['bare-root.tar', dirEntries(join(FIX, 'single'), '.'), 'criu'],
    ['bare-dir.tar', dirEntries(join(FIX, 'single'), 'single'), 'criu'],
  ];
  const long = `${'d'.repeat(120)}/${'e'.repeat(90)}`;
  for (const mode of ['pax', 'gnu'] as const) {
    const name = `long-${mode}.tar`;
    writeFileSync(join(dir, name), makeTar(dirEntries(join(FIX, 'single'), long), { longNames: mode }));
    const s = await openArchiveSource(join(dir, name));
    assert.equal(s.dir, long);
    assert.equal(s.archive.engine, 'criu');
    assert.ok((await s.list()).includes('pstree.img'));
    await s.close();
  }
  for (const [name, entries, engine] of cases) {
    writeFileSync(join(dir, name), makeTar(entries));
    const s = await openArchiveSource(join(dir, name));
    assert.equal(s.archive.engine, engine, name);
    await s.close();
    const r = await cli(['verify', join(dir, name)]);
    assert.equal(r.code, 0, `${name}: ${r.out} ${r.err}`);
  }
});

test('bad archives: one line naming the archive and the member or offset, exit 1, no temp dir left', async () => {
  const dir = testDir('archive-bad');
  const good = readFileSync(STEP0);
  const gz = readFileSync(arch('podman-series-step0.tar.gz'));
  const zst = readFileSync(arch('podman-series-step0.tar.zst'));
  const xz = readFileSync(arch('podman-series-step0.tar.xz'));
  const bz2 = readFileSync(arch('podman-series-step0.tar.bz2'));
  const img = { name: 'checkpoint/inventory.img', data: readFileSync(join(FIX, 'single', 'inventory.img')) };
  const badSum = Buffer.from(good);
  badSum[0] = badSum[0]! ^ 1; // first header's name: checksum no longer matches
  const cases: [string, Uint8Array, RegExp][] = [
    [
      'cut-mid-member.tar',
      good.subarray(0, 1_000_000),
      /cut-mid-member\.tar: member "checkpoint\/pages-1\.img" at offset \d+: 2428928 bytes of data run past the end/,
    ],
    [
      'cut-header.tar',
      good.subarray(0, 512 + 100),
      /cut-header\.tar: header at offset 512 cut off after 100 bytes/,
    ],
    [
      'no-end.tar',
      makeTar([img]).subarray(0, 1024),
      /no-end\.tar: ends at offset 1024 without the end-of-archive blocks/,
    ],
    ['bad-sum.tar', badSum, /bad-sum\.tar: header at offset 0: bad header checksum/],
    [
      'dup.tar',
      makeTar([img, img]),
      /dup\.tar: member "checkpoint\/inventory\.img" at offset 1024: duplicate of the member at offset 0/,
    ],
    [
      'dotdot.tar',
      makeTar([img, { name: 'checkpoint/../../etc/passwd', data: 'x' }]),
      /dotdot\.tar: member "checkpoint\/\.\.\/\.\.\/etc\/passwd" at offset 1024: a name with "\.\."/,
    ],
    [
      'abs.tar',
      makeTar([{ name: '/etc/passwd', data: 'x' }, img]),
      /abs\.tar: member "\/etc\/passwd" at offset 0: an absolute name/,
    ],
    [
      'symlink-out.tar',
      makeTar([img, { name: 'checkpoint/pstree.img', type: '2', linkname: '/etc/passwd' }]),
      /symlink-out\.tar: member "checkpoint\/pstree\.img" at offset 1024: symlink to "\/etc\/passwd" leaves the archive/,
    ],
    [
      'symlink-up.tar',
      makeTar([img, { name: 'checkpoint/pstree.img', type: '2', linkname: '../../x' }]),
      /symlink-up\.tar: member "checkpoint\/pstree\.img" .*leaves the archive/,
    ],
    [
      'hardlink-out.tar',
      makeTar([img, { name: 'checkpoint/pstree.img', type: '1', linkname: '/etc/shadow' }]),
      /hardlink-out\.tar: member "checkpoint\/pstree\.img" at offset 1024: hard link to "\/etc\/shadow", which is not a file earlier in the archive/,
    ],
    [
      'no-checkpoint.tar',
      makeTar([{ name: 'config.dump', data: '{}' }]),
      /no-checkpoint\.tar: no checkpoint\/ directory and no inventory\.img/,
    ],
    [
      'empty-checkpoint.tar',
      makeTar([
        { name: 'checkpoint/', type: '5' },
        { name: 'checkpoint/x', data: '' },
      ]),
      /empty-checkpoint\.tar: member "checkpoint\/" has no inventory\.img/,
    ],
    [
      'cut.tar.gz',
      gz.subarray(0, gz.length - 5000),
      /cut\.tar\.gz: gzip stream broken near compressed offset \d+ \(unexpected end of file\)/,
    ],
    [
      'cut.tar.zst',
      zst.subarray(0, zst.length - 5000),
      /cut\.tar\.zst: zstd stream broken|cut\.tar\.zst: .*truncated|cut\.tar\.zst: header at offset|cut\.tar\.zst: member/,
    ],
    [
      'garbage.gz',
      Buffer.concat([gz.subarray(0, 20), Buffer.alloc(5000, 0x55)]),
      /garbage\.gz: gzip stream broken near compressed offset/,
    ],
    [
      'notar.gz',
      gzipSync(Buffer.from('hello world')),
      /notar\.gz: the gzip stream does not hold a tar archive/,
    ],
    [
      'x.xz',
      Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 0, 0]),
      /x\.xz: xz stream broken near compressed offset \d+ \(.*\), expected a complete xz stream/,
    ],
    [
      'cut.tar.xz',
      xz.subarray(0, xz.length - 5000),
      /cut\.tar\.xz: xz stream broken near compressed offset|cut\.tar\.xz: .*(truncated|member|header at offset)/,
    ],
    [
      'cut.tar.bz2',
      bz2.subarray(0, bz2.length - 5000),
      /cut\.tar\.bz2: bzip2 stream broken near compressed offset|cut\.tar\.bz2: .*(truncated|member|header at offset)/,
    ],
    [
      'garbage.bz2',
      Buffer.concat([bz2.subarray(0, 20), Buffer.alloc(5000, 0x55)]),
      /garbage\.bz2: bzip2 stream broken near compressed offset/,
    ],
    [
      'random.bin',
      Buffer.alloc(4096, 0xab),
      /random\.bin: not an image directory or a checkpoint archive \(expected a tar, gzip, zstd, xz or bzip2 file; 512 bytes start ab ab/,
    ],
    ['empty.tar', Buffer.alloc(0), /empty\.tar: not an image directory or a checkpoint archive .*\(empty\)/],
  ];
  const before = pendingTempDirs().length;
  for (const [name, bytes, want] of cases) {
    writeFileSync(join(dir, name), bytes);
    for (const cmd of [['show'], ['read', '--pid', '1']]) {
      const args =
        cmd[0] === 'read' ? ['read', join(dir, name), '0x300000000000', '16'] : [...cmd, join(dir, name)];
      const r = await cli(args);
      assert.equal(r.code, 1, `${name} ${cmd[0]}: code ${r.code} ${r.err}`);
      assert.match(r.err, want, name);
      assert.equal(r.err.trim().split('\n').length, 1, `${name}: one line`);
      assert.ok(!/internal error|\n\s+at /.test(r.err), `${name}: ${r.err}`);
    }
  }
  assert.equal(pendingTempDirs().length, before);
  assert.deepEqual(
    readdirSync(dir).sort(),
    cases.map((c) => c[0]).sort(),
    'nothing written beside the archives',
  );
});

test('delta OLD.tar NEW.tar -o DIR: the kubelet series of full archives becomes one small stack', async () => {
  const dir = testDir('archive-delta');
  const one = join(dir, '1');
  const two = join(dir, '2');
  let r = await cli(['delta', STEP0, arch('podman-series-step1.tar'), '-o', one]);
  assert.equal(r.code, 0, r.err);
  r = await cli(['delta', one, arch('podman-series-step2.tar'), '-o', two]);
  assert.equal(r.code, 0, r.err);
  // step1 -> step2: 68 changed pages + 64 new (N) kept, the rest shared (fixtures README)
  assert.match(r.out, /132 pages kept, 461 shared with the parent/);
  assert.ok(statSync(join(two, 'pages-1.img')).size === 132 * 4096);
  r = await cli(['verify', two]);
  assert.equal(r.code, 0, r.out + r.err);
  r = await cli(['diff', two, arch('podman-series-step2.tar')]);
  assert.match(r.out, /pid 1: 0 pages changed, 0 added, 0 removed, 593 equal/);
  const s = await openTarget(two);
  assert.deepEqual(
    s.layers.map((l) => l.source.name),
    [two, one, `${STEP0}:checkpoint`],
  );
  await s.close();
});

test('squash TOP -o OUT.tar[.gz|.zst] --like ARCHIVE: the podman metadata members, checkpoint/ with every page', async () => {
  const dir = testDir('archive-squash');
  const one = join(dir, '1');
  const two = join(dir, '2');
  assert.equal((await cli(['delta', STEP0, arch('podman-series-step1.tar'), '-o', one])).code, 0);
  assert.equal((await cli(['delta', one, arch('podman-series-step2.tar'), '-o', two])).code, 0);
  const like = arch('podman-series-step2.tar');
  const model = await Archive.open(like);
  for (const [ext, format] of [
    ['tar', 'tar'],
    ['tar.gz', 'gzip'],
    ['tar.zst', 'zstd'],
  ] as const) {
    const out = join(dir, `squashed.${ext}`);
    const r = await cli(['squash', two, '-o', out, '--like', like]);
    assert.equal(r.code, 0, r.err);
    const a = await Archive.open(out);
    assert.equal(a.format, format);
    assert.equal(a.engine, 'podman');
    // same member names, order and modes; metadata bytes equal
    assert.deepEqual(
      a.index.members.map((m) => [m.name, m.mode & 0o7777]),
      model.index.members.map((m) => [m.name, m.mode & 0o7777]),
    );
    for (const m of model.index.members) {
      if (m.type === 'file' && !m.name.startsWith('checkpoint/')) {
        assert.deepEqual(await a.readMember(m.name), await model.readMember(m.name), m.name);
      }
    }
    a.release();
    const d = await cli(['diff', out, like]);
    assert.match(d.out, /pid 1: 0 pages changed, 0 added, 0 removed, 593 equal/);
    const s = await openTarget(out);
    assert.equal(s.layers.length, 1, 'self-contained');
    await s.close();
    assert.equal((await cli(['verify', out])).code, 0);
    // GNU tar agrees it is a tar
    execFileSync('tar', ['-tf', out]);
  }
  model.release();
  const again = await cli(['squash', two, '-o', join(dir, 'squashed.tar'), '--like', like]);
  assert.equal(again.code, 2);
  assert.match(again.err, /already exists/);
  assert.deepEqual(readdirSync(dir).sort(), [
    '1',
    '2',
    'squashed.tar',
    'squashed.tar.gz',
    'squashed.tar.zst',
  ]);
});
