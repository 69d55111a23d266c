/**
 * CRIU's page-server wire format (criu/page-xfer.c, criu/include/page-xfer.h), both generations.
 *
 * A session is one TCP (or TLS, or UNIX socketpair) stream per peer; there is no magic, version,
 * length field or handshake. Every message starts with a fixed-size header, in host byte order
 * (little endian on every platform CRIU's page server is used on):
 *
 *   CRIU 4.2 (struct page_server_iov, 32 bytes)     CRIU <= 4.1 (24 bytes)
 *   off size field                                  off size field
 *    0   4   cmd = flags << 16 | code                0   4   cmd = flags << 16 | code
 *    4   4   padding (zero from CRIU; ignored)       4   4   nr_pages
 *    8   8   nr_pages                                8   8   vaddr
 *   16   8   vaddr                                  16   8   dst_id
 *   24   8   dst_id
 *
 * The two cannot be told apart by any field, so a receiver decides from the first message of a
 * connection (see detectHeaderFormat) and keeps that format for the whole session.
 *
 * `code` (cmd & 0xffff), who sends it, and what follows the header:
 *   1 ADD        nr_pages pages of data (old clients)     no answer
 *   2 HOLE       nothing (old clients; = ADD_F PE_PARENT)  no answer
 *   3 OPEN       nothing (old clients)                    no answer
 *   4 OPEN2      nothing (dump, pre-dump)                 answer: 1 byte has_parent (0/1)
 *   5 PARENT     nothing (pre-dump)                       answer: int32 has_parent
 *   6 ADD_F      nr_pages pages iff flags has PE_PRESENT  no answer
 *                (the flags are pagemap flags: PE_PARENT 1, PE_LAZY 2, PE_PRESENT 4)
 *   7 GET        nothing (lazy-pages daemon)              answer: a header with cmd
 *                                                         PS_IOV_ADD_F | PE_PRESENT << 16, the
 *                                                         request's vaddr and dst_id and
 *                                                         1 <= m <= nr_pages, then m pages
 *   0x1023 CLOSE        nothing                           answer: int32 0
 *   0x1024 FORCE_CLOSE  nothing (--ps-socket clients)     answer: int32 0
 * The server sends nothing except these answers; on an error CRIU's server just closes.
 *
 * `dst_id` names the pagemap: `id << 8 | type`, type 1 = pagemap-<id>.img (id = pid),
 * type 2 = pagemap-shmem-<id>.img (id = shmid). Older CRIUs sent other type numbers, which CRIU 4.2
 * still accepts: 10, 11, 16, 17 = a process pagemap; 27, 28, 29, 32, 33, 34 = shmem. GET is the
 * exception: its dst_id is the bare pid, and its answer echoes it.
 *
 * Page data follows the header at once, nr_pages * 4096 bytes (the sender's page size; 4096 on
 * every CRIU host this code talks to); the next header starts right after it. TCP segment
 * boundaries mean nothing.
 */

export const PS_IOV_ADD = 1;
export const PS_IOV_HOLE = 2;
export const PS_IOV_OPEN = 3;
export const PS_IOV_OPEN2 = 4;
export const PS_IOV_PARENT = 5;
export const PS_IOV_ADD_F = 6;
export const PS_IOV_GET = 7;
export const PS_IOV_CLOSE = 0x1023;
export const PS_IOV_FORCE_CLOSE = 0x1024;

/** Page size of the wire (the sending CRIU's). */
export const PS_PAGE_SIZE = 4096;

export const IOV_SIZE = 32;
export const IOV_SIZE_LEGACY = 24;

/** Header generation of a connection: CRIU 4.2's 32 bytes, or the 24 bytes of CRIU <= 4.1. */
export type HeaderFormat = 'iov32' | 'iov24';

export function headerSize(format: HeaderFormat): number {
  return format === 'iov32' ? IOV_SIZE : IOV_SIZE_LEGACY;
}

export const PS_TYPE_PID = 1;
export const PS_TYPE_SHMEM = 2;
/** Type numbers older CRIUs sent that CRIU 4.2's server maps to a process pagemap. */
const LEGACY_PID_TYPES = new Set([10, 11, 16, 17]);
/** ... and to a shmem pagemap. */
const LEGACY_SHMEM_TYPES = new Set([27, 28, 29, 32, 33, 34]);

const CODE_NAMES: ReadonlyMap<number, string> = new Map([
  [PS_IOV_ADD, 'ADD'],
  [PS_IOV_HOLE, 'HOLE'],
  [PS_IOV_OPEN, 'OPEN'],
  [PS_IOV_OPEN2, 'OPEN2'],
  [PS_IOV_PARENT, 'PARENT'],
  [PS_IOV_ADD_F, 'ADD_F'],
  [PS_IOV_GET, 'GET'],
  [PS_IOV_CLOSE, 'CLOSE'],
  [PS_IOV_FORCE_CLOSE, 'FORCE_CLOSE'],
]);

export function isKnownCode(code: number): boolean {
  return CODE_NAMES.has(code);
}

export function codeName(code: number): string {
  return CODE_NAMES.get(code) ?? `unknown command ${code}`;
}

/** One decoded header. Addresses and counts are bigint: they are u64 on the wire. */
export interface PageServerIov {
  /** cmd & 0xffff */
  code: number;
  /** cmd >> 16 (meaningful for ADD_F and GET answers) */
  flags: number;
  nrPages: bigint;
  vaddr: bigint;
  dstId: bigint;
}

export function packCmd(code: number, flags: number): number {
  return ((flags << 16) | code) >>> 0;
}

export function unpackCmd(cmd: number): { code: number; flags: number } {
  return { code: cmd & 0xffff, flags: cmd >>> 16 };
}

/** Decodes a header at `off` (the caller made sure the bytes are there). */
export function decodeIov(buf: Uint8Array, off: number, format: HeaderFormat): PageServerIov {
  const v = new DataView(buf.buffer, buf.byteOffset + off, headerSize(format));
  const { code, flags } = unpackCmd(v.getUint32(0, true));
  if (format === 'iov32') {
    return {
      code,
      flags,
      nrPages: v.getBigUint64(8, true),
      vaddr: v.getBigUint64(16, true),
      dstId: v.getBigUint64(24, true),
    };
  }
  return {
    code,
    flags,
    nrPages: BigInt(v.getUint32(4, true)),
    vaddr: v.getBigUint64(8, true),
    dstId: v.getBigUint64(16, true),
  };
}

/** Encodes a header (padding zero). A 24-byte header cannot carry nr_pages >= 2^32. */
export function encodeIov(iov: PageServerIov, format: HeaderFormat = 'iov32'): Uint8Array {
  const out = new Uint8Array(headerSize(format));
  const v = new DataView(out.buffer);
  v.setUint32(0, packCmd(iov.code, iov.flags), true);
  if (format === 'iov32') {
    v.setBigUint64(8, iov.nrPages, true);
    v.setBigUint64(16, iov.vaddr, true);
    v.setBigUint64(24, iov.dstId, true);
  } else {
    if (iov.nrPages > 0xffffffffn)
      throw new RangeError(`nr_pages ${iov.nrPages} does not fit a 24-byte header`);
    v.setUint32(4, Number(iov.nrPages), true);
    v.setBigUint64(8, iov.vaddr, true);
    v.setBigUint64(16, iov.dstId, true);
  }
  return out;
}

/**
 * Which header format a connection speaks, from the first IOV_SIZE_LEGACY bytes it sent (its first
 * message). The first message of every real session is OPEN2 or PARENT (dump, pre-dump), GET
 * (lazy-pages daemon), or, from old clients, OPEN/ADD/HOLE/ADD_F:
 * - OPEN2/OPEN/PARENT carry no address: in the 32-byte form bytes 16..24 are vaddr = 0 and dst_id
 *   sits at 24; in the 24-byte form dst_id (never 0: its type byte is >= 1) sits at 16.
 * - GET/ADD/ADD_F/HOLE carry nr_pages >= 1: the 24-byte form has it at 4, where the 32-byte form
 *   has zero padding.
 * A session that starts with CLOSE carries no information and is taken as 32-byte.
 */
export function detectHeaderFormat(first: Uint8Array): HeaderFormat {
  if (first.length < IOV_SIZE_LEGACY) throw new RangeError('detectHeaderFormat needs 24 bytes');
  const v = new DataView(first.buffer, first.byteOffset, IOV_SIZE_LEGACY);
  const code = v.getUint32(0, true) & 0xffff;
  switch (code) {
    case PS_IOV_OPEN:
    case PS_IOV_OPEN2:
    case PS_IOV_PARENT:
      return v.getBigUint64(16, true) !== 0n ? 'iov24' : 'iov32';
    case PS_IOV_ADD:
    case PS_IOV_ADD_F:
    case PS_IOV_HOLE:
    case PS_IOV_GET:
      return v.getUint32(4, true) !== 0 ? 'iov24' : 'iov32';
    default:
      return 'iov32';
  }
}

/** A pagemap named by a dst_id. */
export interface PagemapId {
  kind: 'pid' | 'shmem';
  /** The pid or shmid. */
  id: number;
}

/** Decodes `id << 8 | type`, or null for a type CRIU 4.2 rejects ("Unknown pagemap type"). */
export function decodeDstId(dstId: bigint): PagemapId | null {
  const type = Number(dstId & 0xffn);
  const id = dstId >> 8n;
  if (id > 0xffffffffn) return null;
  if (type === PS_TYPE_PID || LEGACY_PID_TYPES.has(type)) return { kind: 'pid', id: Number(id) };
  if (type === PS_TYPE_SHMEM || LEGACY_SHMEM_TYPES.has(type)) return { kind: 'shmem', id: Number(id) };
  return null;
}

export function encodeDstId(p: PagemapId): bigint {
  return (BigInt(p.id) << 8n) | BigInt(p.kind === 'pid' ? PS_TYPE_PID : PS_TYPE_SHMEM);
}

/** The image file name of a pagemap: pagemap-<pid>.img or pagemap-shmem-<shmid>.img. */
export function pagemapFileName(p: PagemapId): string {
  return p.kind === 'pid' ? `pagemap-${p.id}.img` : `pagemap-shmem-${p.id}.img`;
}

/** Does this command carry page data after its header? */
export function carriesData(code: number, flags: number): boolean {
  return code === PS_IOV_ADD || (code === PS_IOV_ADD_F && (flags & 4) !== 0);
}
