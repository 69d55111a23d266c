/**
 * Exporting a process as an ELF64 core file (ET_CORE, EM_X86_64, little-endian) that gdb, readelf
 * and other core readers open.
 *
 * Layout, as the Linux kernel writes cores (fs/binfmt_elf.c):
 *
 *   Elf64_Ehdr | Elf64_Phdr: PT_NOTE, then one PT_LOAD per run | [Elf64_Shdr] | notes | pad to 4 KiB | data
 *
 * - One PT_LOAD per run of dumped bytes (see planRuns: split at VMA boundaries, holes and lazy
 *   pages), p_vaddr = its address, p_filesz = p_memsz = its length, p_flags from the VMA's prot,
 *   file data page-aligned. Pages that were not dumped, and lazy pages, are in no segment.
 * - Notes (owner "CORE", 4-byte aligned), in the kernel's order: for the main thread NT_PRSTATUS,
 *   then NT_PRPSINFO, NT_AUXV, NT_FILE, then its NT_FPREGSET; for every other thread NT_PRSTATUS and
 *   NT_FPREGSET. Readers attach an NT_FPREGSET to the NT_PRSTATUS before it.
 * - More than 65534 segments use extended numbering: e_phnum = PN_XNUM and the real count in
 *   sh_info of a single section header.
 *
 * Registers come from core-<tid>.img (core_entry.thread_info: gpregs in user_regs_struct order,
 * fpregs in the fxsave layout); pid/ppid/pgrp/sid from pstree.img; the auxiliary vector from
 * mm_entry.mm_saved_auxv; the mapped files' names from files.img (vma.shmid is the files.img id of
 * a file-backed VMA) and memfd.img. Not written: NT_SIGINFO (CRIU does not record why a process
 * stopped) and NT_X86_XSTATE (AVX and later registers).
 */
import { basename } from 'node:path';
import { copyInto, copyOpsFor } from '../engine/copy.js';
import { outputError, writeAt, writeOutput } from '../engine/output.js';
import { noProgress } from '../engine/progress.js';
import { type ExportOptions, type ExportSummary, type MemoryRun, planRuns } from '../engine/runs.js';
import { ExportError, MemoryAccessError } from '../errors.js';
import { PAGE_SIZE } from '../image/pagemap.js';
import type { Message } from '../image/schema.js';
import { USER_X86_REGS } from '../image/schemas/core-x86.js';
import { type CoreView, coreView, int32, type MmView, mmView, uint64 } from '../image/views.js';
import type { ProcessMemory, Vma } from '../stack/process.js';
import type { ProcessInfo, Stack } from '../stack/stack.js';
import {
  fileNames,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  VMA_ANON_SHARED,
  VMA_FILE_BACKED,
} from '../stack/vma.js';

const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
const SHDR_SIZE = 64;

const ET_CORE = 4;
const EM_X86_64 = 62;
const PT_LOAD = 1;
const PT_NOTE = 4;
const PF_X = 1;
const PF_W = 2;
const PF_R = 4;
const PN_XNUM = 0xffff;

export const NT_PRSTATUS = 1;
export const NT_FPREGSET = 2;
export const NT_PRPSINFO = 3;
export const NT_AUXV = 6;
export const NT_FILE = 0x46494c45;

/** struct elf_prstatus on x86_64: 336 bytes, registers at 112. */
const PRSTATUS_SIZE = 336;
const PRSTATUS_REGS = 112;
/** struct elf_prpsinfo on x86_64: 136 bytes. */
const PRPSINFO_SIZE = 136;
/** struct user_i387_struct (fxsave layout): 512 bytes. */
const FPREGSET_SIZE = 512;
const ELF_PRARGSZ = 80;

const utf8 = new TextEncoder();

/** Notes, each `Elf64_Nhdr` + name + desc padded to 4 bytes. */
class Notes {
  readonly parts: Uint8Array[] = [];
  readonly kinds: string[] = [];
  size = 0;

  add(type: number, kind: string, desc: Uint8Array, owner = 'CORE'): void {
    const name = utf8.encode(owner);
    const nameSz = name.length + 1;
    const namePad = (nameSz + 3) & ~3;
    const descPad = (desc.length + 3) & ~3;
    const buf = new Uint8Array(12 + namePad + descPad);
    const dv = new DataView(buf.buffer);
    dv.setUint32(0, nameSz, true);
    dv.setUint32(4, desc.length, true);
    dv.setUint32(8, type, true);
    buf.set(name, 12);
    buf.set(desc, 12 + namePad);
    this.parts.push(buf);
    this.kinds.push(kind);
    this.size += buf.length;
  }
}

interface ThreadCore {
  tid: number;
  core: CoreView;
}

/** The registers, as the kernel's NT_PRSTATUS. */
export function prstatus(tid: number, proc: ProcessInfo, core: CoreView, fpvalid: boolean): Uint8Array {
  const buf = new Uint8Array(PRSTATUS_SIZE);
  const dv = new DataView(buf.buffer);
  // pr_info, pr_cursig, pr_sigpend: 0 (CRIU does not record a signal that stopped the task)
  dv.setBigUint64(24, core.blkSigset, true); // pr_sighold
  dv.setInt32(32, tid, true);
  dv.setInt32(36, proc.ppid, true);
  dv.setInt32(40, proc.pgid, true);
  dv.setInt32(44, proc.sid, true);
  const regs = core.gpregs;
  if (regs) {
    // elf_gregset_t is struct user_regs_struct, whose order user_x86_regs_entry's fields keep
    for (let i = 0; i < USER_X86_REGS.length; i++) {
      dv.setBigUint64(PRSTATUS_REGS + i * 8, uint64(regs[USER_X86_REGS[i]!]), true);
    }
  }
  dv.setInt32(PRSTATUS_REGS + USER_X86_REGS.length * 8, fpvalid ? 1 : 0, true);
  return buf;
}

/** The fxsave area (struct user_i387_struct) from CRIU's user_x86_fpregs_entry. */
export function fpregset(fp: Message): Uint8Array {
  const buf = new Uint8Array(FPREGSET_SIZE);
  const dv = new DataView(buf.buffer);
  dv.setUint16(0, int32(fp['cwd']) & 0xffff, true);
  dv.setUint16(2, int32(fp['swd']) & 0xffff, true);
  dv.setUint16(4, int32(fp['twd']) & 0xffff, true);
  dv.setUint16(6, int32(fp['fop']) & 0xffff, true);
  dv.setBigUint64(8, uint64(fp['rip']), true);
  dv.setBigUint64(16, uint64(fp['rdp']), true);
  dv.setUint32(24, int32(fp['mxcsr']) >>> 0, true);
  dv.setUint32(28, int32(fp['mxcsr_mask']) >>> 0, true);
  const words = (at: number, max: number, v: unknown) => {
    const a = (v as number[] | undefined) ?? [];
    for (let i = 0; i < Math.min(max, a.length); i++) dv.setUint32(at + i * 4, int32(a[i]) >>> 0, true);
  };
  words(32, 32, fp['st_space']);
  words(160, 64, fp['xmm_space']);
  words(416, 24, fp['padding']);
  return buf;
}

/** CRIU task states (TASK_ALIVE 1, TASK_DEAD 2, TASK_STOPPED 3) as the kernel's pr_state. */
function prState(taskState: number): number {
  if (taskState === 2) return 4; // zombie
  if (taskState === 3) return 3; // stopped
  return 0; // running (CRIU does not tell running from sleeping)
}

function cString(buf: Uint8Array, at: number, max: number, s: string | Uint8Array): void {
  const b = typeof s === 'string' ? utf8.encode(s) : s;
  buf.set(b.subarray(0, max - 1), at);
}

export function prpsinfo(proc: ProcessInfo, core: CoreView, psargs: Uint8Array | string): Uint8Array {
  const buf = new Uint8Array(PRPSINFO_SIZE);
  const dv = new DataView(buf.buffer);
  const state = prState(core.taskState);
  buf[0] = state;
  buf[1] = 'RSDTZW'.charCodeAt(state);
  buf[2] = state === 4 ? 1 : 0;
  dv.setInt8(3, Math.max(-128, Math.min(127, core.schedNice)));
  dv.setBigUint64(8, core.flags, true);
  dv.setUint32(16, core.uid, true);
  dv.setUint32(20, core.gid, true);
  dv.setInt32(24, proc.pid, true);
  dv.setInt32(28, proc.ppid, true);
  dv.setInt32(32, proc.pgid, true);
  dv.setInt32(36, proc.sid, true);
  cString(buf, 40, 16, core.comm ?? '');
  cString(buf, 56, ELF_PRARGSZ, psargs);
  return buf;
}

/** NT_AUXV: the saved auxiliary vector as u64 pairs, ending with AT_NULL. */
export function auxv(saved: readonly bigint[]): Uint8Array {
  const vals = [...saved];
  if (vals.length % 2 === 1) vals.pop();
  // CRIU keeps the vector up to (not including) AT_NULL; readers expect the terminator
  let n = 0;
  while (n < vals.length && vals[n] !== 0n) n += 2;
  vals.length = n;
  vals.push(0n, 0n);
  const buf = new Uint8Array(vals.length * 8);
  const dv = new DataView(buf.buffer);
  for (let i = 0; i < vals.length; i++) dv.setBigUint64(i * 8, vals[i]!, true);
  return buf;
}

export interface MappedFile {
  start: number;
  end: number;
  /** Offset in the file, in pages. */
  pgoff: number;
  name: string;
}

/** NT_FILE: count, page size, (start, end, file offset in pages) triples, then the names. */
export function ntFile(files: readonly MappedFile[]): Uint8Array {
  const names = files.map((f) => utf8.encode(f.name));
  const nameBytes = names.reduce((a, b) => a + b.length + 1, 0);
  const buf = new Uint8Array(16 + files.length * 24 + nameBytes);
  const dv = new DataView(buf.buffer);
  dv.setBigUint64(0, BigInt(files.length), true);
  dv.setBigUint64(8, BigInt(PAGE_SIZE), true);
  let at = 16;
  for (const f of files) {
    dv.setBigUint64(at, BigInt(f.start), true);
    dv.setBigUint64(at + 8, BigInt(f.end), true);
    dv.setBigUint64(at + 16, BigInt(f.pgoff), true);
    at += 24;
  }
  for (const n of names) {
    buf.set(n, at);
    at += n.length + 1;
  }
  return buf;
}

function mappedFiles(vmas: readonly Vma[], names: ReadonlyMap<number, string>): MappedFile[] {
  const out: MappedFile[] = [];
  for (const v of vmas) {
    let name: string | undefined;
    if (v.status & VMA_FILE_BACKED) {
      name = names.get(v.shmid) ?? (v.fd >= 0 ? names.get(v.fd) : undefined);
    } else if (v.status & VMA_ANON_SHARED) {
      name = '/dev/zero (deleted)';
    }
    if (name !== undefined)
      out.push({ start: v.start, end: v.end, pgoff: Math.floor(v.pgoff / PAGE_SIZE), name });
  }
  return out;
}

/** The command line from the process's memory (arg_start..arg_end), as the kernel's pr_psargs. */
async function readPsargs(pm: ProcessMemory, mm: MmView | undefined): Promise<Uint8Array | null> {
  if (!mm) return null;
  const start = Number(mm.argStart);
  const end = Number(mm.argEnd);
  if (!(end > start) || !Number.isSafeInteger(end)) return null;
  const len = Math.min(end - start, ELF_PRARGSZ - 1);
  let b: Uint8Array;
  try {
    b = await pm.read(start, len);
  } catch (e) {
    if (e instanceof MemoryAccessError) return null;
    throw e;
  }
  for (let i = 0; i < b.length; i++) if (b[i] === 0) b[i] = 0x20;
  let n = b.length;
  while (n > 0 && b[n - 1] === 0x20) n--;
  return b.subarray(0, n);
}

function protFlags(prot: number): number {
  return (prot & PROT_READ ? PF_R : 0) | (prot & PROT_WRITE ? PF_W : 0) | (prot & PROT_EXEC ? PF_X : 0);
}

/** Exports one process of the stack as an ELF core file at `dest` (written beside it, then renamed). */
export async function exportElf(
  stack: Stack,
  dest: string,
  opts: ExportOptions = {},
): Promise<ExportSummary> {
  const t0 = performance.now();
  const pid = await stack.pickPid(opts.pid);
  const proc = (await stack.processes()).find((p) => p.pid === pid)!;
  const pm = await stack.process(pid);
  // a window is widened to whole pages, so that every segment's data stays page-aligned
  const window: { start?: number; end?: number } = {};
  if (opts.start !== undefined) window.start = Math.floor(opts.start / PAGE_SIZE) * PAGE_SIZE;
  if (opts.end !== undefined) window.end = Math.ceil(opts.end / PAGE_SIZE) * PAGE_SIZE;
  const plan = planRuns(pm, window);

  // threads: the main thread first
  const tids = proc.threads.length > 0 ? [...proc.threads] : [pid];
  const mainAt = tids.indexOf(pid);
  if (mainAt > 0) tids.unshift(...tids.splice(mainAt, 1));
  const threads: ThreadCore[] = [];
  for (const tid of tids) {
    const img = await stack.image(`core-${tid}.img`);
    const entry = img?.entries[0];
    if (!entry) {
      throw new ExportError(
        `${stack.top.source.name}/core-${tid}.img: missing or empty, but pstree.img lists thread ${tid} of ${pid}`,
        'PAGESTACK_NO_CORE',
        { file: `${stack.top.source.name}/core-${tid}.img`, pid },
      );
    }
    const core = coreView(entry);
    const mtype = core.mtype;
    if (mtype !== 1 || !core.threadInfo) {
      throw new ExportError(
        `${stack.top.source.name}/core-${tid}.img: machine type ${mtype}; pagestack writes ELF cores for x86_64 (1) only`,
        'PAGESTACK_UNSUPPORTED_ARCH',
        { file: `${stack.top.source.name}/core-${tid}.img`, mtype },
      );
    }
    threads.push({ tid, core });
  }
  const mmEntry = (await stack.image(`mm-${pid}.img`))?.entries[0];
  const mm = mmEntry ? mmView(mmEntry) : undefined;

  const notes = new Notes();
  for (let i = 0; i < threads.length; i++) {
    const { tid, core } = threads[i]!;
    const fp = core.fpregs;
    notes.add(NT_PRSTATUS, 'NT_PRSTATUS', prstatus(tid, proc, core, fp !== null));
    if (i === 0) {
      const args = (await readPsargs(pm, mm)) ?? core.comm ?? '';
      notes.add(NT_PRPSINFO, 'NT_PRPSINFO', prpsinfo(proc, core, args));
      const saved = mm?.savedAuxv ?? [];
      if (saved.length > 0) notes.add(NT_AUXV, 'NT_AUXV', auxv(saved));
      const files = mappedFiles(pm.vmas, await fileNames(stack));
      if (files.length > 0) notes.add(NT_FILE, 'NT_FILE', ntFile(files));
    }
    if (fp) notes.add(NT_FPREGSET, 'NT_FPREGSET', fpregset(fp));
  }

  const runs = plan.runs;
  const segs = runs.length + 1;
  const extnum = segs >= PN_XNUM;
  const phOff = EHDR_SIZE;
  const shOff = phOff + segs * PHDR_SIZE;
  const noteOff = shOff + (extnum ? SHDR_SIZE : 0);
  const dataOff =
    runs.length > 0 ? Math.ceil((noteOff + notes.size) / PAGE_SIZE) * PAGE_SIZE : noteOff + notes.size;
  const head = new Uint8Array(dataOff);
  const dv = new DataView(head.buffer);
  // Elf64_Ehdr
  head.set([0x7f, 0x45, 0x4c, 0x46, 2 /* ELFCLASS64 */, 1 /* ELFDATA2LSB */, 1 /* EV_CURRENT */, 0], 0);
  dv.setUint16(16, ET_CORE, true);
  dv.setUint16(18, EM_X86_64, true);
  dv.setUint32(20, 1, true);
  dv.setBigUint64(32, BigInt(phOff), true);
  dv.setBigUint64(40, BigInt(extnum ? shOff : 0), true);
  dv.setUint16(52, EHDR_SIZE, true);
  dv.setUint16(54, PHDR_SIZE, true);
  dv.setUint16(56, extnum ? PN_XNUM : segs, true);
  dv.setUint16(58, extnum ? SHDR_SIZE : 0, true);
  dv.setUint16(60, extnum ? 1 : 0, true);
  dv.setUint16(62, 0, true);
  // PT_NOTE
  let p = phOff;
  dv.setUint32(p, PT_NOTE, true);
  dv.setBigUint64(p + 8, BigInt(noteOff), true);
  dv.setBigUint64(p + 32, BigInt(notes.size), true);
  dv.setBigUint64(p + 48, 4n, true);
  p += PHDR_SIZE;
  const runOut: number[] = [];
  let off = dataOff;
  for (const run of runs) {
    dv.setUint32(p, PT_LOAD, true);
    dv.setUint32(p + 4, protFlags(run.vma.prot), true);
    dv.setBigUint64(p + 8, BigInt(off), true);
    dv.setBigUint64(p + 16, BigInt(run.addr), true);
    dv.setBigUint64(p + 32, BigInt(run.length), true);
    dv.setBigUint64(p + 40, BigInt(run.length), true);
    dv.setBigUint64(p + 48, BigInt(PAGE_SIZE), true);
    runOut.push(off);
    off += run.length;
    p += PHDR_SIZE;
  }
  if (extnum) {
    // section header 0: sh_info = the real number of program headers
    dv.setUint32(shOff + 44, segs, true);
  }
  let n = noteOff;
  for (const part of notes.parts) {
    head.set(part, n);
    n += part.length;
  }

  const ops = copyOpsFor(runs, (_run: MemoryRun, i: number) => runOut[i]!);
  const progress = opts.progress ?? noProgress;
  progress.start(plan.bytes, basename(dest));
  try {
    await writeOutput(
      dest,
      async (out) => {
        try {
          // in file order: a pipe or a device takes the core as a stream
          const expect = { next: 0 };
          await writeAt(out, head, 0, head.length, 0, expect);
          await copyInto(out, ops, progress, opts.chunkSize, expect);
        } catch (e) {
          throw outputError(dest, e);
        }
      },
      { stream: opts.stream, durable: opts.sync === true, inputs: stack.layers.map((l) => l.source) },
    );
  } finally {
    progress.finish();
  }
  const counts = new Map<string, number>();
  for (const k of notes.kinds) counts.set(k, (counts.get(k) ?? 0) + 1);
  return {
    format: 'elf',
    pid,
    output: dest,
    segments: runs.length,
    bytes: plan.bytes,
    pages: Math.ceil(plan.bytes / PAGE_SIZE),
    layersUsed: plan.layers.size,
    stackLayers: stack.layers.length,
    lazyBytes: plan.lazyBytes,
    fileSize: off,
    seconds: (performance.now() - t0) / 1000,
    threads: threads.length,
    notes: [...counts].map(([k, c]) => (c > 1 ? `${k} x${c}` : k)),
  };
}
