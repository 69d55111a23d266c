/**
 * `pagestack export`: ELF cores checked by our own ELF parser (every PT_LOAD's bytes against Stack
 * reads and the fixtures' pattern formula), by readelf and by gdb; raw sparse exports byte for byte;
 * lazy pages in no segment; the CLI's summary line and errors.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  cpSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { formatSummary } from '../src/cli/export.js';
import { textProgressBar } from '../src/engine/progress.js';
import { ExportError, StackError } from '../src/errors.js';
import { formatBytes } from '../src/format.js';
import { decodeImage, encodeImage } from '../src/image/image.js';
import { PAGE_SIZE } from '../src/image/pagemap.js';
import type { Message } from '../src/image/schema.js';
import { exportElf, NT_AUXV, NT_FILE, NT_FPREGSET, NT_PRPSINFO, NT_PRSTATUS } from '../src/ops/export-elf.js';
import { exportRaw } from '../src/ops/export-raw.js';
import { processMaps } from '../src/ops/maps.js';
import { DirLayerSource } from '../src/source/dir.js';
import { openStackDir } from '../src/source/open.js';
import type { ProcessMemory } from '../src/stack/process.js';
import { findExtent, LAZY } from '../src/stack/resolve.js';
import type { LayerSource } from '../src/stack/source.js';
import { openStack, type Stack } from '../src/stack/stack.js';
import { cli, cliProcess } from './helpers/cli.js';
import { testDir } from './helpers/files.js';
import { expectedOf, FIX } from './helpers/fixtures.js';

const READELF = '/usr/bin/readelf';
const GDB = ['/usr/bin/gdb', '/usr/local/bin/gdb'].find((p) => existsSync(p));

const tmp = testDir('export');

// ---------------------------------------------------------------- a small ELF core reader

interface Phdr {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

interface Note {
  name: string;
  type: number;
  desc: Uint8Array;
}

interface Core {
  bytes: Uint8Array;
  phdrs: Phdr[];
  loads: Phdr[];
  notes: Note[];
}

function parseCore(path: string): Core {
  const bytes = new Uint8Array(readFileSync(path));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.deepEqual([...bytes.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], 'ELF magic');
  assert.equal(bytes[4], 2, 'ELFCLASS64');
  assert.equal(bytes[5], 1, 'little-endian');
  assert.equal(dv.getUint16(16, true), 4, 'ET_CORE');
  assert.equal(dv.getUint16(18, true), 62, 'EM_X86_64');
  const phoff = Number(dv.getBigUint64(32, true));
  assert.equal(dv.getUint16(54, true), 56);
  let phnum = dv.getUint16(56, true);
  if (phnum === 0xffff) {
    const shoff = Number(dv.getBigUint64(40, true));
    phnum = dv.getUint32(shoff + 44, true);
  }
  const phdrs: Phdr[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * 56;
    phdrs.push({
      type: dv.getUint32(p, true),
      flags: dv.getUint32(p + 4, true),
      offset: Number(dv.getBigUint64(p + 8, true)),
      vaddr: Number(dv.getBigUint64(p + 16, true)),
      filesz: Number(dv.getBigUint64(p + 32, true)),
      memsz: Number(dv.getBigUint64(p + 40, true)),
      align: Number(dv.getBigUint64(p + 48, true)),
    });
  }
  assert.equal(phdrs[0]?.type, 4, 'PT_NOTE first');
  const notes: Note[] = [];
  const np = phdrs[0]!;
  for (let at = np.offset; at < np.offset + np.filesz; ) {
    const namesz = dv.getUint32(at, true);
    const descsz = dv.getUint32(at + 4, true);
    const type = dv.getUint32(at + 8, true);
    const name = Buffer.from(bytes.subarray(at + 12, at + 12 + namesz - 1)).toString();
    const d = at + 12 + ((namesz + 3) & ~3);
    notes.push({ name, type, desc: bytes.subarray(d, d + descsz) });
    at = d + ((descsz + 3) & ~3);
  }
  return { bytes, phdrs, loads: phdrs.filter((p) => p.type === 1), notes };
}

/** Runs of dumped pages inside VMAs, computed here from the stack's extents (not from planRuns). */
function expectedRuns(pm: ProcessMemory): { start: number; end: number; prot: number }[] {
  const out: { start: number; end: number; prot: number }[] = [];
  for (const v of pm.vmas) {
    const mem = pm.shared.get(v) ?? pm.private;
    const delta = pm.shared.has(v) ? v.start - v.pgoff : 0;
    const x = mem.extents;
    let cur: { start: number; end: number; prot: number } | null = null;
    for (let i = findExtent(x, (v.start - delta) / PAGE_SIZE); i < x.count; i++) {
      const s = Math.max(x.start[i]! * PAGE_SIZE + delta, v.start);
      const e = Math.min(x.end[i]! * PAGE_SIZE + delta, v.end);
      if (s >= v.end) break;
      if (x.layer[i] === LAZY) {
        cur = null;
        continue;
      }
      if (cur && cur.end === s) cur.end = e;
      else {
        cur = { start: s, end: e, prot: v.prot };
        out.push(cur);
      }
    }
  }
  return out;
}

const pfOf = (prot: number) => (prot & 1 ? 4 : 0) | (prot & 2 ? 2 : 0) | (prot & 4 ? 1 : 0);

/** Every PT_LOAD as expected, page-aligned, and holding exactly what Stack reads there. */
async function checkLoads(core: Core, pm: ProcessMemory): Promise<void> {
  const want = expectedRuns(pm);
  assert.deepEqual(
    core.loads.map((l) => [l.vaddr, l.vaddr + l.memsz, l.flags]),
    want.map((r) => [r.start, r.end, pfOf(r.prot)]),
  );
  for (const l of core.loads) {
    assert.equal(l.filesz, l.memsz);
    assert.equal(l.offset % PAGE_SIZE, 0, 'file data page-aligned');
    assert.equal(l.align, PAGE_SIZE);
    const mem = await pm.read(l.vaddr, l.memsz);
    assert.ok(
      Buffer.from(core.bytes.subarray(l.offset, l.offset + l.filesz)).equals(mem),
      `PT_LOAD at 0x${l.vaddr.toString(16)}`,
    );
  }
}

/** The word at `addr` in the core, or undefined when no PT_LOAD holds it. */
function wordAt(core: Core, addr: number): bigint | undefined {
  for (const l of core.loads) {
    if (addr >= l.vaddr && addr + 8 <= l.vaddr + l.filesz) {
      const at = l.offset + addr - l.vaddr;
      return new DataView(core.bytes.buffer, core.bytes.byteOffset).getBigUint64(at, true);
    }
  }
  return undefined;
}

/** Every word of the expected.json pattern runs matches u64_le(A ^ SEED) in the core. */
function checkPattern(core: Core, runs: [number, number, string][], shift = 0): number {
  let words = 0;
  for (const [vaddr, n, seed] of runs) {
    const s = BigInt(seed);
    for (let a = vaddr; a < vaddr + n * PAGE_SIZE; a += 8) {
      const w = wordAt(core, a + shift);
      assert.equal(w, BigInt(a) ^ s, `word at 0x${(a + shift).toString(16)}`);
      words++;
    }
  }
  return words;
}

function readelf(path: string): string {
  const r = spawnSync(READELF, ['-lnW', path], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /error|warning: .*corrupt/i);
  return r.stdout;
}

/** PT_LOAD lines of `readelf -lW`: [vaddr, filesz, memsz, flags]. */
function readelfLoads(out: string): [number, number, number, string][] {
  const rows: [number, number, number, string][] = [];
  for (const m of out.matchAll(
    /^\s+LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+([RWE ]+?)\s+0x/gm,
  )) {
    rows.push([
      Number.parseInt(m[2]!, 16),
      Number.parseInt(m[3]!, 16),
      Number.parseInt(m[4]!, 16),
      m[5]!.trim(),
    ]);
  }
  return rows;
}

function gdb(core: string, ...cmds: string[]): string {
  const args = ['-nx', '-batch', '-c', core];
  for (const c of cmds) args.push('-ex', c);
  const r = spawnSync(GDB!, args, { encoding: 'utf8' });
  return `${r.stdout}\n${r.stderr}`;
}

function gdbWords(out: string): bigint[] {
  const words: bigint[] = [];
  for (const m of out.matchAll(/^0x[0-9a-f]+:\s+(.*)$/gm)) {
    for (const w of m[1]!.trim().split(/\s+/)) words.push(BigInt(w));
  }
  return words;
}

async function withStack<T>(dir: string, f: (s: Stack) => Promise<T>): Promise<T> {
  const s = await openStackDir(dir.startsWith('/') ? dir : join(FIX, dir));
  try {
    return await f(s);
  } finally {
    await s.close();
  }
}

function noTemps(dir: string): void {
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.includes('pagestack-tmp')),
    [],
    'no temporary files left',
  );
}

// ---------------------------------------------------------------- ELF

describe('ELF core', () => {
  test('single/: PT_LOADs are the dumped runs inside VMAs, bytes equal Stack reads and the pattern', async () => {
    const out = join(tmp, 'single.elf');
    await withStack('single', async (s) => {
      const sum = await exportElf(s, out);
      const pm = await s.process(24588);
      const core = parseCore(out);
      await checkLoads(core, pm);
      assert.equal(sum.segments, core.loads.length);
      assert.equal(sum.pages, 541);
      assert.equal(sum.bytes, 541 * PAGE_SIZE);
      assert.equal(sum.layersUsed, 1);
      assert.equal(sum.lazyBytes, 0);
      // the dense region is one segment; each sparse page is a segment of its own
      assert.ok(core.loads.some((l) => l.vaddr === 0x100000000000 && l.memsz === 256 * PAGE_SIZE));
      assert.equal(
        core.loads.filter((l) => l.vaddr >= 0x100040000000 && l.vaddr < 0x100040400000).length,
        256,
      );
      assert.equal(core.loads.filter((l) => l.vaddr >= 0x100080000000 && l.vaddr < 0x100080100000).length, 0);
      assert.equal(checkPattern(core, expectedOf('single').processes[0]!.pattern_runs), 512 * 512);
      assert.equal(statSync(out).size, core.loads.at(-1)!.offset + core.loads.at(-1)!.filesz);
      assert.equal(statSync(out).mode & 0o777, 0o600);
    });
    noTemps(tmp);
  });

  test('single/: notes carry registers, process info, auxv and mapped files', async () => {
    const out = join(tmp, 'single-notes.elf');
    await withStack('single', async (s) => {
      await exportElf(s, out);
      const core = parseCore(out);
      assert.deepEqual(
        core.notes.map((n) => n.type),
        [NT_PRSTATUS, NT_PRPSINFO, NT_AUXV, NT_FILE, NT_FPREGSET],
      );
      assert.ok(core.notes.every((n) => n.name === 'CORE'));
      const img = await s.image('core-24588.img');
      const regs = (img!.entries[0]!['thread_info'] as Record<string, Record<string, bigint>>)['gpregs']!;
      const pr = core.notes[0]!;
      assert.equal(pr.desc.length, 336);
      const dv = new DataView(pr.desc.buffer, pr.desc.byteOffset, pr.desc.byteLength);
      assert.equal(dv.getInt32(32, true), 24588);
      // ip is register 16, sp 19 of user_regs_struct
      assert.equal(dv.getBigUint64(112 + 16 * 8, true), regs['ip']);
      assert.equal(dv.getBigUint64(112 + 19 * 8, true), regs['sp']);
      assert.equal(dv.getBigUint64(112 + 0 * 8, true), regs['r15']);
      assert.equal(dv.getInt32(328, true), 1, 'pr_fpvalid');
      // every register in its slot of the kernel's user_regs_struct (arch/x86/include/asm/user_64.h)
      const KERNEL_ORDER =
        'r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di orig_ax ip cs flags sp ss fs_base gs_base ds es fs gs';
      for (const [i, r] of KERNEL_ORDER.split(' ').entries()) {
        assert.equal(dv.getBigUint64(112 + i * 8, true), BigInt.asUintN(64, regs[r]!), r);
      }
      const ps = core.notes[1]!;
      assert.equal(ps.desc.length, 136);
      const psv = new DataView(ps.desc.buffer, ps.desc.byteOffset, ps.desc.byteLength);
      assert.equal(psv.getInt32(24, true), 24588);
      const cstr = (b: Uint8Array) => Buffer.from(b.subarray(0, b.indexOf(0))).toString();
      assert.equal(cstr(ps.desc.subarray(40, 56)), 'single');
      assert.match(cstr(ps.desc.subarray(56, 136)), /^\/srv\/pagestack-fixtures\/bin\/single /);
      const auxv = core.notes[2]!.desc;
      const av = new DataView(auxv.buffer, auxv.byteOffset, auxv.byteLength);
      assert.equal(av.getBigUint64(auxv.length - 16, true), 0n, 'ends with AT_NULL');
      const pairs = new Map<bigint, bigint>();
      for (let i = 0; i < auxv.length; i += 16)
        pairs.set(av.getBigUint64(i, true), av.getBigUint64(i + 8, true));
      assert.equal(pairs.get(6n), 4096n, 'AT_PAGESZ');
      const nf = core.notes[3]!.desc;
      const fv = new DataView(nf.buffer, nf.byteOffset, nf.byteLength);
      const count = Number(fv.getBigUint64(0, true));
      assert.equal(fv.getBigUint64(8, true), 4096n);
      const names = Buffer.from(nf.subarray(16 + count * 24))
        .toString()
        .split('\0')
        .slice(0, count);
      assert.ok(names.includes('/srv/pagestack-fixtures/bin/single'), names.join(','));
      assert.ok(names.includes('/usr/lib/x86_64-linux-gnu/libc.so.6'));
      const fp = core.notes[4]!.desc;
      assert.equal(fp.length, 512);
    });
  });

  test('series-stack/3 (3 layers) gives the same core as the flat dump series/3', async () => {
    const a = join(tmp, 'stack3.elf');
    const b = join(tmp, 'flat3.elf');
    await withStack('series-stack/3', async (s) => {
      const sum = await exportElf(s, a);
      assert.equal(sum.layersUsed, 3);
      assert.equal(sum.stackLayers, 3);
      assert.equal(sum.pages, 606);
      const core = parseCore(a);
      await checkLoads(core, await s.process(25238));
      assert.equal(checkPattern(core, expectedOf('series/3').processes[0]!.pattern_runs), 576 * 512);
      assert.match(
        formatSummary(sum),
        /^exported pid 25238: \d+ segments, 606 pages \(2\.4 MiB\) from 3 layers to .*stack3\.elf \(ELF core, 1 thread\) in \d+\.\d\d s$/,
      );
    });
    await withStack('series/3', (s) => exportElf(s, b));
    assert.ok(readFileSync(a).equals(readFileSync(b)), 'byte-identical cores');
    // small chunks: many chunks through both buffers, pieces cut at chunk ends
    const c = join(tmp, 'chunks3.elf');
    await withStack('series-stack/3', (s) => exportElf(s, c, { chunkSize: 3 * PAGE_SIZE }));
    assert.ok(readFileSync(a).equals(readFileSync(c)), 'same core with 12 KiB chunks');
    const loads = readelfLoads(readelf(a));
    const core = parseCore(a);
    assert.deepEqual(
      loads.map(([v, f, m]) => [v, f, m]),
      core.loads.map((l) => [l.vaddr, l.filesz, l.memsz]),
    );
  });

  test('tree/: the 2-thread child has 2 NT_PRSTATUS; shared memory reads through the shmem pagemap', async () => {
    const out = join(tmp, 'tree.elf');
    await withStack('tree', async (s) => {
      // the library names no CLI flag: the choice is in the code and data (the CLI adds `--pid`)
      await assert.rejects(exportElf(s, out), (e: unknown) => {
        assert.ok(e instanceof StackError);
        assert.equal(e.code, 'PAGESTACK_PID_REQUIRED');
        assert.deepEqual(e.data['pids'], [25155, 25158, 25159]);
        assert.match(e.message, /choose one of 25155, 25158, 25159$/);
        assert.doesNotMatch(e.message, /--/);
        return true;
      });
      const sum = await exportElf(s, out, { pid: 25159 });
      assert.equal(sum.threads, 2);
      const core = parseCore(out);
      await checkLoads(core, await s.process(25159));
      const pr = core.notes.filter((n) => n.type === NT_PRSTATUS);
      assert.equal(pr.length, 2);
      assert.equal(core.notes.filter((n) => n.type === NT_FPREGSET).length, 2);
      const tids = pr.map((n) => new DataView(n.desc.buffer, n.desc.byteOffset).getInt32(32, true));
      assert.deepEqual(tids, [25159, 25160]);
      for (const n of pr) {
        const dv = new DataView(n.desc.buffer, n.desc.byteOffset);
        assert.deepEqual(
          [36, 40, 44].map((o) => dv.getInt32(o, true)),
          [25155, 25155, 25155],
        );
      }
      const thr = await s.image('core-25160.img');
      const ip = (thr!.entries[0]!['thread_info'] as Record<string, Record<string, bigint>>)['gpregs']!['ip'];
      assert.equal(
        new DataView(pr[1]!.desc.buffer, pr[1]!.desc.byteOffset).getBigUint64(112 + 16 * 8, true),
        ip,
      );
      const exp = expectedOf('tree');
      checkPattern(core, exp.processes.find((p) => p.pid === 25159)!.pattern_runs);
      // the shared region: object offset o holds (0x200000000000 + o) ^ 0xB0...
      assert.equal(checkPattern(core, [[0x200000000000, 64, '0xb000000000000000']]), 64 * 512);
      const nf = core.notes.find((n) => n.type === NT_FILE)!.desc;
      assert.match(Buffer.from(nf).toString('latin1'), /\/dev\/zero \(deleted\)\0/);
      const re = readelf(out);
      assert.equal((re.match(/NT_PRSTATUS/g) ?? []).length, 2);
      assert.match(re, /NT_PRPSINFO/);
      assert.match(re, /NT_AUXV/);
      assert.match(re, /NT_FILE/);
      assert.match(re, /NT_FPREGSET/);
      assert.equal(readelfLoads(re).length, core.loads.length);
    });
  });

  test('maps and the ELF core name every mapped file alike (memfds as the kernel does)', async () => {
    const out = join(tmp, 'names.elf');
    for (const pid of [25158, 25159]) {
      await withStack('tree', async (s) => {
        await exportElf(s, out, { pid });
        const nf = Buffer.from(parseCore(out).notes.find((n) => n.type === NT_FILE)!.desc);
        const count = Number(nf.readBigUInt64LE(0));
        const names = nf
          .subarray(16 + count * 24)
          .toString('utf8')
          .split('\0')
          .slice(0, count);
        const elf = new Map<number, string>();
        for (let i = 0; i < count; i++) elf.set(Number(nf.readBigUInt64LE(16 + i * 24)), names[i]!);
        const maps = await processMaps(s, pid);
        const named = maps.vmas.filter((v) => elf.has(v.start));
        assert.equal(named.length, count, `pid ${pid}: every NT_FILE entry is a VMA of maps`);
        for (const v of named) assert.equal(v.name, elf.get(v.start), `pid ${pid} ${v.start.toString(16)}`);
        // the shared anonymous memory CRIU dumps as a memfd: /dev/zero (deleted), as in /proc/PID/maps
        assert.ok(named.some((v) => v.name === '/dev/zero (deleted)' && v.shmem !== null));
      });
    }
  });

  test('lazy/: lazy pages are in no segment', async () => {
    const out = join(tmp, 'lazy.elf');
    await withStack('lazy', async (s) => {
      const sum = await exportElf(s, out);
      assert.equal(sum.pages, 15);
      assert.equal(sum.lazyBytes, 526 * PAGE_SIZE);
      assert.match(formatSummary(sum), /526 lazy pages left out/);
      const pm = await s.process(25494);
      const core = parseCore(out);
      await checkLoads(core, pm);
      const x = pm.private.extents;
      for (const l of core.loads) {
        for (let i = 0; i < x.count; i++) {
          if (x.layer[i] !== LAZY) continue;
          const overlap = l.vaddr < x.end[i]! * PAGE_SIZE && x.start[i]! * PAGE_SIZE < l.vaddr + l.memsz;
          assert.ok(!overlap, `PT_LOAD 0x${l.vaddr.toString(16)} covers lazy pages`);
        }
      }
      assert.equal(wordAt(core, 0x100000000000), undefined);
    });
  });

  test('gdb reads the patterned words and the threads', {
    skip: GDB ? false : 'gdb is not installed',
  }, async () => {
    const s3 = join(tmp, 'gdb-s3.elf');
    const tr = join(tmp, 'gdb-tree.elf');
    await withStack('series-stack/3', (s) => exportElf(s, s3));
    await withStack('tree', (s) => exportElf(s, tr, { pid: 25159 }));
    // R pages 0-31 seed B, 32-95 C, N seed D
    let out = gdb(s3, 'x/4gx 0x300000000000', 'x/2gx 0x300000020000', 'x/2gx 0x300080000000');
    assert.deepEqual(gdbWords(out), [
      0xc300300000000000n,
      0xc300300000000008n,
      0xc300300000000010n,
      0xc300300000000018n,
      0xc400300000020000n,
      0xc400300000020008n,
      0xc500300080000000n,
      0xc500300080000008n,
    ]);
    // Q (unmapped before dump 3) is not in the core
    out = gdb(s3, 'x/1gx 0x300040000000');
    assert.match(out, /Cannot access memory at address 0x300040000000/);
    out = gdb(tr, 'info threads', 'x/2gx 0x200000000000', 'x/2gx 0x200080000000', 'info proc mappings');
    assert.match(out, /LWP 25159/);
    assert.match(out, /LWP 25160/);
    assert.match(out, /Core was generated by `\/srv\/pagestack-fixtures\/bin\/tree/);
    assert.deepEqual(gdbWords(out), [
      0xb000200000000000n,
      0xb000200000000008n,
      0xb200200080000000n,
      0xb200200080000008n,
    ]);
    assert.match(
      out,
      /0x7f2272c1e000\s+0x7f2272d74000\s+0x156000\s+0x26000\s+\/usr\/lib\/x86_64-linux-gnu\/libc\.so\.6/,
    );
  });
});

test('sources without synchronous reads (remote layers) export the same bytes', async () => {
  // wrap each layer so that its pages files only have the async read()
  const wrap = (src: LayerSource): LayerSource => ({
    name: src.name,
    id: src.id,
    list: () => src.list(),
    readFile: (f) => src.readFile(f),
    open: async (f) => {
      const r = await src.open(f);
      return r && { size: r.size, read: (b, o, l, p) => r.read(b, o, l, p), close: () => r.close() };
    },
    parent: async () => {
      const p = await src.parent();
      return p && wrap(p);
    },
  });
  const a = join(tmp, 'async.elf');
  const b = join(tmp, 'sync.elf');
  const s = await openStack(wrap(await DirLayerSource.open(join(FIX, 'series-stack/3'))));
  try {
    await exportElf(s, a, { chunkSize: 5 * PAGE_SIZE });
  } finally {
    await s.close();
  }
  await withStack('series-stack/3', (t) => exportElf(t, b));
  assert.ok(readFileSync(a).equals(readFileSync(b)));
});

test('a thread without its core image is a clear error, and nothing is written', async () => {
  const dir = join(tmp, 'tree-no-core');
  cpSync(join(FIX, 'tree'), dir, { recursive: true });
  rmSync(join(dir, 'core-25160.img'));
  const out = join(tmp, 'no-core.elf');
  await withStack(dir, async (s) => {
    await assert.rejects(exportElf(s, out, { pid: 25159 }), (e: unknown) => {
      assert.ok(e instanceof ExportError);
      assert.match(
        (e as Error).message,
        /core-25160\.img: missing or empty, but pstree\.img lists thread 25160 of 25159/,
      );
      return true;
    });
  });
  assert.ok(!existsSync(out));
  noTemps(tmp);
});

test('more than 65534 segments: extended numbering (e_phnum = PN_XNUM, count in sh_info)', async () => {
  // single/'s process with one 547 MiB VMA and 70,000 one-page entries, a page apart: 70,000 runs.
  // The pages file is sparse except for a stamp in a few pages. On tmpfs when there is one.
  const shm = '/dev/shm';
  const root = mkdtempSync(join(existsSync(shm) ? shm : tmpdir(), 'pagestack-extnum-'));
  try {
    const dir = join(root, 'img');
    mkdirSync(dir);
    for (const f of ['pstree.img', 'core-24588.img', 'inventory.img', 'files.img']) {
      copyFileSync(join(FIX, 'single', f), join(dir, f));
    }
    const N = 70_000;
    const base = 0x7f0000000000;
    const mm = decodeImage(readFileSync(join(FIX, 'single', 'mm-24588.img')));
    const vma = (mm.entries[0]!['vmas'] as Message[]).find((v) => v['start'] === 0x100000000000n)!;
    mm.entries[0]!['vmas'] = [{ ...vma, start: BigInt(base), end: BigInt(base + 2 * N * PAGE_SIZE) }];
    writeFileSync(join(dir, 'mm-24588.img'), encodeImage(mm));
    const entries: Message[] = [{ pages_id: 1 }];
    for (let i = 0; i < N; i++) {
      entries.push({ vaddr: BigInt(base + 2 * i * PAGE_SIZE), compat_nr_pages: 0, flags: 6, nr_pages: 1n });
    }
    writeFileSync(
      join(dir, 'pagemap-24588.img'),
      encodeImage({ magic: 'PAGEMAP', framing: 'common', entries }),
    );
    const fd = openSync(join(dir, 'pages-1.img'), 'w');
    ftruncateSync(fd, N * PAGE_SIZE);
    const stamp = Buffer.alloc(8);
    const stamped = [0, 1, 65_534, 65_535, N - 1];
    for (const i of stamped) {
      stamp.writeBigUInt64LE(BigInt(i) | 0x5a00000000000000n);
      writeSync(fd, stamp, 0, 8, i * PAGE_SIZE);
    }
    closeSync(fd);
    const out = join(root, 'extnum.elf');
    await withStack(dir, async (s) => {
      const sum = await exportElf(s, out);
      assert.equal(sum.segments, N);
    });
    const core = parseCore(out);
    const dv = new DataView(core.bytes.buffer, core.bytes.byteOffset);
    assert.equal(dv.getUint16(56, true), 0xffff);
    assert.equal(dv.getUint16(60, true), 1, 'e_shnum');
    assert.equal(core.loads.length, N);
    for (const i of stamped)
      assert.equal(wordAt(core, base + 2 * i * PAGE_SIZE), BigInt(i) | 0x5a00000000000000n);
    assert.equal(wordAt(core, base + PAGE_SIZE), undefined);
    const r = spawnSync(READELF, ['-hW', out], { encoding: 'utf8' });
    assert.match(r.stdout, /Number of program headers:\s+65535 \(70001\)/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- raw

describe('raw', () => {
  test('series-stack/3 window: byte k is the byte at base + k, holes stay holes', async () => {
    const out = join(tmp, 's3.raw');
    const base = 0x300000000000;
    const end = 0x300080040000;
    await withStack('series-stack/3', async (s) => {
      const sum = await exportRaw(s, out, { start: base, end });
      assert.equal(sum.base, base);
      assert.equal(sum.pages, 576);
      assert.equal(sum.layersUsed, 3);
      const st = statSync(out);
      assert.equal(st.size, end - base);
      // 576 pages of data: allocated space is about that, not 2 GiB
      assert.ok(st.blocks * 512 <= 576 * PAGE_SIZE + (1 << 20), `allocated ${st.blocks * 512}`);
      const pm = await s.process(25238);
      const fh = await open(out, 'r');
      try {
        const check = async (addr: number, len: number) => {
          const want = await pm.read(addr, len, { zero: true });
          const got = Buffer.alloc(len);
          await fh.read(got, 0, len, addr - base);
          assert.ok(got.equals(want), `raw at 0x${addr.toString(16)}`);
        };
        await check(base, 512 * PAGE_SIZE); // R: 3 layers
        await check(0x300080000000, 64 * PAGE_SIZE); // N
        await check(0x300000200000, 16 * PAGE_SIZE); // unmapped gap: zeros
        await check(0x300040000000, 64 * PAGE_SIZE); // Q, unmapped in dump 3: zeros
        const w = Buffer.alloc(8);
        await fh.read(w, 0, 8, 0x20000);
        assert.equal(w.readBigUInt64LE(), 0x300000020000n ^ 0xc400000000000000n);
      } finally {
        await fh.close();
      }
    });
    noTemps(tmp);
  });

  test('small chunks and a window that cuts pages give the same bytes', async () => {
    const base = 0x300000001234;
    const end = 0x300000301234;
    const a = join(tmp, 'w-a.raw');
    const b = join(tmp, 'w-b.raw');
    await withStack('series-stack/3', async (s) => {
      await exportRaw(s, a, { start: base, end });
      await exportRaw(s, b, { start: base, end, chunkSize: 5 * PAGE_SIZE });
      const want = await (await s.process(25238)).read(base, end - base, { zero: true });
      assert.ok(readFileSync(a).equals(want));
      assert.ok(readFileSync(b).equals(want));
      // ELF: the window widens to whole pages
      const e = join(tmp, 'w.elf');
      const sum = await exportElf(s, e, { start: base, end });
      const core = parseCore(e);
      assert.deepEqual(
        core.loads.map((l) => [l.vaddr, l.memsz]),
        [[0x300000001000, 0x200000 - 0x1000]],
      );
      assert.equal(sum.pages, 511);
    });
  });

  test('a span beyond 64 GiB is refused without --force; --force hits the file system limit cleanly', async () => {
    const out = join(tmp, 'whole.raw');
    await withStack('series-stack/3', async (s) => {
      await assert.rejects(exportRaw(s, out), (e: unknown) => {
        assert.ok(e instanceof ExportError);
        assert.match((e as Error).message, /raw span 0x300000000000-0x7ffed9435000 is 80\.0 TiB/);
        // the way out is the CLI's to name (checked below, on `pagestack export`)
        assert.equal(e.code, 'PAGESTACK_RAW_SPAN_TOO_LARGE');
        assert.deepEqual([e.data['start'], e.data['end']], [0x300000000000, 0x7ffed9435000]);
        assert.doesNotMatch(e.message, /--/);
        return true;
      });
      // ext4 caps files at 16 TiB; other file systems take the 80 TiB sparse file
      try {
        const sum = await exportRaw(s, out, { force: true });
        assert.equal(statSync(out).size, 0x7ffed9435000 - 0x300000000000);
        assert.equal(sum.pages, 606);
      } catch (e) {
        assert.ok(e instanceof ExportError, String(e));
        assert.match((e as Error).message, /cannot hold a sparse file of 80\.0 TiB/);
      }
    });
    assert.ok(!existsSync(out) || statSync(out).size > 0);
    noTemps(tmp);
  });
});

// ---------------------------------------------------------------- CLI and progress

describe('CLI', () => {
  test('export prints one summary line; errors are one line with exit 1 or 2', async () => {
    const out = join(tmp, 'cli.elf');
    let r = await cli(['export', join(FIX, 'series-stack/3'), '-o', out]);
    assert.equal(r.code, 0);
    assert.match(
      r.out,
      /^exported pid 25238: \d+ segments, 606 pages \(2\.4 MiB\) from 3 layers to .*cli\.elf/,
    );
    assert.equal(r.out.split('\n').length, 2);
    assert.equal(r.err, '');
    // --sync (fsync before the rename) writes the same bytes, also written beside and renamed
    const synced = join(tmp, 'cli-sync.elf');
    r = await cli(['export', join(FIX, 'series-stack/3'), '--sync', '-o', synced]);
    assert.equal(r.code, 0, r.err);
    assert.ok(Buffer.compare(readFileSync(synced), readFileSync(out)) === 0, '--sync: the same core');
    assert.deepEqual(
      readdirSync(tmp).filter((n) => n.includes('.pagestack-tmp-')),
      [],
      'no temporary file left',
    );
    const raw = join(tmp, 'cli.raw');
    r = await cli([
      'export',
      join(FIX, 'tree'),
      '--pid',
      '25158',
      '--format',
      'raw',
      '--start',
      '0x200040000000',
      '--end',
      '0x200040080000',
      '-o',
      raw,
    ]);
    assert.equal(r.code, 0);
    assert.match(r.out, /^exported pid 25158: 1 runs, 128 pages \(512 KiB\) .*byte 0 = 0x200040000000/);
    assert.equal(statSync(raw).size, 0x80000);
    r = await cli(['export', join(FIX, 'tree'), '-o', out, '--format', 'bin']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^pagestack: --format: expected elf or raw, got 'bin'\n$/);
    r = await cli(['export', join(FIX, 'tree'), '-o', out]);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /^pagestack: the stack has 3 processes, choose one with --pid: 25155, 25158, 25159\n$/,
    );
    r = await cli(['export', join(FIX, 'series/3'), '--format', 'raw', '-o', raw]);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /^pagestack: .*cli\.raw: the raw span .*fill the disk: narrow it with --start\/--end, or pass --force\n$/,
    );
    r = await cli(['export', join(FIX, 'single'), '-o', join(FIX, 'single', 'pages-1.img')]);
    assert.equal(r.code, 2);
    assert.match(r.err, /is a file of the image directory/);
    r = await cli(['export', join(FIX, 'single'), '--start', 'zz', '-o', out]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--start: expected an address/);
    noTemps(tmp);
  });

  test('devices and pipes take the core as a stream: /dev/null, a FIFO, -o -', async () => {
    const ref = join(tmp, 'stream-ref.elf');
    await withStack('tree', (s) => exportElf(s, ref, { pid: 25159 }));
    const want = readFileSync(ref);
    // /dev/null stays the device it is (no temporary file in /dev, no rename over it)
    const before = statSync('/dev/null');
    await withStack('tree', (s) => exportElf(s, '/dev/null', { pid: 25159 }));
    const now = statSync('/dev/null');
    assert.ok(now.isCharacterDevice());
    assert.equal(now.ino, before.ino);
    assert.deepEqual(
      readdirSync('/dev').filter((n) => n.includes('pagestack-tmp')),
      [],
    );
    // a FIFO, read by another process
    const fifo = join(tmp, 'core.fifo');
    const got = join(tmp, 'from-fifo.elf');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const reader = spawn('sh', ['-c', `cat "${fifo}" > "${got}"`]);
    const exited = new Promise((r) => reader.on('exit', r));
    await withStack('tree', (s) => exportElf(s, fifo, { pid: 25159 }));
    assert.equal(await exited, 0);
    assert.ok(readFileSync(got).equals(want), 'same bytes through a FIFO');
    // a raw export needs a file
    await assert.rejects(
      withStack('tree', (s) =>
        exportRaw(s, '/dev/null', { pid: 25158, start: 0x200040000000, end: 0x200040080000 }),
      ),
      /not a regular file; a raw export is a sparse file/,
    );
    // -o -: standard output, the summary on stderr
    const r = await cliProcess(['export', join(FIX, 'tree'), '--pid', '25159', '-o', '-']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.equals(want), 'same bytes on standard output');
    assert.match(r.stderr, /^exported pid 25159: .* to <stdout> /);
  });

  test('the progress bar redraws in place and erases itself', () => {
    let text = '';
    let now = 0;
    const bar = textProgressBar(
      { write: (s) => (text += s), columns: 80 },
      { intervalMs: 100, now: () => now },
    );
    bar.start(1000, 'core.elf');
    bar.update(10);
    assert.equal(text, '', 'no bar before the first interval');
    now = 150;
    bar.update(500);
    assert.match(text, /^\rcore\.elf \[#+-+\] {2}50%/);
    assert.ok(text.length <= 81);
    now = 300;
    bar.update(1000);
    assert.match(text, /100%/);
    bar.finish();
    assert.match(text, /\r {10,}\r$/);
    assert.equal(formatBytes(606 * 4096), '2.4 MiB');
    assert.equal(formatBytes(512), '512 B');
  });
});
