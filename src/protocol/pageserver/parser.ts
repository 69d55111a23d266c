/**
 * A push parser for the client-to-server direction of a page-server session (format: iov.ts).
 *
 * Fed bytes in any chunking; calls the handler once per header and then with the message's page
 * data, in the pieces it arrived in. Only a header in progress is ever buffered (at most 32 bytes):
 * page data is handed on as views of the chunks fed, so memory never depends on what a peer
 * announces. Every error names the byte offset in the stream where the bad message starts (or where
 * the stream was cut), as a PageServerProtocolError; after an error the parser accepts nothing more.
 */
import { type ErrorCode, PageServerProtocolError } from '../../errors.js';
import {
  carriesData,
  codeName,
  decodeDstId,
  decodeIov,
  detectHeaderFormat,
  type HeaderFormat,
  headerSize,
  IOV_SIZE,
  IOV_SIZE_LEGACY,
  isKnownCode,
  type PageServerIov,
  PS_IOV_ADD_F,
  PS_IOV_CLOSE,
  PS_IOV_FORCE_CLOSE,
  PS_IOV_GET,
  PS_PAGE_SIZE,
} from './iov.js';

/** A decoded message, with where it starts in the stream. */
export interface PageServerMessage extends PageServerIov {
  /** Byte offset of the header in the stream. */
  offset: number;
  /** Index of the message in the session (0 = first). */
  index: number;
  /** Bytes of page data that follow the header. */
  dataBytes: number;
}

export interface PageServerHandler {
  /** A header has been read (and checked). Data, if any, follows through `data`. */
  message(msg: PageServerMessage): void;
  /**
   * A piece of `msg`'s page data, in order. The view is only valid during the call (it points into
   * the chunk being fed): copy what must be kept.
   */
  data(bytes: Uint8Array, msg: PageServerMessage): void;
  /** All of `msg`'s data has arrived (called for data-carrying messages only). */
  dataEnd?(msg: PageServerMessage): void;
}

export interface ParserOptions {
  /** Header format; 'auto' (default) decides from the first message (detectHeaderFormat). */
  format?: HeaderFormat | 'auto';
  /**
   * The largest nr_pages accepted in one message. Default 2^36 pages (256 TiB, twice x86-64's
   * 4-level user address space); at most 2^40 (byte counts stay exact doubles). The data streams
   * through either way: this only rejects counts no process has, at once instead of at EOF.
   */
  maxPages?: bigint;
}

const ADDRESS_LIMIT = 1n << 64n;
const PAGE_MASK = BigInt(PS_PAGE_SIZE - 1);
const KNOWN_FLAGS = 7; // PE_PARENT | PE_LAZY | PE_PRESENT

export class PageServerParser {
  private readonly handler: PageServerHandler;
  private readonly maxPages: bigint;
  private fmt: HeaderFormat | null;
  private readonly head = new Uint8Array(IOV_SIZE);
  private headFill = 0;
  private pos = 0;
  private count = 0;
  private cur: PageServerMessage | null = null;
  private dataLeft = 0;
  private closedAt = -1;
  private failed: PageServerProtocolError | null = null;

  constructor(handler: PageServerHandler, opts: ParserOptions = {}) {
    this.handler = handler;
    this.maxPages = opts.maxPages ?? 1n << 36n;
    if (this.maxPages > 1n << 40n) throw new RangeError('PageServerParser: maxPages above 2^40');
    this.fmt = opts.format === undefined || opts.format === 'auto' ? null : opts.format;
  }

  /** The header format in use (null until the first message decided it). */
  get format(): HeaderFormat | null {
    return this.fmt;
  }

  /** Bytes consumed so far. */
  get offset(): number {
    return this.pos;
  }

  /** Messages decoded so far. */
  get messages(): number {
    return this.count;
  }

  /** True between messages (no header or data half read). */
  get atBoundary(): boolean {
    return this.headFill === 0 && this.dataLeft === 0;
  }

  /** Bytes of the current message's page data still to come (0 between messages). */
  get dataRemaining(): number {
    return this.dataLeft;
  }

  /**
   * Bytes still to come of the header in progress (or of the next one): what a reader can ask for
   * so that a read ends exactly at the header's end. The first header counts as 24 bytes until
   * they decide the format.
   */
  get headerRemaining(): number {
    return this.dataLeft > 0 ? 0 : this.needHead() - this.headFill;
  }

  /** True once CLOSE or FORCE_CLOSE has been read. */
  get closed(): boolean {
    return this.closedAt >= 0;
  }

  feed(chunk: Uint8Array): void {
    if (this.failed) throw this.failed;
    try {
      this.feedInner(chunk);
    } catch (e) {
      if (e instanceof PageServerProtocolError) this.failed = e;
      throw e;
    }
  }

  /** The peer closed its side: an error unless the stream ended at a message boundary. */
  end(): void {
    if (this.failed) throw this.failed;
    if (this.dataLeft > 0 && this.cur) {
      const got = this.cur.dataBytes - this.dataLeft;
      this.fail(
        `${codeName(this.cur.code)} at byte ${this.cur.offset} announced ${this.cur.dataBytes} bytes of page data, the stream ended after ${got}`,
        this.pos,
        'PAGESTACK_PS_TRUNCATED',
      );
    }
    if (this.headFill > 0) {
      this.fail(
        `the stream ended inside a header (${this.headFill} of ${this.needHead()} bytes)`,
        this.pos - this.headFill,
        'PAGESTACK_PS_TRUNCATED',
      );
    }
  }

  private fail(detail: string, offset: number, code: ErrorCode = 'PAGESTACK_PS_BAD_HEADER'): never {
    this.failed = new PageServerProtocolError(detail, offset, code);
    throw this.failed;
  }

  private needHead(): number {
    return this.fmt ? headerSize(this.fmt) : IOV_SIZE_LEGACY;
  }

  private feedInner(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.dataLeft > 0) {
        const n = Math.min(this.dataLeft, chunk.length - i);
        const msg = this.cur!;
        this.dataLeft -= n;
        this.pos += n;
        this.handler.data(chunk.subarray(i, i + n), msg);
        i += n;
        if (this.dataLeft === 0) this.handler.dataEnd?.(msg);
        continue;
      }
      if (this.closedAt >= 0) {
        this.fail(
          `unexpected data after ${codeName(PS_IOV_CLOSE)} (sent at byte ${this.closedAt}); expected the end of the stream`,
          this.pos,
          'PAGESTACK_PS_UNEXPECTED',
        );
      }
      // a header: the first one is read as 24 bytes, which decide the format, then completed
      let need = this.needHead();
      const take = Math.min(need - this.headFill, chunk.length - i);
      this.head.set(chunk.subarray(i, i + take), this.headFill);
      this.headFill += take;
      this.pos += take;
      i += take;
      if (this.headFill < need) continue;
      if (!this.fmt) {
        this.fmt = detectHeaderFormat(this.head.subarray(0, IOV_SIZE_LEGACY));
        need = headerSize(this.fmt);
        if (this.headFill < need) continue;
      }
      this.headFill = 0;
      this.onHeader(this.pos - need);
    }
  }

  private onHeader(offset: number): void {
    const iov = decodeIov(this.head, 0, this.fmt!);
    const msg: PageServerMessage = { ...iov, offset, index: this.count++, dataBytes: 0 };
    if (!isKnownCode(iov.code))
      this.fail(
        `unknown command ${iov.code} (cmd 0x${((iov.code | (iov.flags << 16)) >>> 0).toString(16)})`,
        offset,
        'PAGESTACK_PS_UNKNOWN_COMMAND',
      );
    const name = codeName(iov.code);
    if (iov.code === PS_IOV_ADD_F && (iov.flags & ~KNOWN_FLAGS) !== 0) {
      this.fail(
        `ADD_F with flags 0x${iov.flags.toString(16)}; expected PE_PARENT 1, PE_LAZY 2, PE_PRESENT 4`,
        offset,
      );
    }
    if (iov.code !== PS_IOV_GET && iov.code !== PS_IOV_CLOSE && iov.code !== PS_IOV_FORCE_CLOSE) {
      if (decodeDstId(iov.dstId) === null) {
        this.fail(
          `${name} for dst_id 0x${iov.dstId.toString(16)}: unknown pagemap type ${iov.dstId & 0xffn}; expected 1 (process) or 2 (shmem)`,
          offset,
          'PAGESTACK_PS_BAD_TYPE',
        );
      }
    }
    if (carriesData(iov.code, iov.flags) || iov.code === PS_IOV_GET || iov.nrPages > 0n) {
      if (iov.nrPages > this.maxPages) {
        this.fail(
          `${name} of ${iov.nrPages} pages; more than the ${this.maxPages} a process can have`,
          offset,
        );
      }
      if ((iov.vaddr & PAGE_MASK) !== 0n)
        this.fail(`${name} at 0x${iov.vaddr.toString(16)}: not page-aligned`, offset);
      if (iov.vaddr + iov.nrPages * BigInt(PS_PAGE_SIZE) > ADDRESS_LIMIT) {
        this.fail(
          `${name} of ${iov.nrPages} pages at 0x${iov.vaddr.toString(16)} goes past the end of the address space`,
          offset,
        );
      }
    }
    if (carriesData(iov.code, iov.flags)) {
      if (iov.nrPages === 0n) this.fail(`${name} with data but nr_pages 0`, offset);
      msg.dataBytes = Number(iov.nrPages) * PS_PAGE_SIZE;
    }
    if (iov.code === PS_IOV_CLOSE || iov.code === PS_IOV_FORCE_CLOSE) this.closedAt = offset;
    this.cur = msg;
    this.dataLeft = msg.dataBytes;
    this.handler.message(msg);
  }
}
