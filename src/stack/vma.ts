/**
 * VMAs as CRIU records them (vma_entry of mm-<pid>.img): the status bits (criu/include/image.h
 * VMA_*), the mmap prot/flags bits pagestack reads, the `/proc/PID/maps` permission string, and
 * the names of mapped files: the one `fileNames`, used by `maps` and by the ELF core's NT_FILE, so
 * both show a mapping under the same name.
 */
import { fileEntry, memfdEntry, regFileEntry } from '../image/views.js';
import type { Stack } from './stack.js';

export const VMA_AREA_REGULAR = 1 << 0;
export const VMA_AREA_STACK = 1 << 1;
export const VMA_AREA_VSYSCALL = 1 << 2;
export const VMA_AREA_VDSO = 1 << 3;
export const VMA_AREA_HEAP = 1 << 5;
export const VMA_FILE_PRIVATE = 1 << 6;
export const VMA_FILE_SHARED = 1 << 7;
export const VMA_ANON_SHARED = 1 << 8;
export const VMA_ANON_PRIVATE = 1 << 9;
export const VMA_AREA_SYSVIPC = 1 << 10;
export const VMA_AREA_SOCKET = 1 << 11;
export const VMA_AREA_VVAR = 1 << 12;
export const VMA_AREA_AIORING = 1 << 13;
export const VMA_AREA_MEMFD = 1 << 14;
export const VMA_AREA_SHSTK = 1 << 15;

/** A VMA backed by a file (files.img id in vma.shmid): regular files and memfds. */
export const VMA_FILE_BACKED = VMA_FILE_PRIVATE | VMA_FILE_SHARED | VMA_AREA_MEMFD;

/**
 * CRIU's vma_entry_is_private (criu/include/vma.h): the VMAs whose pages CRIU dumps into the
 * process's own pagemap-<pid>.img and writes back on restore (restore_priv_vma_content refuses a
 * pagemap entry in any other VMA: "Trying to restore page for non-private VMA"). A regular VMA
 * mapped MAP_PRIVATE, anonymous or of a file, plus shadow stacks and AIO rings. (CRIU also requires
 * `end <= task_size`, which leaves out only the vsyscall page, kept out of pagestack's VMAs.)
 *
 * A memfd or shared anonymous memory mapped MAP_PRIVATE is such a VMA *and* has a shared object
 * behind it (proc_parse.c gives it VMA_AREA_MEMFD | VMA_FILE_PRIVATE): see the private-over-shared
 * rule in process.ts.
 */
export function vmaIsPrivate(v: { readonly status: number }): boolean {
  const st = v.status;
  const regularPrivate = (st & VMA_AREA_REGULAR) !== 0 && (st & (VMA_ANON_PRIVATE | VMA_FILE_PRIVATE)) !== 0;
  return regularPrivate || (st & (VMA_AREA_SHSTK | VMA_AREA_AIORING)) !== 0;
}

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;
export const MAP_SHARED = 1;
export const MAP_GROWSDOWN = 0x100;

/** As /proc/PID/maps: "rw-p". */
export function vmaPerms(prot: number, flags: number): string {
  return (
    (prot & PROT_READ ? 'r' : '-') +
    (prot & PROT_WRITE ? 'w' : '-') +
    (prot & PROT_EXEC ? 'x' : '-') +
    (flags & MAP_SHARED ? 's' : 'p')
  );
}

/** The name /proc/PID/maps shows for a VMA: `[heap]`, `[stack]`, `[vdso]`, a file, `[shmem ID]`, or "" (anonymous). */
export function vmaName(
  v: { status: number; flags: number; shmid: number },
  files: Map<number, string>,
  shmem: string | null,
): string {
  const st = v.status;
  if (st & VMA_AREA_VSYSCALL) return '[vsyscall]';
  if (st & VMA_AREA_VDSO) return '[vdso]';
  if (st & VMA_AREA_VVAR) return '[vvar]';
  if (st & VMA_AREA_HEAP) return '[heap]';
  if (st & VMA_AREA_SYSVIPC) return `[sysvipc shmid ${v.shmid}]`;
  if (st & VMA_FILE_BACKED) {
    const n = files.get(v.shmid);
    if (n !== undefined) return n;
    return `[file id ${v.shmid}]`;
  }
  if (st & VMA_ANON_SHARED) return `[shmem ${shmem ?? v.shmid}]`;
  if (st & VMA_AREA_STACK || v.flags & MAP_GROWSDOWN) return '[stack]';
  return '';
}

/** What kind of mapping a VMA is, in one word or two (`stack`, `heap`, `file`, `shared anon`, `anon`, ...). */
export function vmaKind(status: number): string {
  if (status & VMA_AREA_STACK) return 'stack';
  if (status & VMA_AREA_HEAP) return 'heap';
  if (status & VMA_AREA_VDSO) return 'vdso';
  if (status & VMA_AREA_VVAR) return 'vvar';
  if (status & VMA_AREA_VSYSCALL) return 'vsyscall';
  if (status & VMA_AREA_MEMFD) return 'memfd';
  if (status & VMA_ANON_SHARED) return 'shared anon';
  if (status & VMA_AREA_SYSVIPC) return 'sysv shm';
  if (status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED)) return 'file';
  return 'anon';
}

/** The kernel's name of a memfd mapping: `/memfd:NAME (deleted)`; CRIU's shared anonymous memory is `/dev/zero (deleted)`. */
export function memfdPath(name: string): string {
  return `${name.startsWith('/') ? name : `/memfd:${name}`} (deleted)`;
}

/**
 * Names of mapped files by files.img id, as the kernel names them in /proc/PID/maps: regular
 * files by path, memfds as `/memfd:NAME (deleted)` (memfd.img gives NAME). A memfd whose
 * memfd.img entry is missing has no name here.
 */
export async function fileNames(stack: Stack): Promise<Map<number, string>> {
  const names = new Map<number, string>();
  const memfdNames = new Map<number, string>();
  const memfd = await stack.image('memfd.img');
  for (const m of memfd?.entries ?? []) {
    const e = memfdEntry(m);
    if (e.inodeId !== null) memfdNames.set(e.inodeId, e.name);
  }
  const files = await stack.image('files.img');
  for (const m of files?.entries ?? []) {
    const e = fileEntry(m);
    if (e.regName !== null) names.set(e.id, e.regName);
    else if (e.memfdInode !== null) {
      const n = memfdNames.get(e.memfdInode);
      if (n !== undefined) names.set(e.id, memfdPath(n));
    }
  }
  // CRIU before 3.x: reg-files.img holds reg_file_entry directly
  const regFiles = await stack.image('reg-files.img');
  for (const m of regFiles?.entries ?? []) {
    const e = regFileEntry(m);
    if (e.name !== null && !names.has(e.id)) names.set(e.id, e.name);
  }
  return names;
}
