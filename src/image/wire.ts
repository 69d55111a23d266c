/**
 * The protobuf wire format, as much of it as CRIU images use (proto2, no groups in practice).
 *
 *   field key = varint(field_number << 3 | wire_type)
 *   wire 0 VARINT  : up to 10 bytes, 7 bits each, little end first
 *   wire 1 I64     : 8 bytes little-endian
 *   wire 2 LEN     : varint length, then that many bytes (strings, bytes, messages, packed arrays)
 *   wire 5 I32     : 4 bytes little-endian
 *   wire 3/4       : groups (deprecated) — rejected as invalid in CRIU images
 *
 * Every read is bounds-checked against the end of the current message and reports the absolute
 * byte offset in the image on failure.
 */
import { ImageFormatError } from '../errors.js';

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

export type WireType = 0 | 1 | 2 | 5;

const TWO32 = 0x1_0000_0000;

export class WireReader {
  readonly buf: Uint8Array;
  pos: number;
  readonly end: number;
  /** Offset of `buf[0]` within the whole image, for error messages. */
  readonly base: number;

  constructor(buf: Uint8Array, start = 0, end = buf.length, base = 0) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.base = base;
  }

  fail(detail: string, at = this.pos): never {
    throw new ImageFormatError(detail, this.base + at);
  }

  /** High 32 bits of the last varint read by `varintParts`. */
  hi = 0;

  /**
   * Reads a varint of up to 64 bits without allocating: returns its low 32 bits (unsigned) and
   * leaves the high 32 bits in `this.hi`.
   */
  varintParts(): number {
    const b = this.buf;
    const end = this.end;
    const start = this.pos;
    let p = start;
    if (p < end && b[p]! < 0x80) {
      this.pos = p + 1;
      this.hi = 0;
      return b[p]!;
    }
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (p >= end) this.fail('truncated varint: the message ends before its last byte', start);
      const x = b[p++]!;
      if (i < 4) lo |= (x & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (x & 0x0f) << 28;
        hi = (x & 0x7f) >> 4;
      } else hi |= (x & 0x7f) << (3 + 7 * (i - 5));
      if (x < 0x80) {
        if (i === 9 && x > 1) this.fail('invalid varint: more than 64 bits', start);
        this.pos = p;
        this.hi = hi >>> 0;
        return lo >>> 0;
      }
    }
    return this.fail('invalid varint: longer than 10 bytes, expected at most 10', start);
  }

  /** A varint that must fit in 32 bits unsigned (keys, lengths). */
  uint32(): number {
    const start = this.pos;
    const lo = this.varintParts();
    if (this.hi !== 0) {
      // int32 negatives are sign-extended to 10 bytes; callers that allow them use varint64.
      this.fail(`varint value ${(BigInt(this.hi) << 32n) | BigInt(lo)} does not fit in 32 bits`, start);
    }
    return lo;
  }

  /** A full 64-bit varint, as an unsigned bigint. */
  varint64(): bigint {
    const lo = this.varintParts();
    const hi = this.hi;
    // below 2^53 one conversion of an exact double is enough
    return hi < 0x200000 ? BigInt(hi * TWO32 + lo) : (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** A varint returned as a JS number when below 2^53, else as a bigint. */
  varintNumberOrBig(): number | bigint {
    const lo = this.varintParts();
    const hi = this.hi;
    return hi < 0x200000 ? hi * TWO32 + lo : (BigInt(hi) << 32n) | BigInt(lo);
  }

  fixed32(): number {
    if (this.end - this.pos < 4)
      this.fail(`truncated fixed32: expected 4 bytes, ${this.end - this.pos} left`);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }

  fixed64(): bigint {
    if (this.end - this.pos < 8)
      this.fail(`truncated fixed64: expected 8 bytes, ${this.end - this.pos} left`);
    const lo = this.fixed32();
    const hi = this.fixed32();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** A length-delimited payload: returns [start, end) within buf. */
  lengthDelimited(): [number, number] {
    const at = this.pos;
    const len = this.uint32();
    if (len > this.end - this.pos) {
      this.fail(`length ${len} runs past the end of the message (${this.end - this.pos} bytes left)`, at);
    }
    const s = this.pos;
    this.pos += len;
    return [s, this.pos];
  }

  /** Reads a field key; returns [fieldNumber, wireType]. */
  key(): [number, WireType] {
    const k = this.keyRaw();
    return [k >>> 3, (k & 7) as WireType];
  }

  /** Reads a field key, checked: field number `k >>> 3` (1 or more), wire type `k & 7` (0/1/2/5). */
  keyRaw(): number {
    const at = this.pos;
    const k = this.uint32();
    const wire = k & 7;
    const no = k >>> 3;
    if (no === 0) this.fail('invalid field number 0, expected 1 or more', at);
    if (wire !== 0 && wire !== 1 && wire !== 2 && wire !== 5) {
      this.fail(`invalid wire type ${wire} for field ${no}, expected 0, 1, 2 or 5`, at);
    }
    return k;
  }

  /** Skips the value of a field of the given wire type. */
  skip(wire: WireType): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint64();
        return;
      case WIRE_I64:
        if (this.end - this.pos < 8)
          this.fail(`truncated fixed64: expected 8 bytes, ${this.end - this.pos} left`);
        this.pos += 8;
        return;
      case WIRE_LEN:
        this.lengthDelimited();
        return;
      case WIRE_I32:
        if (this.end - this.pos < 4)
          this.fail(`truncated fixed32: expected 4 bytes, ${this.end - this.pos} left`);
        this.pos += 4;
        return;
    }
  }
}

/** Growable byte buffer for encoding. */
export class WireWriter {
  private buf: Uint8Array;
  pos = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Unsigned varint of a non-negative safe integer. */
  varint(v: number): void {
    this.ensure(10);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  /** Unsigned varint of a 64-bit value (bigint in [0, 2^64)). */
  varint64(v: bigint): void {
    if (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= 0n) {
      this.varint(Number(v));
      return;
    }
    this.ensure(10);
    v = BigInt.asUintN(64, v);
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  key(no: number, wire: WireType): void {
    this.varint(no * 8 + wire);
  }

  fixed32(v: number): void {
    this.ensure(4);
    v >>>= 0;
    this.buf[this.pos++] = v & 0xff;
    this.buf[this.pos++] = (v >>> 8) & 0xff;
    this.buf[this.pos++] = (v >>> 16) & 0xff;
    this.buf[this.pos++] = (v >>> 24) & 0xff;
  }

  fixed64(v: bigint): void {
    v = BigInt.asUintN(64, v);
    this.fixed32(Number(v & 0xffffffffn));
    this.fixed32(Number(v >> 32n));
  }

  /** Writes a length-delimited payload produced by `fill`. */
  lengthDelimited(fill: (w: WireWriter) => void): void {
    const inner = new WireWriter(64);
    fill(inner);
    const data = inner.finish();
    this.varint(data.length);
    this.bytes(data);
  }
}

export function u32le(buf: Uint8Array, off: number): number {
  return (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
}

export function putU32le(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
  buf[off + 2] = (v >>> 16) & 0xff;
  buf[off + 3] = (v >>> 24) & 0xff;
}

export { TWO32 };
