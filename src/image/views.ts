/**
 * Typed views of the decoded messages the stack and the ops read: pstree, files (REG and MEMFD
 * entries), memfd, core and mm. A decoded message is a map of field names to values (uint64
 * fields as bigints); a view names its fields once, with their types, so a misspelt field does not
 * compile and no op repeats `Number(e['id'])` casts. Field names are CRIU 4.2's images/*.proto.
 */
import type { Message } from './schema.js';

/** An integer field as a number (64-bit fields arrive as bigints); 0 when absent. */
export function int(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return 0;
}

/** A 32-bit signed field (sint32/int32 sent as 64-bit two's complement stay in range). */
export function int32(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(BigInt.asIntN(32, v));
  return 0;
}

/** A field as an unsigned 64-bit value; 0n when absent. */
export function uint64(v: unknown): bigint {
  if (typeof v === 'bigint') return BigInt.asUintN(64, v);
  if (typeof v === 'number') return BigInt.asUintN(64, BigInt(Math.trunc(v)));
  return 0n;
}

function sub(v: unknown): Message | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
    ? (v as Message)
    : undefined;
}

/** pstree_entry. */
export interface PstreeEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly sid: number;
  readonly threads: readonly number[];
}

export function pstreeEntry(m: Message): PstreeEntry {
  return {
    pid: int(m['pid']),
    ppid: int(m['ppid']),
    pgid: int(m['pgid']),
    sid: int(m['sid']),
    threads: ((m['threads'] as unknown[] | undefined) ?? []).map(int),
  };
}

/** file_entry of files.img: its id, and what it is when the ops care (a regular file or a memfd). */
export interface FileEntry {
  readonly id: number;
  /** reg.name of a regular file, or null. */
  readonly regName: string | null;
  /** memfd.inode_id of a memfd, or null. */
  readonly memfdInode: number | null;
}

export function fileEntry(m: Message): FileEntry {
  const reg = sub(m['reg']);
  const mfd = sub(m['memfd']);
  return {
    id: int(m['id']),
    regName: reg && typeof reg['name'] === 'string' ? reg['name'] : null,
    memfdInode: mfd ? int(mfd['inode_id']) : null,
  };
}

/** reg_file_entry of reg-files.img (CRIU before 3.x). */
export function regFileEntry(m: Message): { readonly id: number; readonly name: string | null } {
  return { id: int(m['id']), name: typeof m['name'] === 'string' ? m['name'] : null };
}

/** memfd_inode_entry of memfd.img. */
export interface MemfdEntry {
  readonly inodeId: number | null;
  readonly name: string;
  /** The shmem id of its pagemap-shmem-<shmid>.img, or null. */
  readonly shmid: number | null;
}

export function memfdEntry(m: Message): MemfdEntry {
  return {
    inodeId: m['inode_id'] === undefined ? null : int(m['inode_id']),
    name: String(m['name'] ?? ''),
    shmid: m['shmid'] === undefined ? null : int(m['shmid']),
  };
}

/** core_entry: what the ops read of a thread's core image. */
export interface CoreView {
  /** Machine type (1 = x86_64). */
  readonly mtype: number;
  /** tc.comm (or thread_core.comm), or null. */
  readonly comm: string | null;
  readonly taskState: number;
  /** tc.flags (the task's PF_* flags). */
  readonly flags: bigint;
  /** The blocked signal set (thread_core's, else tc's). */
  readonly blkSigset: bigint;
  readonly schedNice: number;
  readonly uid: number;
  readonly gid: number;
  /** thread_info (x86): the general registers (user_x86_regs_entry) and the FPU state. */
  readonly threadInfo: Message | null;
  readonly gpregs: Message | null;
  readonly fpregs: Message | null;
}

export function coreView(m: Message): CoreView {
  const tc = sub(m['tc']);
  const thread = sub(m['thread_core']);
  const creds = sub(thread?.['creds']);
  const ti = sub(m['thread_info']);
  const comm = tc?.['comm'] ?? thread?.['comm'];
  return {
    mtype: int32(m['mtype']),
    comm: typeof comm === 'string' ? comm : null,
    taskState: int32(tc?.['task_state']),
    flags: uint64(tc?.['flags']),
    blkSigset: uint64(thread?.['blk_sigset'] ?? tc?.['blk_sigset']),
    schedNice: int32(thread?.['sched_nice']),
    uid: int32(creds?.['uid']) >>> 0,
    gid: int32(creds?.['gid']) >>> 0,
    threadInfo: ti ?? null,
    gpregs: sub(ti?.['gpregs']) ?? null,
    fpregs: sub(ti?.['fpregs']) ?? null,
  };
}

/** mm_entry: what the ops read of a process's mm image (its VMAs are read by stack/process.ts). */
export interface MmView {
  readonly argStart: bigint;
  readonly argEnd: bigint;
  /** mm_saved_auxv: (type, value) pairs. */
  readonly savedAuxv: readonly bigint[];
  readonly vmas: readonly Message[];
}

export function mmView(m: Message): MmView {
  return {
    argStart: uint64(m['mm_arg_start']),
    argEnd: uint64(m['mm_arg_end']),
    savedAuxv: ((m['mm_saved_auxv'] as unknown[] | undefined) ?? []).map(uint64),
    vmas: (m['vmas'] as Message[] | undefined) ?? [],
  };
}
