/**
 * Encoders for both directions of a page-server session (format: iov.ts). Answers are exactly the
 * sizes CRIU's peers read: OPEN2 1 byte, PARENT and CLOSE/FORCE_CLOSE an int32, GET a header and
 * the pages. Requests are what a dump or a lazy-pages daemon sends (tests, and a client later).
 */
import {
  encodeDstId,
  encodeIov,
  type HeaderFormat,
  type PagemapId,
  PS_IOV_ADD_F,
  PS_IOV_CLOSE,
  PS_IOV_FORCE_CLOSE,
  PS_IOV_GET,
  PS_IOV_OPEN2,
  PS_IOV_PARENT,
} from './iov.js';

const PE_PRESENT = 4;

function int32(v: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, v, true);
  return out;
}

/** OPEN2's answer: one byte, 1 = "the parent has this pagemap". */
export function open2Answer(hasParent: boolean): Uint8Array {
  return Uint8Array.of(hasParent ? 1 : 0);
}

/** PARENT's answer: int32 has_parent. */
export function parentAnswer(hasParent: boolean): Uint8Array {
  return int32(hasParent ? 1 : 0);
}

/** CLOSE's and FORCE_CLOSE's answer: int32 status (0 = everything stored; CRIU fails on anything else). */
export function closeAnswer(status = 0): Uint8Array {
  return int32(status);
}

/** The header of a GET answer: ADD_F | PE_PRESENT << 16, the request's vaddr and dst_id, m pages (data follows). */
export function getAnswerHeader(
  req: { vaddr: bigint; dstId: bigint },
  nrPages: number,
  format: HeaderFormat = 'iov32',
): Uint8Array {
  return encodeIov(
    { code: PS_IOV_ADD_F, flags: PE_PRESENT, nrPages: BigInt(nrPages), vaddr: req.vaddr, dstId: req.dstId },
    format,
  );
}

export function open2Request(dst: PagemapId, format: HeaderFormat = 'iov32'): Uint8Array {
  return encodeIov({ code: PS_IOV_OPEN2, flags: 0, nrPages: 0n, vaddr: 0n, dstId: encodeDstId(dst) }, format);
}

export function parentRequest(dst: PagemapId, format: HeaderFormat = 'iov32'): Uint8Array {
  return encodeIov(
    { code: PS_IOV_PARENT, flags: 0, nrPages: 0n, vaddr: 0n, dstId: encodeDstId(dst) },
    format,
  );
}

/** An ADD_F header; with PE_PRESENT in flags, nrPages pages of data must follow. */
export function addFRequest(
  dst: PagemapId,
  flags: number,
  vaddr: bigint,
  nrPages: number,
  format: HeaderFormat = 'iov32',
): Uint8Array {
  return encodeIov(
    { code: PS_IOV_ADD_F, flags, nrPages: BigInt(nrPages), vaddr, dstId: encodeDstId(dst) },
    format,
  );
}

/** GET: `pid` is the bare pid (not `pid << 8 | type`). */
export function getRequest(
  pid: number,
  vaddr: bigint,
  nrPages: number,
  format: HeaderFormat = 'iov32',
): Uint8Array {
  return encodeIov(
    { code: PS_IOV_GET, flags: 0, nrPages: BigInt(nrPages), vaddr, dstId: BigInt(pid) },
    format,
  );
}

export function closeRequest(force = false, format: HeaderFormat = 'iov32'): Uint8Array {
  return encodeIov(
    { code: force ? PS_IOV_FORCE_CLOSE : PS_IOV_CLOSE, flags: 0, nrPages: 0n, vaddr: 0n, dstId: 0n },
    format,
  );
}
