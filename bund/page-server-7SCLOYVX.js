import {
  LayerWriter,
  PagemapEntries
} from "./chunk-5235KGEG.js";
import {
  cleanStale
} from "./chunk-XWEEP4RX.js";
import {
  parsePort
} from "./chunk-XLDVULSI.js";
import "./chunk-524M245C.js";
import {
  openStackDir
} from "./chunk-GSAO6ZCS.js";
import {
  PAGE_SHIFT,
  PAGE_SIZE,
  PE_PARENT,
  PE_PRESENT,
  findExtent
} from "./chunk-NB7SHFDT.js";
import "./chunk-IJRLALQZ.js";
import "./chunk-5LGPV2OV.js";
import "./chunk-5F5SDADC.js";
import {
  cliStreams,
  errnoText
} from "./chunk-KQHSUXQF.js";
import {
  IngestError,
  LayerWriteError,
  PageServerError,
  PageServerProtocolError,
  PagestackError,
  UsageError
} from "./chunk-XLWXTOJZ.js";

// src/cli/page-server.ts
import { readFileSync } from "node:fs";

// src/server/page-server.ts
import { mkdir, readdir } from "node:fs/promises";
import { createServer as createTcpServer } from "node:net";
import { join as join2, relative, resolve } from "node:path";
import { createServer as createTlsServer } from "node:tls";

// src/protocol/pageserver/iov.ts
var PS_IOV_ADD = 1;
var PS_IOV_HOLE = 2;
var PS_IOV_OPEN = 3;
var PS_IOV_OPEN2 = 4;
var PS_IOV_PARENT = 5;
var PS_IOV_ADD_F = 6;
var PS_IOV_GET = 7;
var PS_IOV_CLOSE = 4131;
var PS_IOV_FORCE_CLOSE = 4132;
var PS_PAGE_SIZE = 4096;
var IOV_SIZE = 32;
var IOV_SIZE_LEGACY = 24;
function headerSize(format) {
  return format === "iov32" ? IOV_SIZE : IOV_SIZE_LEGACY;
}
var PS_TYPE_PID = 1;
var PS_TYPE_SHMEM = 2;
var LEGACY_PID_TYPES = /* @__PURE__ */ new Set([10, 11, 16, 17]);
var LEGACY_SHMEM_TYPES = /* @__PURE__ */ new Set([27, 28, 29, 32, 33, 34]);
var CODE_NAMES = /* @__PURE__ */ new Map([
  [PS_IOV_ADD, "ADD"],
  [PS_IOV_HOLE, "HOLE"],
  [PS_IOV_OPEN, "OPEN"],
  [PS_IOV_OPEN2, "OPEN2"],
  [PS_IOV_PARENT, "PARENT"],
  [PS_IOV_ADD_F, "ADD_F"],
  [PS_IOV_GET, "GET"],
  [PS_IOV_CLOSE, "CLOSE"],
  [PS_IOV_FORCE_CLOSE, "FORCE_CLOSE"]
]);
function isKnownCode(code) {
  return CODE_NAMES.has(code);
}
function codeName(code) {
  return CODE_NAMES.get(code) ?? `unknown command ${code}`;
}
function packCmd(code, flags) {
  return (flags << 16 | code) >>> 0;
}
function unpackCmd(cmd) {
  return { code: cmd & 65535, flags: cmd >>> 16 };
}
function decodeIov(buf, off, format) {
  const v = new DataView(buf.buffer, buf.byteOffset + off, headerSize(format));
  const { code, flags } = unpackCmd(v.getUint32(0, true));
  if (format === "iov32") {
    return {
      code,
      flags,
      nrPages: v.getBigUint64(8, true),
      vaddr: v.getBigUint64(16, true),
      dstId: v.getBigUint64(24, true)
    };
  }
  return {
    code,
    flags,
    nrPages: BigInt(v.getUint32(4, true)),
    vaddr: v.getBigUint64(8, true),
    dstId: v.getBigUint64(16, true)
  };
}
function encodeIov(iov, format = "iov32") {
  const out = new Uint8Array(headerSize(format));
  const v = new DataView(out.buffer);
  v.setUint32(0, packCmd(iov.code, iov.flags), true);
  if (format === "iov32") {
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
function detectHeaderFormat(first) {
  if (first.length < IOV_SIZE_LEGACY) throw new RangeError("detectHeaderFormat needs 24 bytes");
  const v = new DataView(first.buffer, first.byteOffset, IOV_SIZE_LEGACY);
  const code = v.getUint32(0, true) & 65535;
  switch (code) {
    case PS_IOV_OPEN:
    case PS_IOV_OPEN2:
    case PS_IOV_PARENT:
      return v.getBigUint64(16, true) !== 0n ? "iov24" : "iov32";
    case PS_IOV_ADD:
    case PS_IOV_ADD_F:
    case PS_IOV_HOLE:
    case PS_IOV_GET:
      return v.getUint32(4, true) !== 0 ? "iov24" : "iov32";
    default:
      return "iov32";
  }
}
function decodeDstId(dstId) {
  const type = Number(dstId & 0xffn);
  const id = dstId >> 8n;
  if (id > 0xffffffffn) return null;
  if (type === PS_TYPE_PID || LEGACY_PID_TYPES.has(type)) return { kind: "pid", id: Number(id) };
  if (type === PS_TYPE_SHMEM || LEGACY_SHMEM_TYPES.has(type)) return { kind: "shmem", id: Number(id) };
  return null;
}
function pagemapFileName(p) {
  return p.kind === "pid" ? `pagemap-${p.id}.img` : `pagemap-shmem-${p.id}.img`;
}
function carriesData(code, flags) {
  return code === PS_IOV_ADD || code === PS_IOV_ADD_F && (flags & 4) !== 0;
}

// src/protocol/pageserver/parser.ts
var ADDRESS_LIMIT = 1n << 64n;
var PAGE_MASK = BigInt(PS_PAGE_SIZE - 1);
var KNOWN_FLAGS = 7;
var PageServerParser = class {
  handler;
  maxPages;
  fmt;
  head = new Uint8Array(IOV_SIZE);
  headFill = 0;
  pos = 0;
  count = 0;
  cur = null;
  dataLeft = 0;
  closedAt = -1;
  failed = null;
  constructor(handler, opts = {}) {
    this.handler = handler;
    this.maxPages = opts.maxPages ?? 1n << 36n;
    if (this.maxPages > 1n << 40n) throw new RangeError("PageServerParser: maxPages above 2^40");
    this.fmt = opts.format === void 0 || opts.format === "auto" ? null : opts.format;
  }
  /** The header format in use (null until the first message decided it). */
  get format() {
    return this.fmt;
  }
  /** Bytes consumed so far. */
  get offset() {
    return this.pos;
  }
  /** Messages decoded so far. */
  get messages() {
    return this.count;
  }
  /** True between messages (no header or data half read). */
  get atBoundary() {
    return this.headFill === 0 && this.dataLeft === 0;
  }
  /** Bytes of the current message's page data still to come (0 between messages). */
  get dataRemaining() {
    return this.dataLeft;
  }
  /**
   * Bytes still to come of the header in progress (or of the next one): what a reader can ask for
   * so that a read ends exactly at the header's end. The first header counts as 24 bytes until
   * they decide the format.
   */
  get headerRemaining() {
    return this.dataLeft > 0 ? 0 : this.needHead() - this.headFill;
  }
  /** True once CLOSE or FORCE_CLOSE has been read. */
  get closed() {
    return this.closedAt >= 0;
  }
  feed(chunk) {
    if (this.failed) throw this.failed;
    try {
      this.feedInner(chunk);
    } catch (e) {
      if (e instanceof PageServerProtocolError) this.failed = e;
      throw e;
    }
  }
  /** The peer closed its side: an error unless the stream ended at a message boundary. */
  end() {
    if (this.failed) throw this.failed;
    if (this.dataLeft > 0 && this.cur) {
      const got = this.cur.dataBytes - this.dataLeft;
      this.fail(
        `${codeName(this.cur.code)} at byte ${this.cur.offset} announced ${this.cur.dataBytes} bytes of page data, the stream ended after ${got}`,
        this.pos,
        "PAGESTACK_PS_TRUNCATED"
      );
    }
    if (this.headFill > 0) {
      this.fail(
        `the stream ended inside a header (${this.headFill} of ${this.needHead()} bytes)`,
        this.pos - this.headFill,
        "PAGESTACK_PS_TRUNCATED"
      );
    }
  }
  fail(detail, offset, code = "PAGESTACK_PS_BAD_HEADER") {
    this.failed = new PageServerProtocolError(detail, offset, code);
    throw this.failed;
  }
  needHead() {
    return this.fmt ? headerSize(this.fmt) : IOV_SIZE_LEGACY;
  }
  feedInner(chunk) {
    let i = 0;
    while (i < chunk.length) {
      if (this.dataLeft > 0) {
        const n = Math.min(this.dataLeft, chunk.length - i);
        const msg = this.cur;
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
          "PAGESTACK_PS_UNEXPECTED"
        );
      }
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
  onHeader(offset) {
    const iov = decodeIov(this.head, 0, this.fmt);
    const msg = { ...iov, offset, index: this.count++, dataBytes: 0 };
    if (!isKnownCode(iov.code))
      this.fail(
        `unknown command ${iov.code} (cmd 0x${(iov.code | iov.flags << 16).toString(16)})`,
        offset,
        "PAGESTACK_PS_UNKNOWN_COMMAND"
      );
    const name = codeName(iov.code);
    if (iov.code === PS_IOV_ADD_F && (iov.flags & ~KNOWN_FLAGS) !== 0) {
      this.fail(
        `ADD_F with flags 0x${iov.flags.toString(16)}; expected PE_PARENT 1, PE_LAZY 2, PE_PRESENT 4`,
        offset
      );
    }
    if (iov.code !== PS_IOV_GET && iov.code !== PS_IOV_CLOSE && iov.code !== PS_IOV_FORCE_CLOSE) {
      if (decodeDstId(iov.dstId) === null) {
        this.fail(
          `${name} for dst_id 0x${iov.dstId.toString(16)}: unknown pagemap type ${iov.dstId & 0xffn}; expected 1 (process) or 2 (shmem)`,
          offset,
          "PAGESTACK_PS_BAD_TYPE"
        );
      }
    }
    if (carriesData(iov.code, iov.flags) || iov.code === PS_IOV_GET || iov.nrPages > 0n) {
      if (iov.nrPages > this.maxPages) {
        this.fail(
          `${name} of ${iov.nrPages} pages; more than the ${this.maxPages} a process can have`,
          offset
        );
      }
      if ((iov.vaddr & PAGE_MASK) !== 0n)
        this.fail(`${name} at 0x${iov.vaddr.toString(16)}: not page-aligned`, offset);
      if (iov.vaddr + iov.nrPages * BigInt(PS_PAGE_SIZE) > ADDRESS_LIMIT) {
        this.fail(
          `${name} of ${iov.nrPages} pages at 0x${iov.vaddr.toString(16)} goes past the end of the address space`,
          offset
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
};

// src/protocol/pageserver/writer.ts
var PE_PRESENT2 = 4;
function int32(v) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, v, true);
  return out;
}
function open2Answer(hasParent) {
  return Uint8Array.of(hasParent ? 1 : 0);
}
function parentAnswer(hasParent) {
  return int32(hasParent ? 1 : 0);
}
function closeAnswer(status = 0) {
  return int32(status);
}
function getAnswerHeader(req, nrPages, format = "iov32") {
  return encodeIov(
    { code: PS_IOV_ADD_F, flags: PE_PRESENT2, nrPages: BigInt(nrPages), vaddr: req.vaddr, dstId: req.dstId },
    format
  );
}

// src/server/ingest.ts
import { join } from "node:path";

// src/server/ingest-thread.ts
import { Worker } from "node:worker_threads";
var PAGE = 4096;
var SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { readSync, writeSync, fdatasync } = require('node:fs');
const { slotSize, syncEvery } = workerData;
const PAGE = ${PAGE};
const below = Buffer.allocUnsafe(slotSize);
const pos = new Map();
const synced = new Map();
const syncing = new Set();
let syncFailed = null;
let settling = 0;
function settled() {
  for (; settling > 0; settling--) parentPort.postMessage({ settled: true, failed: syncFailed });
}
parentPort.on('message', (b) => {
  if (b.settle) {
    settling++;
    if (syncing.size === 0) settled();
    return;
  }
  if (syncFailed) {
    parentPort.postMessage({ seq: b.seq, buf: b.buf, failed: syncFailed }, [b.buf]);
    return;
  }
  const stage = Buffer.from(b.buf);
  const same = new Uint8Array(b.pages);
  let step = 'read';
  try {
    const r = b.reads;
    for (let i = 0; i < r.length; i += 4) {
      const rfd = r[i], rpos = r[i + 1], at = r[i + 2], len = r[i + 3];
      let got = 0;
      while (got < len) {
        const n = readSync(rfd, below, at + got, len - got, rpos + got);
        if (n === 0) break;
        got += n;
      }
      const full = Math.floor(got / PAGE);
      for (let p = 0; p < full; p++) {
        const o = at + p * PAGE;
        if (stage.compare(below, o, o + PAGE, o, o + PAGE) === 0) same[o / PAGE] = 1;
      }
    }
    step = 'write';
    let at = pos.get(b.key) ?? 0;
    let p = 0;
    while (p < b.pages) {
      if (same[p]) { p++; continue; }
      let q = p + 1;
      while (q < b.pages && !same[q]) q++;
      const len = (q - p) * PAGE;
      let done = 0;
      while (done < len) done += writeSync(b.fd, stage, p * PAGE + done, len - done, at + done);
      at += len;
      p = q;
    }
    pos.set(b.key, at);
    if (syncEvery > 0 && at - (synced.get(b.key) ?? 0) >= syncEvery && !syncing.has(b.key)) {
      syncing.add(b.key);
      synced.set(b.key, at);
      const key = b.key;
      fdatasync(b.fd, (e) => {
        syncing.delete(key);
        if (e && !syncFailed) syncFailed = { step: 'fdatasync', key, message: String(e.message) };
        if (syncing.size === 0) settled();
      });
    }
  } catch (e) {
    parentPort.postMessage({ seq: b.seq, buf: b.buf, failed: { step, key: b.key, message: String(e && e.message) } }, [b.buf]);
    return;
  }
  parentPort.postMessage({ seq: b.seq, buf: b.buf, same }, [b.buf, same.buffer]);
});
`;
var IngestThread = class {
  slotSize;
  worker;
  free = [];
  results = /* @__PURE__ */ new Map();
  exited;
  hasExited = false;
  failure = null;
  published = 0;
  done = 0;
  wake = null;
  names = /* @__PURE__ */ new Map();
  /** { settle: true } messages not answered yet. */
  settling = 0;
  constructor(buffers, slotSize, syncEvery) {
    this.slotSize = slotSize;
    for (let i = 0; i < buffers; i++) this.free.push(new ArrayBuffer(slotSize));
    this.worker = new Worker(SOURCE, { eval: true, execArgv: [], workerData: { slotSize, syncEvery } });
    this.worker.on("message", (m) => {
      if (m.settled) {
        if (m.failed) this.failure ??= m.failed;
        this.settling--;
        this.wake?.();
        return;
      }
      this.free.push(m.buf);
      if (m.failed) this.failure ??= m.failed;
      else this.results.set(m.seq, m.same);
      this.done = Math.max(this.done, m.seq + 1);
      this.wake?.();
    });
    this.worker.once("error", (e) => {
      this.failure ??= { message: `the ingest thread failed: ${e.message}` };
    });
    this.exited = new Promise((resolve2) => {
      this.worker.once("exit", () => {
        this.hasExited = true;
        this.wake?.();
        resolve2();
      });
    });
  }
  /** Batches published so far, and answered by the thread. */
  get publishedCount() {
    return this.published;
  }
  get doneCount() {
    return this.done;
  }
  /** A free stage buffer, once the thread has handed one back. */
  async nextBuffer() {
    while (this.free.length === 0 && !this.failure && !this.hasExited) await this.next();
    this.check();
    if (this.free.length === 0) throw this.error();
    return new Uint8Array(this.free.pop());
  }
  /** A free stage buffer if one is back already, else null (does not throw: see check()). */
  takeFree() {
    const b = this.free.pop();
    return b ? new Uint8Array(b) : null;
  }
  /** Batch `seq`'s result (1 for each page equal to the one below), taken once; none if it failed. */
  takeResult(seq) {
    const r = this.results.get(seq);
    this.results.delete(seq);
    return r;
  }
  /** Throws what failed on the thread, if anything has. */
  check() {
    if (this.failure) throw this.error();
  }
  /** Names pages file `key` for error messages. */
  name(key, path) {
    this.names.set(key, path);
  }
  /** Hands `stage` (from nextBuffer; moved: unusable here after) with `pages` staged pages over. */
  publish(stage, key, pagesFd, pages, reads) {
    const flat = [];
    for (const r of reads) flat.push(r.fd, r.pos, r.at, r.len);
    const buf = stage.buffer;
    this.worker.postMessage({ seq: this.published++, buf, key, fd: pagesFd, pages, reads: flat }, [buf]);
  }
  /** Waits until the first `target` batches are answered; throws what failed. */
  async waitDone(target) {
    while (this.done < target && !this.failure) {
      if (this.hasExited) break;
      await this.next();
    }
    if (this.failure || this.done < target) throw this.error();
  }
  /**
   * Waits until everything published is answered and no background fdatasync is in flight (before
   * a pages file it writes is closed); throws what failed.
   */
  async settle() {
    await this.waitDone(this.published);
    if (this.hasExited) throw this.error();
    this.settling++;
    this.worker.postMessage({ settle: true });
    while (this.settling > 0 && !this.hasExited && !this.failure) await this.next();
    this.check();
    if (this.settling > 0) throw this.error();
  }
  /** Ends the thread once everything published is answered; throws what failed. */
  async finish() {
    try {
      await this.waitDone(this.published);
    } finally {
      await this.stop();
    }
  }
  /** Ends the thread (after the batch it is on); safe at any point. */
  async stop() {
    if (!this.hasExited) await this.worker.terminate();
    await this.exited;
  }
  next() {
    return new Promise((resolve2) => {
      this.wake = () => {
        this.wake = null;
        resolve2();
      };
    });
  }
  error() {
    const f = this.failure;
    const what = `${f?.message ?? "the ingest thread stopped"}`;
    if (f?.step === "read") return new IngestError(`reading the stack below: ${what}`);
    const path = f?.key !== void 0 && this.names.get(f.key) || "pages file";
    return new LayerWriteError(`${path}: ${f?.step ?? "write"}: ${what}`);
  }
};

// src/server/ingest.ts
var FIRST_PAGES_ID = 65537;
var STAGE_BYTES = 1 << 20;
var THREAD_SLOTS = 8;
var SYNC_EVERY = 8 << 20;
function layerNumbers(names) {
  return names.filter((n) => /^[1-9]\d*$/.test(n)).map(Number).filter((n) => Number.isSafeInteger(n)).sort((a, b) => a - b);
}
var LayerIngest = class _LayerIngest {
  number;
  dest;
  writer;
  below;
  belowName;
  nextPagesId = FIRST_PAGES_ID;
  cur = null;
  written = /* @__PURE__ */ new Set();
  stats;
  /** The entry whose data is arriving, and the stage it is collected in. */
  dataEntry = null;
  stage = Buffer.allocUnsafe(STAGE_BYTES);
  belowBuf = Buffer.allocUnsafe(STAGE_BYTES);
  stageFill = 0;
  finished = false;
  /** The ingest thread (ingest-thread.ts), and what waits for its results, in order. */
  thread;
  queue = [];
  /** The slot being filled (the stage, when threaded), or null. */
  slotBuf = null;
  constructor(number, dest, writer, below, belowName, threaded) {
    this.thread = threaded ? new IngestThread(THREAD_SLOTS, STAGE_BYTES, SYNC_EVERY) : null;
    this.number = number;
    this.dest = dest;
    this.writer = writer;
    this.below = below;
    this.belowName = belowName;
    this.stats = {
      layer: dest,
      pagemaps: 0,
      entries: 0,
      pagesReceived: 0,
      pagesKept: 0,
      pagesShared: 0,
      pagesWithoutData: 0
    };
  }
  /** Starts layer `number` of `stackDir` on top of layer `belowNumber` (null: the first layer). */
  static async begin(stackDir, number, belowNumber, opts = {}) {
    const dest = join(stackDir, String(number));
    const belowName = belowNumber === null ? null : String(belowNumber);
    const below = belowName === null ? null : await openStackDir(join(stackDir, belowName));
    try {
      const writer = await LayerWriter.begin(dest);
      return new _LayerIngest(number, dest, writer, below, belowName, opts.thread ?? true);
    } catch (e) {
      await below?.close();
      throw e;
    }
  }
  /**
   * The pagemap messages go to; opens it (OPEN2/OPEN, or implicitly) unless it is the open one.
   * Synchronous (undefined) when it is the open one, as for nearly every ADD_F.
   */
  select(p, explicit) {
    const name = pagemapFileName(p);
    if (!explicit && this.cur?.name === name) return void 0;
    return this.open(name);
  }
  async open(name) {
    await this.closePagemap();
    if (this.written.has(name)) {
      throw new IngestError(`${name} opened a second time in one session (CRIU would truncate it)`);
    }
    this.written.add(name);
    const pagesId = this.nextPagesId++;
    const pages = await this.writer.createPages(`pages-${pagesId}.img`);
    let below = null;
    if (this.below?.top.files.includes(name)) below = await this.below.memory(name);
    const threaded = this.thread !== null && (!below || below.files.every((f) => !f || f.fd !== void 0));
    if (threaded) this.thread.name(pagesId, pages.path);
    this.cur = {
      name,
      pagesId,
      pages,
      entries: new PagemapEntries(),
      below,
      threaded,
      endPage: 0,
      entryIndex: 0
    };
    this.stats.pagemaps++;
  }
  /** An ADD_F/ADD/HOLE header for the open pagemap. With PE_PRESENT its data follows via data(). */
  entry(vaddr, nrPages, flags) {
    const c = this.cur;
    const vpage = Number(vaddr >> BigInt(PAGE_SHIFT));
    const n = Number(nrPages);
    if (vpage < c.endPage) {
      throw new IngestError(
        `${c.name}: entry at 0x${vaddr.toString(16)} is below the end of the previous one (0x${(c.endPage * PAGE_SIZE).toString(16)}); entries must ascend`
      );
    }
    if (n === 0) return;
    c.endPage = vpage + n;
    const index = c.entryIndex++;
    this.stats.entries++;
    if (flags & PE_PRESENT) {
      this.dataEntry = { index, vpage, flags, done: 0 };
      this.stats.pagesReceived += n;
      return;
    }
    if (flags & PE_PARENT) this.checkCovered(c, vaddr, vpage, n);
    if (this.queue.length > 0) this.queue.push({ kind: "entry", cur: c, index, vpage, n, flags });
    else c.entries.push(index, vpage, n, flags);
    this.stats.pagesWithoutData += n;
  }
  checkCovered(c, vaddr, vpage, n) {
    const x = c.below?.extents;
    let at = vpage;
    if (x) {
      for (let j = findExtent(x, vpage); j < x.count && x.start[j] <= at && at < vpage + n; j++) {
        if (x.end[j] > at) at = x.end[j];
      }
    }
    if (at < vpage + n) {
      throw new IngestError(
        `${c.name}: PE_PARENT entry at 0x${vaddr.toString(16)} (${n} pages): page 0x${(at * PAGE_SIZE).toString(16)} is not in the stack below${this.belowName ? ` (layer ${this.belowName})` : " (this is the first layer)"}`
      );
    }
  }
  /**
   * Where the next `max` bytes of the current entry's page data can be read straight into: the
   * free part of the ingest slot being filled (a free slot is taken if there is one). null: no
   * slot at hand (or no ingest thread); the bytes come to data() from elsewhere.
   */
  dataTarget(max) {
    if (!this.cur?.threaded || !this.dataEntry) return null;
    this.thread.check();
    if (!this.slotBuf && !this.takeSlot()) return null;
    return this.slotBuf.subarray(
      this.stageFill,
      this.stageFill + Math.min(max, STAGE_BYTES - this.stageFill)
    );
  }
  /**
   * Inside an entry's page data: undefined when a slot is at hand for it (or none is needed),
   * else a promise of one. Reading on before a slot is back would only read into a buffer to copy
   * from.
   */
  slotReady() {
    if (!this.cur?.threaded || !this.dataEntry) return void 0;
    this.thread.check();
    if (this.slotBuf || this.takeSlot()) return void 0;
    return this.awaitSlot();
  }
  /** Takes a free slot if one is back (the results before it become entries); false if none. */
  takeSlot() {
    const b = this.thread.takeFree();
    if (!b) return false;
    this.slotBuf = b;
    this.collect();
    return true;
  }
  /** Waits for a slot to come back and takes it (throws what failed on the thread). */
  async awaitSlot() {
    this.slotBuf = await this.thread.nextBuffer();
    this.collect();
  }
  /** A piece of the current entry's page data; synchronous (undefined) where no wait is needed. */
  data(bytes) {
    if (this.cur?.threaded) return this.dataThreaded(bytes, 0);
    return this.dataStaged(bytes);
  }
  async dataStaged(bytes) {
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(bytes.length - off, STAGE_BYTES - this.stageFill);
      this.stage.set(bytes.subarray(off, off + n), this.stageFill);
      this.stageFill += n;
      off += n;
      if (this.stageFill === STAGE_BYTES) await this.flushStage();
    }
  }
  /** The current entry's data is complete. */
  dataEnd() {
    if (this.cur?.threaded) {
      this.publishBatch();
      this.dataEntry = null;
      return void 0;
    }
    return this.flushStage().then(() => {
      this.dataEntry = null;
    });
  }
  /**
   * `data` with the ingest thread: the bytes go into its slots, a slot per batch; bytes read in
   * place (dataTarget) are only counted. Waits only for a slot to come back.
   */
  dataThreaded(bytes, from) {
    const slot = this.slotBuf;
    if (from === 0 && slot && bytes.buffer === slot.buffer && bytes.byteOffset === slot.byteOffset + this.stageFill) {
      this.stageFill += bytes.length;
      if (this.stageFill === STAGE_BYTES) this.publishBatch();
      return void 0;
    }
    let off = from;
    while (off < bytes.length) {
      if (!this.slotBuf) {
        this.thread.check();
        if (!this.takeSlot()) return this.awaitSlot().then(() => this.dataThreaded(bytes, off));
      }
      const n = Math.min(bytes.length - off, STAGE_BYTES - this.stageFill);
      this.slotBuf.set(bytes.subarray(off, off + n), this.stageFill);
      this.stageFill += n;
      off += n;
      if (this.stageFill === STAGE_BYTES) this.publishBatch();
    }
    return void 0;
  }
  /** Hands the staged pages of the current entry to the ingest thread. */
  publishBatch() {
    const e = this.dataEntry;
    const c = this.cur;
    const k = this.stageFill / PAGE_SIZE;
    if (k === 0) return;
    const t = this.thread;
    t.check();
    const v0 = e.vpage + e.done;
    const reads = this.belowReads(v0, k);
    const seq = t.publishedCount;
    t.publish(
      this.slotBuf,
      c.pagesId,
      c.pages.fd,
      k,
      reads.map((r) => ({ fd: r.file.fd, pos: r.pos, at: r.at, len: r.len }))
    );
    this.queue.push({ kind: "batch", cur: c, seq, index: e.index, v0, k, flags: e.flags });
    e.done += k;
    this.stageFill = 0;
    this.slotBuf = null;
  }
  /** Turns the results the ingest thread has finished into entries, in order. */
  collect() {
    const t = this.thread;
    let i = 0;
    for (; i < this.queue.length; i++) {
      const it = this.queue[i];
      if (it.kind === "entry") {
        it.cur.entries.push(it.index, it.vpage, it.n, it.flags);
        continue;
      }
      if (!t || it.seq >= t.doneCount) break;
      const same = t.takeResult(it.seq);
      if (!same) break;
      this.pushRuns(it.cur, it.index, it.flags, same, it.v0, it.k);
    }
    this.queue.splice(0, i);
  }
  /** Waits for everything with the ingest thread and takes the results. */
  async drain() {
    if (!this.thread) return;
    await this.thread.settle();
    this.collect();
  }
  /** Whether the open pagemap's stack below (if any) is read synchronously. */
  belowIsSync() {
    const below = this.cur?.below;
    return !below || below.files.every((f) => !f || f.readSync !== void 0);
  }
  /** The reads of the stack below that `k` staged pages from page `v0` are compared with. */
  belowReads(v0, k) {
    const reads = [];
    const c = this.cur;
    const x = c.below?.extents;
    if (x && c.below) {
      for (let j = findExtent(x, v0); j < x.count && x.start[j] < v0 + k; j++) {
        const layer = x.layer[j];
        if (layer < 0) continue;
        const a = Math.max(v0, x.start[j]);
        const b = Math.min(v0 + k, x.end[j]);
        if (b <= a) continue;
        reads.push({
          file: c.below.files[layer],
          at: (a - v0) * PAGE_SIZE,
          len: (b - a) * PAGE_SIZE,
          pos: x.offset[j] + (a - x.start[j]) * PAGE_SIZE,
          a
        });
      }
    }
    return reads;
  }
  /** Marks the pages of one read below (`got` bytes of it in belowBuf) that equal the stage. */
  markSame(same, v0, r, got) {
    const full = Math.floor(got / PAGE_SIZE);
    for (let p = 0; p < full; p++) {
      const o = r.at + p * PAGE_SIZE;
      if (this.stage.compare(this.belowBuf, o, o + PAGE_SIZE, o, o + PAGE_SIZE) === 0) same[r.a - v0 + p] = 1;
    }
  }
  /**
   * Compares the staged pages with the stack below and writes entries and kept pages, on this
   * thread (no ingest thread for this pagemap). Where the files allow, with synchronous calls: a
   * page-cache copy awaited through the thread pool is a round trip during which the socket is
   * not read.
   */
  async flushStage() {
    const e = this.dataEntry;
    const c = this.cur;
    const k = this.stageFill / PAGE_SIZE;
    if (k === 0) return;
    const v0 = e.vpage + e.done;
    const sync = this.belowIsSync();
    const same = new Uint8Array(k);
    for (const r of this.belowReads(v0, k)) {
      let got = 0;
      while (got < r.len) {
        const n = sync ? r.file.readSync(this.belowBuf, r.at + got, r.len - got, r.pos + got) : await r.file.read(this.belowBuf, r.at + got, r.len - got, r.pos + got);
        if (n === 0) break;
        got += n;
      }
      this.markSame(same, v0, r, got);
    }
    for (const run of this.pushRuns(c, e.index, e.flags, same, v0, k)) {
      if (sync) c.pages.appendSync(this.stage, run.at, run.len);
      else await c.pages.append(this.stage, run.at, run.len);
    }
    e.done += k;
    this.stageFill = 0;
  }
  /** The entries of `k` pages from `v0` of source entry `index`, PE_PARENT where `same`. */
  pushRuns(c, index, flags, same, v0, k) {
    const kept = [];
    let p = 0;
    while (p < k) {
      const s = same[p];
      let q = p + 1;
      while (q < k && same[q] === s) q++;
      if (s) {
        c.entries.push(index, v0 + p, q - p, PE_PARENT);
        this.stats.pagesShared += q - p;
      } else {
        c.entries.push(index, v0 + p, q - p, flags);
        kept.push({ at: p * PAGE_SIZE, len: (q - p) * PAGE_SIZE });
        this.stats.pagesKept += q - p;
      }
      p = q;
    }
    return kept;
  }
  async closePagemap() {
    const c = this.cur;
    if (!c) return;
    await this.drain();
    this.cur = null;
    await c.pages.close();
    await this.writer.writePagemap(c.name, c.pagesId, c.entries);
  }
  /** CLOSE: writes what is open, links the parent, fsyncs and renames into place. */
  async commit() {
    if (this.dataEntry) throw new IngestError("CLOSE inside page data");
    await this.closePagemap();
    await this.thread?.finish();
    if (this.belowName !== null) await this.writer.symlink("parent", `../${this.belowName}`);
    await this.writer.commit();
    this.finished = true;
    await this.below?.close();
    return this.stats;
  }
  /** Drops the half-built layer (disconnect, bad data, shutdown). */
  async abort() {
    if (this.finished) return;
    this.finished = true;
    await this.thread?.stop();
    await this.cur?.pages.discard();
    this.cur = null;
    await this.writer.abort();
    await this.below?.close();
  }
  get summary() {
    return this.stats;
  }
};

// src/server/socket-feed.ts
import { Socket } from "node:net";
import { TLSSocket } from "node:tls";
var SCRATCH_BYTES = 1 << 20;
var PAUSED_READ = 4096;
var SocketFeed = class _SocketFeed {
  socket;
  /** True when reads land in our buffers (onread); false: the stream's own buffers. */
  userBuffers;
  /** Where reads go that the consumer names no memory for (user buffers only; full size from run()). */
  scratch;
  consumer = null;
  paused = true;
  settle = null;
  outcome = null;
  constructor(raw, userBuffers) {
    const h = raw._handle;
    const unread = raw.readableLength === 0 && h?.reading !== true;
    if (userBuffers && unread && !(raw instanceof TLSSocket) && h && typeof h.useUserBuffer === "function") {
      this.scratch = Buffer.allocUnsafe(PAUSED_READ);
      raw._handle = null;
      raw.destroy();
      this.socket = new Socket({
        handle: h,
        pauseOnCreate: true,
        onread: {
          buffer: () => this.nextTarget(),
          callback: (n, buf) => this.onRead(n, buf)
        }
      });
      this.userBuffers = true;
    } else {
      this.scratch = Buffer.alloc(0);
      this.socket = raw;
      raw.pause();
      raw.on("data", (b) => {
        if (!this.deliver(b)) raw.pause();
      });
      this.userBuffers = false;
    }
    this.socket.on("end", () => this.finish());
    this.socket.on("error", (e) => this.fail(e));
    this.socket.on("close", () => this.fail(new Error("the connection was closed")));
  }
  /**
   * Takes over an accepted socket (accepted paused: createServer({ pauseOnConnect: true })).
   * `userBuffers: false` reads the stream even where user buffers would work.
   */
  static adopt(raw, opts = {}) {
    return new _SocketFeed(raw, opts.userBuffers ?? true);
  }
  /**
   * Reads into `consumer` until the peer's EOF (resolves), a socket error or close (rejects), or
   * finish()/fail() from the consumer.
   */
  run(consumer) {
    if (this.outcome) return this.outcome.ok ? Promise.resolve() : Promise.reject(this.outcome.error);
    if (this.userBuffers) this.scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
    this.consumer = consumer;
    const done = new Promise((ok, fail) => {
      this.settle = { ok, fail };
    });
    this.resume();
    return done;
  }
  /** True once run() has its outcome (EOF, finish(), fail(), a socket error or close). */
  get ended() {
    return this.outcome !== null;
  }
  /** Reads again after bytes() returned false. */
  resume() {
    if (this.outcome || !this.paused) return;
    this.paused = false;
    this.socket.resume();
  }
  /** Ends run() successfully (the consumer needs no more bytes). */
  finish() {
    if (this.outcome) return;
    this.outcome = { ok: true };
    this.settle?.ok();
  }
  /** Ends run() with `e`. */
  fail(e) {
    if (this.outcome) return;
    this.outcome = { ok: false, error: e };
    this.settle?.fail(e);
  }
  nextTarget() {
    if (this.paused || this.outcome) return this.scratch.subarray(0, PAUSED_READ);
    if (!this.consumer?.target) return this.scratch;
    try {
      return this.consumer.target(this.scratch);
    } catch (e) {
      this.fail(e);
      this.paused = true;
      return this.scratch.subarray(0, PAUSED_READ);
    }
  }
  onRead(n, buf) {
    return this.deliver(buf.subarray(0, n));
  }
  deliver(view) {
    if (this.outcome || !this.consumer) return false;
    let more;
    try {
      more = this.consumer.bytes(view);
    } catch (e) {
      this.fail(e);
      return false;
    }
    if (!more || this.outcome) this.paused = true;
    return !this.paused;
  }
};

// src/server/page-server.ts
function failure(e, peer) {
  if (e instanceof PagestackError) return { code: e.code, data: { ...e.data, peer }, message: e.message };
  const message = e instanceof Error ? e.message : String(e);
  return { code: "PAGESTACK_PS_NO_CLOSE", data: { peer }, message };
}
var PageServer = class _PageServer {
  stack;
  opts;
  server;
  sockets = /* @__PURE__ */ new Set();
  queue = Promise.resolve();
  log;
  listeners = [];
  closing = false;
  constructor(opts) {
    this.opts = opts;
    this.stack = resolve(opts.stack);
    this.log = opts.log ?? (() => void 0);
    const onConnection = (sock) => this.accept(sock);
    if (opts.tls) {
      const t = opts.tls;
      const srv = createTlsServer({
        ca: t.ca,
        cert: t.cert,
        key: t.key,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: "TLSv1.2",
        // TLS 1.2 only, on purpose (PAGESERVER.md 9.3): under TLS 1.3 OpenSSL sends two
        // NewSessionTicket messages after the handshake. CRIU 4.2's GnuTLS consumes each one inside
        // gnutls_record_recv, which then returns GNUTLS_E_AGAIN with no data; CRIU's tls_recv
        // turns that into a short read, which its callers treat as fatal: the dump fails reading
        // the OPEN2 answer ("The page server doesn't answer: Resource temporarily unavailable").
        // CRIU's own server enables no tickets, so CRIU-to-CRIU TLS 1.3 works. Node 20 has no
        // per-context option for the ticket count (SSL_OP_NO_TICKET and sessionTimeout 0 still
        // send them, tested); the only TLS 1.3 way is `NumTickets = 0` in an OpenSSL config file
        // loaded by the whole process (node --openssl-config), which a library cannot impose.
        // Any other TLS 1.3 post-handshake message (KeyUpdate) would break a 4.2 dump the same way.
        maxVersion: "TLSv1.2"
      });
      srv.on("secureConnection", (s) => {
        if (!t.noCnVerify && !this.peerNamesAddress(s)) {
          this.log(
            `${peerName(s)}: client certificate does not name ${this.address} (subjectAltName IP); connection closed (use --tls-no-cn-verify to accept it)`
          );
          s.destroy();
          return;
        }
        onConnection(s);
      });
      srv.on("tlsClientError", (e, s) => {
        this.log(`${peerName(s)}: TLS handshake failed: ${e.message.split("\n")[0]}`);
      });
      this.server = srv;
    } else {
      this.server = createTcpServer({ pauseOnConnect: true }, onConnection);
    }
  }
  /** Cleans what a killed server left in STACK, then listens. */
  static async start(opts) {
    const ps = new _PageServer(opts);
    if (opts.lazy) {
      let names;
      try {
        names = await readdir(ps.stack);
      } catch (e) {
        throw new PageServerError(
          `${ps.stack}: cannot serve lazy pages: ${errnoText(e)}`,
          "PAGESTACK_PS_NO_LAYERS",
          {
            file: ps.stack
          }
        );
      }
      const numbers = layerNumbers(names);
      const want = opts.lazy.layer ?? numbers[numbers.length - 1];
      if (want === void 0 || !numbers.includes(want)) {
        throw new PageServerError(
          want === void 0 ? `${ps.stack}: no layers to serve (expected directories 1, 2, ... written by page-server)` : `${ps.stack}: no layer ${want} (layers: ${numbers.join(", ")})`,
          "PAGESTACK_PS_NO_LAYERS",
          { file: ps.stack }
        );
      }
    } else {
      try {
        await mkdir(ps.stack, { recursive: true });
      } catch (e) {
        throw new PageServerError(
          `${ps.stack}: cannot create the stack directory: ${errnoText(e)}`,
          "PAGESTACK_OUTPUT",
          {
            file: ps.stack
          }
        );
      }
    }
    for (const n of await readdir(ps.stack)) {
      const m = /^\.(\d+)\.pagestack-(tmp|old)-/.exec(n);
      if (!m) continue;
      for (const done of await cleanStale(join2(ps.stack, m[1])))
        ps.log(`cleaned up ${join2(ps.stack, done)}`);
    }
    const host = opts.address ?? "127.0.0.1";
    await new Promise((ok, fail) => {
      ps.server.once(
        "error",
        (e) => fail(
          new PageServerError(
            `cannot listen on ${host} port ${opts.port}: ${listenErrorText(e)}`,
            "PAGESTACK_LISTEN",
            {
              host,
              port: opts.port
            }
          )
        )
      );
      ps.server.listen({ port: opts.port, host }, () => {
        ps.server.off("error", fail);
        ok();
      });
    });
    ps.server.on("error", (e) => ps.log(`listening socket: ${e.message}`));
    return ps;
  }
  get address() {
    return this.opts.address ?? "127.0.0.1";
  }
  get port() {
    const a = this.server.address();
    return typeof a === "object" && a ? a.port : 0;
  }
  /** Calls `fn` after every session (tests, the CLI's summary). */
  onSession(fn) {
    this.listeners.push(fn);
  }
  /** Stops listening, ends running and waiting sessions (their layers are not written). */
  async close() {
    this.closing = true;
    const closed = new Promise((ok) => this.server.close(() => ok()));
    for (const s of this.sockets) s.destroy();
    await closed;
    await this.queue;
  }
  peerNamesAddress(s) {
    const alt = s.getPeerCertificate()?.subjectaltname ?? "";
    return alt.split(/,\s*/).some((e) => e === `IP Address:${this.address}`);
  }
  accept(raw) {
    const feed = SocketFeed.adopt(raw);
    const sock = feed.socket;
    const peer = peerName(sock);
    this.sockets.add(sock);
    sock.on("error", () => void 0);
    sock.on("close", () => this.sockets.delete(sock));
    sock.setNoDelay(true);
    const busy = this.sockets.size > 1;
    if (busy) this.log(`${peer}: connected; waiting for the running session on ${this.stack} to end`);
    if (this.opts.lazy) {
      const run = this.serveLazy(feed, peer).then((r) => {
        for (const l of this.listeners) l(r);
      });
      this.queue = this.queue.then(() => run);
      return;
    }
    const turn = this.queue.then(() => this.session(feed, peer));
    this.queue = turn.then(
      (r) => {
        for (const l of this.listeners) l(r);
      },
      () => void 0
    );
  }
  serveLazy(feed, peer) {
    return lazySession(
      feed,
      peer,
      this.stack,
      this.opts.lazy?.layer,
      this.opts.idleTimeoutMs ?? 12e4,
      this.log
    );
  }
  async session(feed, peer) {
    const sock = feed.socket;
    if (sock.destroyed || this.closing) {
      const error = `${peer}: went away before its turn`;
      this.log(error);
      sock.destroy();
      return { peer, ok: false, error };
    }
    let numbers;
    try {
      numbers = layerNumbers(await readdir(this.stack));
    } catch (e) {
      const error = `${peer}: cannot read ${this.stack}: ${errnoText(e)}; session ended, no layer written [PAGESTACK_OUTPUT]`;
      this.log(error);
      sock.destroy();
      return { peer, ok: false, error, code: "PAGESTACK_OUTPUT", data: { peer, file: this.stack } };
    }
    const below = numbers.length > 0 ? numbers[numbers.length - 1] : null;
    const number = (below ?? 0) + 1;
    let ingest = null;
    const ops = [];
    let lastData = 0;
    const parser = new PageServerParser({
      message: (msg) => {
        if (msg.dataBytes > 0) lastData = msg.dataBytes;
        ops.push({ kind: "msg", msg });
      },
      data: (bytes) => ops.push({ kind: "data", bytes }),
      // a view of the chunk read: kept until applied
      dataEnd: () => ops.push({ kind: "end" })
    });
    let committed = null;
    const idle = this.opts.idleTimeoutMs ?? 12e4;
    sock.setTimeout(
      idle,
      () => sock.destroy(
        new PageServerError(
          `no data for ${Math.round(idle / 1e3)} s (slow or stuck peer)`,
          "PAGESTACK_PS_IDLE",
          {
            offset: parser.offset
          }
        )
      )
    );
    this.log(
      `${peer}: session for ${join2(this.stack, String(number))}${below === null ? "" : ` on top of ${below}`}`
    );
    try {
      ingest = await LayerIngest.begin(this.stack, number, below, {
        thread: this.opts.ingestThread !== false
      });
      const ing = ingest;
      const apply = (op) => {
        if (op.kind === "data") return ing.data(op.bytes);
        if (op.kind === "end") return ing.dataEnd();
        const m = op.msg;
        const at = (what, code) => new PageServerError(`byte ${m.offset}: ${codeName(m.code)}: ${what}`, code, { offset: m.offset });
        const select = (explicit) => ing.select(decodeDstId(m.dstId), explicit)?.catch((e) => {
          throw e instanceof IngestError ? at(e.message, e.code) : e;
        });
        switch (m.code) {
          case PS_IOV_OPEN2:
            return select(true).then(() => {
              sock.write(open2Answer(false));
            });
          case PS_IOV_OPEN:
            return select(true);
          case PS_IOV_PARENT:
            sock.write(parentAnswer(false));
            return void 0;
          case PS_IOV_ADD:
          case PS_IOV_HOLE:
          case PS_IOV_ADD_F: {
            const flags = m.code === PS_IOV_ADD ? 4 : m.code === PS_IOV_HOLE ? 1 : m.flags;
            const entry = () => {
              try {
                ing.entry(m.vaddr, m.nrPages, flags);
              } catch (e) {
                throw at(e.message, e instanceof PagestackError ? e.code : "PAGESTACK_PS_INGEST");
              }
            };
            const opening = select(false);
            if (opening) return opening.then(entry);
            entry();
            return void 0;
          }
          case PS_IOV_GET:
            throw at(
              "a GET sent to a receiving page server (lazy pages are served by page-server --lazy)",
              "PAGESTACK_PS_UNEXPECTED"
            );
          case PS_IOV_CLOSE:
          case PS_IOV_FORCE_CLOSE:
            return ing.commit().then(
              (stats) => {
                committed = stats;
                sock.write(closeAnswer(0));
                if (m.code === PS_IOV_FORCE_CLOSE) sock.end();
              },
              (e) => {
                sock.write(closeAnswer(-1));
                throw e;
              }
            );
        }
        return void 0;
      };
      let next = 0;
      let inflight = null;
      const waitThen = (waiting, then) => {
        inflight = waiting.then(() => {
          inflight = null;
          if (!feed.ended) then();
        }).catch((e) => {
          inflight = null;
          feed.fail(e);
        });
      };
      const pump = () => {
        while (next < ops.length) {
          if (feed.ended) return false;
          const waiting = apply(ops[next++]);
          if (waiting) {
            waitThen(waiting, () => {
              if (pump()) feed.resume();
            });
            return false;
          }
        }
        ops.length = 0;
        next = 0;
        if (parser.closed && sock.writableEnded) {
          feed.finish();
          return false;
        }
        const slot = parser.dataRemaining > 0 ? ing.slotReady() : void 0;
        if (slot) {
          waitThen(slot, () => feed.resume());
          return false;
        }
        return true;
      };
      let readError = null;
      await feed.run({
        target: (scratch) => {
          const left = parser.dataRemaining;
          if (left > 0) return ing.dataTarget(left) ?? scratch;
          return lastData >= 64 << 10 ? scratch.subarray(0, parser.headerRemaining) : scratch;
        },
        bytes: (view) => {
          parser.feed(view);
          return pump();
        }
      }).catch((e) => {
        readError = { e };
      });
      while (inflight) await inflight;
      if (readError) throw readError.e;
      parser.end();
      if (!committed) {
        throw new PageServerError(
          `byte ${parser.offset}: the peer closed the connection before CLOSE (the dump failed or was killed)`,
          "PAGESTACK_PS_NO_CLOSE",
          { offset: parser.offset }
        );
      }
      const s = committed;
      this.log(
        `${peer}: layer ${s.layer} written: ${s.pagemaps} pagemaps, ${s.pagesReceived} pages received, ${s.pagesKept} kept, ${s.pagesShared} equal to the stack below (PE_PARENT), ${s.pagesWithoutData} without data${parser.format === "iov24" ? " (CRIU <= 4.1 headers)" : ""}`
      );
      return { peer, ok: true, layer: s.layer, stats: s };
    } catch (e) {
      const f = failure(e, peer);
      const where = committed ? `after layer ${committed.layer} was written` : "no layer written";
      const error = `${peer}: ${oneLine(f.message)}; session ended, ${where} [${f.code}]`;
      this.log(error);
      return {
        peer,
        ok: !!committed,
        error,
        code: f.code,
        data: f.data,
        ...committed ? { layer: committed.layer } : {}
      };
    } finally {
      sock.setTimeout(0);
      await flushed(sock);
      sock.destroy();
      await ingest?.abort();
    }
  }
};
var GET_READ_PAGES = 1024;
var FLUSH_MS = 1e4;
var LAZY_BUFFERS = 3;
function listenErrorText(e) {
  const code = e.code;
  if (code === "EADDRINUSE") return "the port is in use";
  if (code === "EADDRNOTAVAIL") return "no such address on this machine";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "not an address (nor a name that resolves here)";
  if (code === "EACCES") return "permission denied";
  return errnoText(e);
}
async function lazySession(feed, peer, stackDir, layerOpt, idleMs, log) {
  const sock = feed.socket;
  const refuse = (e) => {
    const f = failure(e, peer);
    const error = `${peer}: ${oneLine(f.message)}; session ended [${f.code}]`;
    log(error);
    sock.destroy();
    return { peer, ok: false, error, code: f.code, data: f.data };
  };
  let numbers;
  try {
    numbers = layerNumbers(await readdir(stackDir));
  } catch (e) {
    return refuse(
      new PageServerError(`${stackDir}: cannot read: ${errnoText(e)}`, "PAGESTACK_PS_NO_LAYERS", {
        file: stackDir
      })
    );
  }
  const layer = layerOpt ?? numbers[numbers.length - 1];
  if (layer === void 0 || !numbers.includes(layer)) {
    return refuse(
      new PageServerError(
        layer === void 0 ? `${stackDir} has no layers to serve` : `${stackDir} has no layer ${layer} (layers: ${numbers.join(", ")})`,
        "PAGESTACK_PS_NO_LAYERS",
        {}
      )
    );
  }
  const layerDir = join2(stackDir, String(layer));
  let stack;
  try {
    stack = await openStackDir(layerDir);
  } catch (e) {
    return refuse(e);
  }
  const names = stack.layers.map((l) => l.source.name);
  const short = names.map((n) => {
    const rel = relative(stackDir, n);
    return /^[1-9]\d*$/.test(rel) ? `layer ${rel}` : n;
  });
  const fromLayer = /* @__PURE__ */ new Map();
  let gets = 0;
  let pages = 0;
  let closed = false;
  const msgs = [];
  const parser = new PageServerParser({ message: (m) => msgs.push(m), data: () => void 0 });
  const answerBuffers = [];
  let buffersMade = 0;
  let bufferBack = null;
  const answerBuffer = async () => {
    while (answerBuffers.length === 0 && buffersMade >= LAZY_BUFFERS) {
      await new Promise((ok) => {
        bufferBack = () => {
          bufferBack = null;
          ok();
        };
      });
    }
    if (answerBuffers.length > 0) return answerBuffers.pop();
    buffersMade++;
    return new Uint8Array(GET_READ_PAGES * 4096);
  };
  sock.setTimeout(
    idleMs,
    () => sock.destroy(
      new PageServerError(
        `no data for ${Math.round(idleMs / 1e3)} s (slow or stuck peer)`,
        "PAGESTACK_PS_IDLE",
        {
          offset: parser.offset
        }
      )
    )
  );
  log(`${peer}: lazy session serving ${layerDir} (${names.length} layers)`);
  try {
    const answer = async () => {
      for (const m of msgs.splice(0)) {
        if (feed.ended) return;
        if (m.code === PS_IOV_CLOSE || m.code === PS_IOV_FORCE_CLOSE) {
          sock.write(closeAnswer(0));
          closed = true;
          if (m.code === PS_IOV_FORCE_CLOSE) sock.end();
          continue;
        }
        if (m.code !== PS_IOV_GET) {
          throw new PageServerError(
            `byte ${m.offset}: ${codeName(m.code)} sent to a lazy page server (it only answers GET)`,
            "PAGESTACK_PS_UNEXPECTED",
            { offset: m.offset }
          );
        }
        const pid = Number(m.dstId);
        const pm = `pagemap-${pid}.img`;
        const where = `byte ${m.offset}: GET ${m.nrPages} pages at 0x${m.vaddr.toString(16)} of pid ${pid}`;
        const cannot = (why) => new PageServerError(`${where}: ${why}`, "PAGESTACK_PS_CANNOT_SERVE", {
          offset: m.offset,
          pid,
          address: Number(m.vaddr),
          layer: layerDir
        });
        if (!stack.top.files.includes(pm)) throw cannot(`${layerDir} has no ${pm}`);
        const mem = await stack.memory(pm);
        if (feed.ended) return;
        const x = mem.extents;
        const v0 = Number(m.vaddr / 4096n);
        const want = Math.min(Number(m.nrPages), GET_READ_PAGES);
        let got = 0;
        const perLayer = [];
        for (let j = findExtent(x, v0); j < x.count && got < want; j++) {
          if (x.start[j] > v0 + got || x.layer[j] < 0) break;
          const k = Math.min(x.end[j], v0 + want) - (v0 + got);
          if (k <= 0) continue;
          const last = perLayer[perLayer.length - 1];
          if (last && last[0] === x.layer[j]) last[1] += k;
          else perLayer.push([x.layer[j], k]);
          got += k;
        }
        if (got === 0) {
          const j = findExtent(x, v0);
          const why = j < x.count && x.start[j] <= v0 && x.layer[j] < 0 ? "lazy in the stack too (no data)" : "not dumped";
          throw cannot(`page 0x${m.vaddr.toString(16)} is ${why}; cannot answer`);
        }
        const buf = await answerBuffer();
        if (feed.ended) return;
        const into = buf.subarray(0, got * 4096);
        const data = mem.files.every((f) => !f || f.readSync) ? mem.readIntoSync(into, v0 * 4096) : await mem.readInto(into, v0 * 4096);
        if (feed.ended) return;
        sock.cork();
        sock.write(getAnswerHeader(m, got, parser.format ?? "iov32"));
        sock.write(data, () => {
          answerBuffers.push(buf);
          bufferBack?.();
        });
        sock.uncork();
        gets++;
        pages += got;
        for (const [l, k] of perLayer) fromLayer.set(names[l], (fromLayer.get(names[l]) ?? 0) + k);
        log(
          `${peer}: GET pid ${pid} 0x${m.vaddr.toString(16)} +${m.nrPages}: served ${got}${got < Number(m.nrPages) ? " (short: the rest is asked again)" : ""} from ${perLayer.map(([l, k]) => `${short[l]} ${k}`).join(", ")}`
        );
      }
      if (closed && sock.writableEnded) feed.finish();
    };
    let answering = null;
    let readError = null;
    await feed.run({
      bytes: (view) => {
        parser.feed(view);
        if (msgs.length === 0) return true;
        answering = answer().then(
          () => {
            answering = null;
            feed.resume();
          },
          (e) => {
            answering = null;
            feed.fail(e);
          }
        );
        return false;
      }
    }).catch((e) => {
      readError = { e };
    });
    while (answering) await answering;
    if (readError) throw readError.e;
    parser.end();
    if (!closed)
      throw new PageServerError(
        `byte ${parser.offset}: the peer closed the connection before CLOSE`,
        "PAGESTACK_PS_NO_CLOSE",
        { offset: parser.offset }
      );
    const by = names.filter((n) => fromLayer.has(n)).map((n) => `${fromLayer.get(n)} from ${n}`).join(", ");
    log(`${peer}: lazy session done: ${gets} GETs, ${pages} pages served (${by || "none"})`);
    return { peer, ok: true, layer: layerDir };
  } catch (e) {
    const f = failure(e, peer);
    const error = `${peer}: ${oneLine(f.message)}; lazy session ended after ${gets} GETs, ${pages} pages [${f.code}]`;
    log(error);
    return { peer, ok: false, error, code: f.code, data: f.data };
  } finally {
    sock.setTimeout(0);
    await flushed(sock);
    sock.destroy();
    await stack.close();
  }
}
function flushed(s) {
  if (!s.writableEnded || s.writableFinished || s.destroyed) return Promise.resolve();
  return new Promise((ok) => {
    const done = () => {
      clearTimeout(timer);
      s.off("finish", done);
      s.off("close", done);
      ok();
    };
    const timer = setTimeout(done, FLUSH_MS);
    s.on("finish", done);
    s.on("close", done);
  });
}
function peerName(s) {
  return s.remoteAddress ? `${s.remoteAddress}:${s.remotePort}` : "peer";
}
function oneLine(s) {
  return s.replace(/\s*\n\s*/g, " ").trim();
}

// src/cli/page-server.ts
function layerOf(s) {
  if (!/^[1-9]\d*$/.test(s)) throw new UsageError(`--layer '${s}': expected a layer number (1, 2, ...)`);
  return Number(s);
}
function readPem(what, path) {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`${what} ${path}: cannot read: ${errnoText(e)}`);
  }
}
function registerPageServer(program) {
  program.command("page-server").description(
    "receive `criu dump --page-server` sessions, each as the next layer STACK/N (pages equal to the layer below stored as PE_PARENT)"
  ).argument("<stack>", "stack directory (created if missing)").requiredOption("--port <n>", "TCP port (0: any free port, printed at start)").option("--address <a>", "address to listen on", "127.0.0.1").option("--idle-timeout <s>", "end a session that sends nothing for this many seconds", "120").option(
    "--lazy",
    "serve lazy pages to `criu lazy-pages --page-server` from the stack instead of receiving dumps"
  ).option("--layer <n>", "with --lazy: the layer to serve (default: the highest-numbered)").option(
    "--tls",
    "TLS as CRIU --tls (client certificate required; TLS 1.2 only: OpenSSL TLS 1.3 session tickets break CRIU 4.2, see README)"
  ).option("--tls-cacert <file>", "CA certificate that signed the clients (PEM)", "/etc/pki/CA/cacert.pem").option("--tls-cert <file>", "server certificate (PEM)", "/etc/pki/criu/cert.pem").option("--tls-key <file>", "server key (PEM)", "/etc/pki/criu/private/key.pem").option("--tls-no-cn-verify", "accept a client certificate that does not name the server's address").action(async (stack, opts) => {
    const port = parsePort(opts.port);
    if (opts.layer !== void 0 && !opts.lazy)
      throw new UsageError("--layer goes with --lazy (it names the layer lazy pages are served from)");
    const idle = Number(opts.idleTimeout);
    if (!Number.isFinite(idle) || idle <= 0)
      throw new UsageError(`--idle-timeout '${opts.idleTimeout}': expected seconds > 0`);
    let tls;
    if (opts.tls) {
      tls = {
        ca: readPem("--tls-cacert", opts.tlsCacert),
        cert: readPem("--tls-cert", opts.tlsCert),
        key: readPem("--tls-key", opts.tlsKey),
        noCnVerify: opts.tlsNoCnVerify === true
      };
    }
    const log = (line) => cliStreams().stderr(`page-server: ${line}
`);
    const server = await PageServer.start({
      stack,
      port,
      address: opts.address,
      idleTimeoutMs: idle * 1e3,
      log,
      ...tls ? { tls } : {},
      ...opts.lazy ? { lazy: opts.layer === void 0 ? {} : { layer: layerOf(opts.layer) } } : {}
    });
    log(
      `listening on ${server.address}:${server.port}${tls ? " (TLS)" : ""} ${opts.lazy ? "serving lazy pages from" : "for"} ${server.stack}`
    );
    await new Promise((done) => {
      const stop = (sig) => {
        log(`${sig}: stopping`);
        process.off("SIGINT", onInt);
        process.off("SIGTERM", onTerm);
        void server.close().then(done);
      };
      const onInt = () => stop("SIGINT");
      const onTerm = () => stop("SIGTERM");
      process.on("SIGINT", onInt);
      process.on("SIGTERM", onTerm);
    });
  });
}
export {
  registerPageServer
};
