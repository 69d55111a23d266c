import {
  DETECT_BYTES,
  detectFormat,
  openArchiveSource
} from "./chunk-IJRLALQZ.js";
import {
  partitionPoint
} from "./chunk-5LGPV2OV.js";
import {
  WireReader,
  decodeImage,
  forEachEntry,
  readFraming,
  u32le
} from "./chunk-5F5SDADC.js";
import {
  ImageFormatError,
  MemoryAccessError,
  StackError
} from "./chunk-XLWXTOJZ.js";

// src/format.ts
function hex(n) {
  return `0x${n.toString(16)}`;
}
var SIZE_UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  let v = bytes / 1024;
  let u = 0;
  while (v >= 1024 && u < SIZE_UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${SIZE_UNITS[u]}`;
}

// src/image/pagemap.ts
var PAGE_SIZE = 4096;
var PAGE_SHIFT = 12;
var PE_PARENT = 1;
var PE_LAZY = 2;
var PE_PRESENT = 4;
var TWO20 = 1 << 20;
var TWO32 = 4294967296;
function decodePagemap(buf) {
  const { magic, start } = readFraming(buf);
  if (magic !== "PAGEMAP") throw new ImageFormatError(`expected a PAGEMAP image, found ${magic}`, 4);
  const n = forEachEntry(buf, start, () => {
  });
  if (n === 0) throw new ImageFormatError("pagemap has no pagemap_head entry", start);
  const count = n - 1;
  const vpage = new Float64Array(count);
  const nrPages = new Float64Array(count);
  const flags = new Uint32Array(count);
  const fileOffset = new Float64Array(count);
  const b = buf;
  let len = u32le(b, start);
  const pagesId = decodeHead(b, start + 4, start + 4 + len);
  let off = start + 4 + len;
  const cols = { vpage, nrPages, flags };
  for (let i = 0; i < count; i++) {
    len = (b[off] | b[off + 1] << 8 | b[off + 2] << 16 | b[off + 3] << 24) >>> 0;
    const s = off + 4;
    const e = s + len;
    fileOffset[i] = off;
    off = e;
    if (b[s] === 8) {
      let p2 = s + 1;
      let x = b[p2++];
      let v = x & 127;
      for (let mul = 128; x >= 128 && mul <= 4398046511104; mul *= 128) {
        x = b[p2++];
        v += (x & 127) * mul;
      }
      const vp = v / PAGE_SIZE;
      if (x < 128 && vp === Math.floor(vp) && b[p2] === 16) {
        p2++;
        x = b[p2++];
        let compat2 = x & 127;
        for (let sh = 7; x >= 128 && sh < 28; sh += 7) {
          x = b[p2++];
          compat2 |= (x & 127) << sh;
        }
        let fl2 = PE_PRESENT;
        let nr = compat2;
        if (p2 < e && b[p2] === 24 && b[p2 + 1] <= 1) {
          if (b[p2 + 1] === 1) fl2 = PE_PARENT;
          p2 += 2;
        }
        if (p2 < e && b[p2] === 32 && b[p2 + 1] < 128) {
          fl2 = b[p2 + 1];
          p2 += 2;
        }
        if (p2 < e && b[p2] === 40 && x < 128) {
          p2++;
          x = b[p2++];
          nr = x & 127;
          for (let sh = 7; x >= 128 && sh < 28; sh += 7) {
            x = b[p2++];
            nr |= (x & 127) << sh;
          }
        }
        if (p2 === e && x < 128) {
          vpage[i] = vp;
          nrPages[i] = nr;
          flags[i] = fl2;
          continue;
        }
      }
    }
    let p = s;
    let seen = 0;
    let vaddrLo = 0;
    let vaddrHi = 0;
    let compat = 0;
    let inParent = false;
    let fl = 0;
    let nrLo = 0;
    let nrHi = 0;
    while (p < e) {
      const key = b[p];
      const f = key >>> 3;
      if ((key & 7) !== 0 || f === 0 || f > 5 || (seen & 1 << f) !== 0) break;
      seen |= 1 << f;
      p++;
      let x = b[p++];
      let lo = x & 127;
      let hi = 0;
      if (x >= 128) {
        x = b[p++];
        lo |= (x & 127) << 7;
        if (x >= 128) {
          x = b[p++];
          lo |= (x & 127) << 14;
          if (x >= 128) {
            x = b[p++];
            lo |= (x & 127) << 21;
            if (x >= 128) {
              x = b[p++];
              lo |= (x & 15) << 28;
              hi = (x & 127) >>> 4;
              for (let shift = 3; x >= 128; shift += 7) {
                x = b[p++];
                hi |= (x & 127) << shift;
                if (shift === 31) {
                  if (x > 1) x = 128;
                  break;
                }
              }
              hi >>>= 0;
            }
          }
        }
        lo >>>= 0;
        if (x >= 128) {
          seen = -1;
          break;
        }
      }
      if (f === 1) {
        vaddrLo = lo;
        vaddrHi = hi;
      } else if (f === 2) compat = lo;
      else if (f === 3) inParent = (lo | hi) !== 0;
      else if (f === 4) fl = lo;
      else {
        nrLo = lo;
        nrHi = hi;
      }
    }
    if (p !== e || seen < 0) {
      slowEntry(b, s, e, i, cols);
      continue;
    }
    store(i, s, cols, seen, vaddrLo, vaddrHi, compat, inParent, fl, nrLo, nrHi);
  }
  return { pagesId, count, vpage, nrPages, flags, fileOffset };
}
function store(i, s, cols, seen, vaddrLo, vaddrHi, compat, inParent, fl, nrLo, nrHi) {
  if ((seen & 2) === 0) throw new ImageFormatError(`pagemap_entry ${i} has no vaddr, expected one`, s);
  if ((seen & 4) === 0) {
    throw new ImageFormatError(`pagemap_entry ${i} has no compat_nr_pages, expected one`, s);
  }
  if ((vaddrLo & 4095) !== 0) {
    throw new ImageFormatError(
      `pagemap_entry ${i}: vaddr 0x${(BigInt(vaddrHi) << 32n | BigInt(vaddrLo)).toString(16)} is not page-aligned, expected a multiple of 4096`,
      s
    );
  }
  cols.vpage[i] = vaddrHi * TWO20 + (vaddrLo >>> 12);
  if (seen & 32) {
    if (nrHi >= TWO20) {
      throw new ImageFormatError(
        `pagemap_entry ${i}: nr_pages ${nrHi * TWO32 + nrLo} is beyond any address space, expected below 2^52`,
        s
      );
    }
    cols.nrPages[i] = nrHi * TWO32 + nrLo;
  } else cols.nrPages[i] = compat;
  cols.flags[i] = seen & 16 ? fl : inParent ? PE_PARENT : PE_PRESENT;
}
function decodeHead(b, s, e) {
  const r = new WireReader(b, s, e);
  let pagesId = -1;
  while (r.pos < r.end) {
    const keyAt = r.pos;
    const k = r.keyRaw();
    const no = k >>> 3;
    const wire = k & 7;
    if (no === 1) {
      if (wire !== 0) r.fail(`field pagemap_head.pages_id: wire type ${wire}, expected 0`, keyAt);
      pagesId = r.varintParts();
    } else r.skip(wire);
  }
  if (pagesId < 0) throw new ImageFormatError("pagemap_head has no pages_id, expected one", s);
  return pagesId;
}
var FIELD_NAMES = ["", "vaddr", "compat_nr_pages", "in_parent", "flags", "nr_pages"];
function slowEntry(b, s, e, i, cols) {
  const r = new WireReader(b, s, e);
  let seen = 0;
  let vaddrLo = 0;
  let vaddrHi = 0;
  let compat = 0;
  let inParent = false;
  let fl = 0;
  let nrLo = 0;
  let nrHi = 0;
  while (r.pos < r.end) {
    const keyAt = r.pos;
    const k = r.keyRaw();
    const f = k >>> 3;
    const wire = k & 7;
    if (f > 5) {
      r.skip(wire);
      continue;
    }
    if (wire !== 0) r.fail(`field pagemap_entry.${FIELD_NAMES[f]}: wire type ${wire}, expected 0`, keyAt);
    const lo = r.varintParts();
    const hi = r.hi;
    seen |= 1 << f;
    if (f === 1) {
      vaddrLo = lo;
      vaddrHi = hi;
    } else if (f === 2) compat = lo;
    else if (f === 3) inParent = (lo | hi) !== 0;
    else if (f === 4) fl = lo;
    else {
      nrLo = lo;
      nrHi = hi;
    }
  }
  store(i, s, cols, seen, vaddrLo, vaddrHi, compat, inParent, fl, nrLo, nrHi);
}

// src/source/dir.ts
import { constants, readSync, readvSync } from "node:fs";
import { lstat, open, readdir, readFile, readlink, realpath, stat } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
var LocalFile = class {
  size;
  allocated;
  fh;
  constructor(fh, st) {
    this.fh = fh;
    this.size = st.size;
    this.allocated = st.blocks * 512;
  }
  get fd() {
    return this.fh.fd;
  }
  async read(buf, offset, length, position) {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, offset + done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }
  readSync(buf, offset, length, position) {
    let done = 0;
    while (done < length) {
      const n = readSync(this.fh.fd, buf, offset + done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }
  readvSync(bufs, position) {
    let total = 0;
    for (const b of bufs) total += b.length;
    let done = readvSync(this.fh.fd, bufs, position);
    if (done > 0 && done < total) {
      let off = 0;
      for (const b of bufs) {
        if (off + b.length <= done) {
          off += b.length;
          continue;
        }
        const skip = Math.max(0, done - off);
        const n = this.readSync(b, skip, b.length - skip, position + off + skip);
        done = off + skip + n;
        if (n < b.length - skip) return done;
        off += b.length;
      }
    }
    return done;
  }
  close() {
    return this.fh.close();
  }
};
async function looksLikeArchive(path) {
  const fh = await open(path, constants.O_RDONLY);
  try {
    const head = new Uint8Array(DETECT_BYTES);
    const { bytesRead } = await fh.read(head, 0, DETECT_BYTES, 0);
    return detectFormat(head.subarray(0, bytesRead)) !== null;
  } finally {
    await fh.close();
  }
}
var PAGESTACK_MARKER_RE = /^\.pagestack-dedup$/;
var DirLayerSource = class _DirLayerSource {
  name;
  id;
  constructor(name, id) {
    this.name = name;
    this.id = id;
  }
  /** Opens an image directory; fails with a StackError when it is not a readable directory. */
  static async open(dir, via) {
    let st;
    try {
      st = await stat(dir);
    } catch {
      throw new StackError(
        via ? `${via}: parent link points to ${dir}, which does not exist` : `${dir}: no such directory`,
        via ? "PAGESTACK_PARENT_LINK" : "PAGESTACK_NOT_IMAGE_DIR",
        { file: dir }
      );
    }
    if (!st.isDirectory()) {
      throw new StackError(
        via ? `${via}: parent link points to ${dir}, which is not a directory (nor a checkpoint archive)` : `${dir}: not a directory, expected an image directory`,
        via ? "PAGESTACK_PARENT_LINK" : "PAGESTACK_NOT_IMAGE_DIR",
        { file: dir }
      );
    }
    return new _DirLayerSource(dir, await realpath(dir));
  }
  async list() {
    return (await readdir(this.name)).filter((f) => !PAGESTACK_MARKER_RE.test(f)).sort();
  }
  async readFile(file) {
    try {
      return new Uint8Array(await readFile(join(this.name, file)));
    } catch (e) {
      if (e.code === "ENOENT") return null;
      throw new StackError(`${join(this.name, file)}: ${e.message}`, "PAGESTACK_SOURCE_READ", {
        file: join(this.name, file),
        layer: this.name
      });
    }
  }
  async open(file) {
    const path = join(this.name, file);
    let fh;
    try {
      fh = await open(path, constants.O_RDONLY);
    } catch (e) {
      if (e.code === "ENOENT") return null;
      throw new StackError(`${path}: ${e.message}`, "PAGESTACK_SOURCE_READ", {
        file: path,
        layer: this.name
      });
    }
    return new LocalFile(fh, await fh.stat());
  }
  /** The link text of `parent`, or null when there is none. */
  async parentLink() {
    const path = join(this.name, "parent");
    let st;
    try {
      st = await lstat(path);
    } catch {
      return null;
    }
    if (st.isSymbolicLink()) return readlink(path);
    if (st.isFile() && st.size < 4096) return (await readFile(path, "utf8")).trim();
    if (st.isDirectory()) return "parent";
    throw new StackError(
      `${path}: expected a symlink to the parent image directory`,
      "PAGESTACK_PARENT_LINK",
      { file: path, layer: this.name }
    );
  }
  async parent() {
    const link = await this.parentLink();
    if (link === null) return null;
    const target = isAbsolute(link) ? link : join(this.name, link);
    const st = await stat(target).catch(() => null);
    if (st?.isFile() && await looksLikeArchive(target)) return openArchiveSource(target);
    return _DirLayerSource.open(target, `${this.name}/parent`);
  }
};

// src/image/views.ts
function int(v) {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return 0;
}
function int32(v) {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(BigInt.asIntN(32, v));
  return 0;
}
function uint64(v) {
  if (typeof v === "bigint") return BigInt.asUintN(64, v);
  if (typeof v === "number") return BigInt.asUintN(64, BigInt(Math.trunc(v)));
  return 0n;
}
function sub(v) {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) ? v : void 0;
}
function pstreeEntry(m) {
  return {
    pid: int(m["pid"]),
    ppid: int(m["ppid"]),
    pgid: int(m["pgid"]),
    sid: int(m["sid"]),
    threads: (m["threads"] ?? []).map(int)
  };
}
function fileEntry(m) {
  const reg = sub(m["reg"]);
  const mfd = sub(m["memfd"]);
  return {
    id: int(m["id"]),
    regName: reg && typeof reg["name"] === "string" ? reg["name"] : null,
    memfdInode: mfd ? int(mfd["inode_id"]) : null
  };
}
function regFileEntry(m) {
  return { id: int(m["id"]), name: typeof m["name"] === "string" ? m["name"] : null };
}
function memfdEntry(m) {
  return {
    inodeId: m["inode_id"] === void 0 ? null : int(m["inode_id"]),
    name: String(m["name"] ?? ""),
    shmid: m["shmid"] === void 0 ? null : int(m["shmid"])
  };
}
function coreView(m) {
  const tc = sub(m["tc"]);
  const thread = sub(m["thread_core"]);
  const creds = sub(thread?.["creds"]);
  const ti = sub(m["thread_info"]);
  const comm = tc?.["comm"] ?? thread?.["comm"];
  return {
    mtype: int32(m["mtype"]),
    comm: typeof comm === "string" ? comm : null,
    taskState: int32(tc?.["task_state"]),
    flags: uint64(tc?.["flags"]),
    blkSigset: uint64(thread?.["blk_sigset"] ?? tc?.["blk_sigset"]),
    schedNice: int32(thread?.["sched_nice"]),
    uid: int32(creds?.["uid"]) >>> 0,
    gid: int32(creds?.["gid"]) >>> 0,
    threadInfo: ti ?? null,
    gpregs: sub(ti?.["gpregs"]) ?? null,
    fpregs: sub(ti?.["fpregs"]) ?? null
  };
}
function mmView(m) {
  return {
    argStart: uint64(m["mm_arg_start"]),
    argEnd: uint64(m["mm_arg_end"]),
    savedAuxv: (m["mm_saved_auxv"] ?? []).map(uint64),
    vmas: m["vmas"] ?? []
  };
}

// src/stack/vma.ts
var VMA_AREA_REGULAR = 1 << 0;
var VMA_AREA_STACK = 1 << 1;
var VMA_AREA_VSYSCALL = 1 << 2;
var VMA_AREA_VDSO = 1 << 3;
var VMA_AREA_HEAP = 1 << 5;
var VMA_FILE_PRIVATE = 1 << 6;
var VMA_FILE_SHARED = 1 << 7;
var VMA_ANON_SHARED = 1 << 8;
var VMA_ANON_PRIVATE = 1 << 9;
var VMA_AREA_SYSVIPC = 1 << 10;
var VMA_AREA_SOCKET = 1 << 11;
var VMA_AREA_VVAR = 1 << 12;
var VMA_AREA_AIORING = 1 << 13;
var VMA_AREA_MEMFD = 1 << 14;
var VMA_FILE_BACKED = VMA_FILE_PRIVATE | VMA_FILE_SHARED | VMA_AREA_MEMFD;
var PROT_READ = 1;
var PROT_WRITE = 2;
var PROT_EXEC = 4;
var MAP_SHARED = 1;
var MAP_GROWSDOWN = 256;
function vmaPerms(prot, flags) {
  return (prot & PROT_READ ? "r" : "-") + (prot & PROT_WRITE ? "w" : "-") + (prot & PROT_EXEC ? "x" : "-") + (flags & MAP_SHARED ? "s" : "p");
}
function vmaName(v, files, shmem) {
  const st = v.status;
  if (st & VMA_AREA_VSYSCALL) return "[vsyscall]";
  if (st & VMA_AREA_VDSO) return "[vdso]";
  if (st & VMA_AREA_VVAR) return "[vvar]";
  if (st & VMA_AREA_HEAP) return "[heap]";
  if (st & VMA_AREA_SYSVIPC) return `[sysvipc shmid ${v.shmid}]`;
  if (st & VMA_FILE_BACKED) {
    const n = files.get(v.shmid);
    if (n !== void 0) return n;
    return `[file id ${v.shmid}]`;
  }
  if (st & VMA_ANON_SHARED) return `[shmem ${shmem ?? v.shmid}]`;
  if (st & VMA_AREA_STACK || v.flags & MAP_GROWSDOWN) return "[stack]";
  return "";
}
function vmaKind(status) {
  if (status & VMA_AREA_STACK) return "stack";
  if (status & VMA_AREA_HEAP) return "heap";
  if (status & VMA_AREA_VDSO) return "vdso";
  if (status & VMA_AREA_VVAR) return "vvar";
  if (status & VMA_AREA_VSYSCALL) return "vsyscall";
  if (status & VMA_AREA_MEMFD) return "memfd";
  if (status & VMA_ANON_SHARED) return "shared anon";
  if (status & VMA_AREA_SYSVIPC) return "sysv shm";
  if (status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED)) return "file";
  return "anon";
}
function memfdPath(name) {
  return `${name.startsWith("/") ? name : `/memfd:${name}`} (deleted)`;
}
async function fileNames(stack) {
  const names = /* @__PURE__ */ new Map();
  const memfdNames = /* @__PURE__ */ new Map();
  const memfd = await stack.image("memfd.img");
  for (const m of memfd?.entries ?? []) {
    const e = memfdEntry(m);
    if (e.inodeId !== null) memfdNames.set(e.inodeId, e.name);
  }
  const files = await stack.image("files.img");
  for (const m of files?.entries ?? []) {
    const e = fileEntry(m);
    if (e.regName !== null) names.set(e.id, e.regName);
    else if (e.memfdInode !== null) {
      const n = memfdNames.get(e.memfdInode);
      if (n !== void 0) names.set(e.id, memfdPath(n));
    }
  }
  const regFiles = await stack.image("reg-files.img");
  for (const m of regFiles?.entries ?? []) {
    const e = regFileEntry(m);
    if (e.name !== null && !names.has(e.id)) names.set(e.id, e.name);
  }
  return names;
}

// src/stack/resolve.ts
var LAZY = -1;
function entryOffsets(cols, layerName, file) {
  const off = new Float64Array(cols.count);
  let pos = 0;
  let prevEnd = -1;
  for (let i = 0; i < cols.count; i++) {
    const s = cols.vpage[i];
    const n = cols.nrPages[i];
    const f = cols.flags[i];
    if (s < prevEnd) {
      throw new StackError(
        `${layerName}/${file}: entry ${i} at ${hex(s * PAGE_SIZE)} overlaps or precedes the entry before it (which ends at ${hex(prevEnd * PAGE_SIZE)}): entries must be sorted and not overlap`,
        "PAGESTACK_PAGEMAP_ORDER",
        { file: `${layerName}/${file}`, address: s * PAGE_SIZE }
      );
    }
    if ((f & (PE_PARENT | PE_PRESENT | PE_LAZY)) === 0 || f & PE_PARENT && f & PE_PRESENT) {
      throw new StackError(
        `${layerName}/${file}: entry ${i} at ${hex(s * PAGE_SIZE)} has invalid flags 0x${f.toString(16)}`,
        "PAGESTACK_PAGEMAP_FLAGS",
        { file: `${layerName}/${file}`, address: s * PAGE_SIZE, flags: f }
      );
    }
    prevEnd = s + n;
    off[i] = pos;
    if (f & PE_PRESENT) pos += n * PAGE_SIZE;
  }
  return off;
}
var RangeList = class {
  count = 0;
  s = new Float64Array(256);
  e = new Float64Array(256);
  add(s, e) {
    const last = this.count - 1;
    if (last >= 0 && this.e[last] === s) {
      this.e[last] = e;
      return;
    }
    if (this.count === this.s.length) {
      const ns = new Float64Array(this.count * 2);
      const ne = new Float64Array(this.count * 2);
      ns.set(this.s);
      ne.set(this.e);
      this.s = ns;
      this.e = ne;
    }
    this.s[this.count] = s;
    this.e[this.count] = e;
    this.count++;
  }
};
var ExtentBuilder = class {
  count = 0;
  start = new Float64Array(1024);
  end = new Float64Array(1024);
  layer = new Int32Array(1024);
  offset = new Float64Array(1024);
  /** Where each sorted run begins. */
  runs = [0];
  push(s, e, layer, off) {
    if (this.count === this.start.length) this.grow();
    const k = this.count++;
    this.start[k] = s;
    this.end[k] = e;
    this.layer[k] = layer;
    this.offset[k] = off;
  }
  /** What is pushed next starts a new sorted run. */
  newRun() {
    if (this.count > this.runs[this.runs.length - 1]) this.runs.push(this.count);
  }
  grow() {
    const n = this.start.length * 2;
    const f64 = (a) => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.start = f64(this.start);
    this.end = f64(this.end);
    this.offset = f64(this.offset);
    const l = new Int32Array(n);
    l.set(this.layer);
    this.layer = l;
  }
};
function resolvePagemap(file, layers) {
  const perLayer = layers.map(() => ({
    resolvedPages: 0,
    presentPages: 0,
    parentPages: 0,
    lazyPages: 0
  }));
  const out = new ExtentBuilder();
  const top = layers[0];
  if (!top?.columns) {
    return { file, extents: finish(out), perLayer, depth: layers.length > 0 ? 1 : 0 };
  }
  let pend = new RangeList();
  {
    const cols = top.columns;
    const offs = entryOffsets(cols, top.layerName, file);
    const counts = perLayer[0];
    for (let i = 0; i < cols.count; i++) {
      const s = cols.vpage[i];
      const n = cols.nrPages[i];
      if (n === 0) continue;
      const f = cols.flags[i];
      if (f & PE_PARENT) {
        counts.parentPages += n;
        pend.add(s, s + n);
      } else if (f & PE_PRESENT) {
        counts.presentPages += n;
        counts.resolvedPages += n;
        out.push(s, s + n, 0, offs[i]);
      } else {
        counts.lazyPages += n;
        out.push(s, s + n, LAZY, 0);
      }
    }
  }
  let depth = 1;
  for (let L = 1; pend.count > 0; L++) {
    const below = layers[L];
    const above = layers[L - 1];
    if (!below) {
      throw new StackError(
        `${above.layerName}/${file}: pages ${hex(pend.s[0] * PAGE_SIZE)}-${hex(pend.e[0] * PAGE_SIZE)} are marked PE_PARENT but ${above.layerName} has no parent layer`,
        "PAGESTACK_NO_PARENT_LAYER",
        { file: `${above.layerName}/${file}`, layer: above.layerName, address: pend.s[0] * PAGE_SIZE }
      );
    }
    if (!below.columns) {
      throw new StackError(
        `${above.layerName}/${file}: pages ${hex(pend.s[0] * PAGE_SIZE)}-${hex(pend.e[0] * PAGE_SIZE)} are marked PE_PARENT but the parent layer ${below.layerName} has no ${file}`,
        "PAGESTACK_PARENT_NO_PAGEMAP",
        { file: `${above.layerName}/${file}`, layer: below.layerName, address: pend.s[0] * PAGE_SIZE }
      );
    }
    depth = L + 1;
    out.newRun();
    const cols = below.columns;
    const offs = entryOffsets(cols, below.layerName, file);
    const counts = perLayer[L];
    for (let i = 0; i < cols.count; i++) {
      const f = cols.flags[i];
      const n = cols.nrPages[i];
      if (f & PE_PARENT) counts.parentPages += n;
      else if (f & PE_PRESENT) counts.presentPages += n;
      else counts.lazyPages += n;
    }
    const next = new RangeList();
    let j = 0;
    for (let r = 0; r < pend.count; r++) {
      let cur = pend.s[r];
      const e = pend.e[r];
      while (j < cols.count && cols.vpage[j] + cols.nrPages[j] <= cur) j++;
      while (cur < e) {
        const es = j < cols.count ? cols.vpage[j] : Number.POSITIVE_INFINITY;
        if (es > cur) {
          throw new StackError(
            `${above.layerName}/${file}: missing ${hex(cur * PAGE_SIZE)}-${hex(Math.min(e, es) * PAGE_SIZE)} in parent pagemap ${below.layerName}/${file} (marked PE_PARENT above)`,
            "PAGESTACK_MISSING_IN_PARENT",
            { file: `${above.layerName}/${file}`, layer: below.layerName, address: cur * PAGE_SIZE }
          );
        }
        const ee = es + cols.nrPages[j];
        const pe = Math.min(e, ee);
        const f = cols.flags[j];
        if (f & PE_PARENT) {
          next.add(cur, pe);
        } else if (f & PE_PRESENT) {
          counts.resolvedPages += pe - cur;
          out.push(cur, pe, L, offs[j] + (cur - es) * PAGE_SIZE);
        } else {
          out.push(cur, pe, LAZY, 0);
        }
        cur = pe;
        if (pe === ee) j++;
      }
    }
    pend = next;
  }
  return { file, extents: finish(out), perLayer, depth };
}
function sortedOrder(b) {
  const n = b.count;
  const st = b.start;
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let runs = [...b.runs, n];
  for (let r = 0; r + 1 < runs.length; r++) {
    for (let i = runs[r] + 1; i < runs[r + 1]; i++) {
      if (st[i] < st[i - 1]) {
        return order.sort((x, y) => st[x] - st[y]);
      }
    }
  }
  let keys = st.slice(0, n);
  let tmp = new Uint32Array(n);
  let tmpKeys = new Float64Array(n);
  while (runs.length > 2) {
    const next = [0];
    for (let r = 0; r + 1 < runs.length; r += 2) {
      const lo = runs[r];
      const mid = runs[r + 1];
      const hi = r + 2 < runs.length ? runs[r + 2] : mid;
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        if (keys[i] <= keys[j]) {
          tmpKeys[k] = keys[i];
          tmp[k++] = order[i++];
        } else {
          tmpKeys[k] = keys[j];
          tmp[k++] = order[j++];
        }
      }
      for (; i < mid; i++, k++) {
        tmpKeys[k] = keys[i];
        tmp[k] = order[i];
      }
      for (; j < hi; j++, k++) {
        tmpKeys[k] = keys[j];
        tmp[k] = order[j];
      }
      next.push(hi);
    }
    if (next[next.length - 1] !== n) next.push(n);
    [order, tmp] = [tmp, order];
    [keys, tmpKeys] = [tmpKeys, keys];
    runs = next;
  }
  return order;
}
function finish(b) {
  const n = b.count;
  const order = sortedOrder(b);
  const start = new Float64Array(n);
  const end = new Float64Array(n);
  const layer = new Int32Array(n);
  const offset = new Float64Array(n);
  let k = -1;
  for (let t = 0; t < n; t++) {
    const i = order[t];
    const s = b.start[i];
    const e = b.end[i];
    const l = b.layer[i];
    const o = b.offset[i];
    if (k >= 0 && end[k] === s && layer[k] === l && (l === LAZY || offset[k] + (end[k] - start[k]) * PAGE_SIZE === o)) {
      end[k] = e;
      continue;
    }
    k++;
    start[k] = s;
    end[k] = e;
    layer[k] = l;
    offset[k] = o;
  }
  const count = k + 1;
  return {
    count,
    start: start.subarray(0, count),
    end: end.subarray(0, count),
    layer: layer.subarray(0, count),
    offset: offset.subarray(0, count)
  };
}
function findExtent(x, page) {
  return partitionPoint(0, x.count, (i) => x.end[i] <= page);
}

// src/stack/memory.ts
var SLAB_SIZE = 64 * 1024;
var SLAB_MAX = 16 * 1024;
var slab = new ArrayBuffer(0);
var slabUsed = 0;
var newSlab = (() => {
  const B = globalThis.Buffer;
  return B ? (n) => B.allocUnsafeSlow(n).buffer : (n) => new ArrayBuffer(n);
})();
function allocUninit(len) {
  if (len <= 64 || len > SLAB_MAX || (len | 0) !== len) return new Uint8Array(len);
  if (slabUsed + len > slab.byteLength) {
    slab = newSlab(SLAB_SIZE);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, len);
  slabUsed += len + 7 & ~7;
  return out;
}
var PagemapMemory = class {
  resolved;
  /** Per layer, the pages file of this pagemap (null where the layer holds none of its pages). */
  files;
  layerNames;
  constructor(resolved, files, layerNames) {
    this.resolved = resolved;
    this.files = files;
    this.layerNames = layerNames;
  }
  get extents() {
    return this.resolved.extents;
  }
  /** Extent of the last read, checked first: nearby reads skip the search. */
  lastExtent = 0;
  /**
   * The lookup index, built on the first read (see buildIndex): per bucket of 2^bucketBits pages,
   * the first extent ending above its first page; per extent its [start, end, offset, layer].
   */
  records = null;
  buckets = null;
  bucketBase = 0;
  bucketPages = 1;
  /**
   * A random read of a big process (400,000 extents: 3 MiB per column) missed the CPU cache (and,
   * in a VM, the TLB) at most steps of a binary search and then once more in each of the start,
   * layer and offset columns. The index narrows the search by the page number first: the pages
   * from the first extent's start to the last one's end are cut into buckets of a power-of-two
   * pages, at most 2 per extent, each knowing the first extent that ends above its start; a page's
   * extent is then between its bucket's and the next bucket's (one cache line: usually 0-2
   * candidates, in a dense process), searched in the records, where the found extent's fields are.
   * A sparse address space gets wide buckets and the search within them is a binary search, never
   * worse than one over all extents. Costs 32 + up to 8 bytes per extent, only once something is
   * read.
   */
  buildIndex() {
    const x = this.resolved.extents;
    const n = x.count;
    const rec = new Float64Array(n * 4);
    for (let i2 = 0; i2 < n; i2++) {
      rec[4 * i2] = x.start[i2];
      rec[4 * i2 + 1] = x.end[i2];
      rec[4 * i2 + 2] = x.offset[i2];
      rec[4 * i2 + 3] = x.layer[i2];
    }
    const base = n > 0 ? x.start[0] : 0;
    const span = n > 0 ? x.end[n - 1] - base : 0;
    let per = 1;
    while (span / per > 2 * n + 1) per *= 2;
    const nb = Math.floor(span / per) + 1;
    const buckets = new Int32Array(nb + 1);
    let i = 0;
    for (let b = 0; b <= nb; b++) {
      const first = base + b * per;
      while (i < n && x.end[i] <= first) i++;
      buckets[b] = i;
    }
    this.records = rec;
    this.bucketBase = base;
    this.bucketPages = per;
    this.buckets = buckets;
    return buckets;
  }
  /** findExtent(extents, page) (the first extent ending above `page`) through the index. */
  find(page) {
    const buckets = this.buckets ?? this.buildIndex();
    const rec = this.records;
    const rel = page - this.bucketBase;
    if (rel < 0) return 0;
    const b = Math.floor(rel / this.bucketPages);
    if (b >= buckets.length - 1) return this.resolved.extents.count;
    let lo = buckets[b];
    let hi = buckets[b + 1];
    while (lo < hi) {
      const mid = lo + hi >>> 1;
      if (rec[4 * mid + 1] <= page) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  /**
   * The fast path: the byte position in its layer's pages file of [addr, addr+len) (len > 0) when
   * that lies in one extent whose bytes are in a pages file, its layer in `hitLayer`; else -1
   * (holes, lazy pages and reads across extents go through plan()).
   */
  singleExtent(addr, len) {
    const page = Math.floor(addr / PAGE_SIZE);
    let rec = this.records;
    let i = this.lastExtent;
    if (!(rec !== null && 4 * i < rec.length && rec[4 * i] <= page && page < rec[4 * i + 1])) {
      i = this.find(page);
      rec = this.records;
      if (4 * i >= rec.length || !(rec[4 * i] <= page)) return -1;
      this.lastExtent = i;
    }
    const layer = rec[4 * i + 3];
    if (!(len > 0) || layer === LAZY || addr + len > rec[4 * i + 1] * PAGE_SIZE) return -1;
    this.hitLayer = layer;
    return rec[4 * i + 2] + (addr - rec[4 * i] * PAGE_SIZE);
  }
  /** The layer of singleExtent's last hit. */
  hitLayer = 0;
  /** readManySync's per-read layer and position, reused from batch to batch. */
  batchLayer = new Int32Array(0);
  batchPos = new Float64Array(0);
  /** Splits [addr, addr+len) into pieces; throws MemoryAccessError for holes unless opts.zero. */
  plan(addr, len, zero, pieces, base) {
    const x = this.resolved.extents;
    const endAddr = addr + len;
    let cur = addr;
    let i = this.find(Math.floor(addr / PAGE_SIZE));
    while (cur < endAddr) {
      const es = i < x.count ? x.start[i] * PAGE_SIZE : Number.POSITIVE_INFINITY;
      if (es > cur) {
        const stop2 = Math.min(endAddr, es);
        if (!zero) {
          throw new MemoryAccessError(
            "not-dumped",
            cur,
            `${hex(cur)}: not dumped (no pagemap entry in ${this.resolved.file})`
          );
        }
        pieces.push({ at: base + cur - addr, length: stop2 - cur, file: null, position: 0 });
        cur = stop2;
        continue;
      }
      const ee = x.end[i] * PAGE_SIZE;
      const stop = Math.min(endAddr, ee);
      const layer = x.layer[i];
      if (layer === LAZY) {
        if (!zero) {
          throw new MemoryAccessError(
            "lazy",
            cur,
            `${hex(cur)}: lazy page (PE_LAZY in ${this.resolved.file}): its bytes are with the page server, not in the images`
          );
        }
        pieces.push({ at: base + cur - addr, length: stop - cur, file: null, position: 0 });
      } else {
        pieces.push({
          at: base + cur - addr,
          length: stop - cur,
          file: this.files[layer],
          position: x.offset[i] + (cur - es)
        });
      }
      cur = stop;
      i++;
    }
  }
  /** Plans a read into `pieces` (appending), `base` being the destination offset of `addr`. */
  planRead(addr, len, opts, pieces, base = 0) {
    this.plan(addr, len, opts.zero === true, pieces, base);
  }
  /**
   * Reads `len` bytes at `addr` into a new Uint8Array. Throws MemoryAccessError for bytes that are
   * not dumped or lazy unless opts.zero. Small results share their `.buffer` (see allocUninit).
   */
  async read(addr, len, opts = {}) {
    return this.readInto(allocUninit(len), addr, opts);
  }
  readSync(addr, len, opts = {}) {
    return this.readIntoSync(allocUninit(len), addr, opts);
  }
  /** Reads `out.length` bytes at `addr` into `out` (no allocation); returns `out`. */
  async readInto(out, addr, opts = {}) {
    const len = out.length;
    const pos = this.singleExtent(addr, len);
    if (pos >= 0) {
      await readPiece(this.files[this.hitLayer], out, 0, len, pos);
      return out;
    }
    const pieces = [];
    this.plan(addr, len, opts.zero === true, pieces, 0);
    await fillPieces(out, pieces);
    return out;
  }
  /**
   * Batch read: `len` bytes at each of `addrs`, read k at out[k*len, (k+1)*len). The reads of all
   * addresses are planned first (a hole or lazy page anywhere fails the whole batch before any
   * read, with the error a single read of that address gives), then read per layer file in file
   * order, neighbouring pieces coalesced, several reads in flight.
   */
  async readMany(addrs, len, opts = {}) {
    const out = batchOut(addrs.length, len, opts);
    await fillPiecesBatched(out, this.planMany(addrs, len, opts));
    return out;
  }
  /**
   * readMany, synchronously (local files). One planning pass: a read inside one extent (the common
   * case) is kept as (layer, file position) in two typed arrays, no objects; the others are planned
   * into pieces. Then the positions are sorted per layer file and reads within MERGE_GAP bytes of
   * each other become one positioned read scattered straight into `out` (readvSync: the gaps go to
   * a scratch buffer), the rest one read each, into `out` directly.
   */
  readManySync(addrs, len, opts = {}) {
    const out = batchOut(addrs.length, len, opts);
    const n = addrs.length;
    if (this.batchLayer.length < n) {
      this.batchLayer = new Int32Array(n);
      this.batchPos = new Float64Array(n);
    }
    const layer = this.batchLayer;
    const pos = this.batchPos;
    const order = [];
    let pieces = null;
    const zero = opts.zero === true;
    let maxPos = 0;
    for (let k = 0; k < n; k++) {
      const p = this.singleExtent(addrs[k], len);
      if (p >= 0 && Number.isSafeInteger(p)) {
        layer[k] = this.hitLayer;
        pos[k] = p;
        if (p > maxPos) maxPos = p;
        order.push(k);
      } else {
        pieces ??= [];
        this.plan(addrs[k], len, zero, pieces, k * len);
      }
    }
    if (pieces) fillPiecesBatchedSync(out, pieces);
    sortByFilePosition(order, layer, pos, n, maxPos, this.files.length);
    readSortedSync(out, len, order, layer, pos, this.files);
    return out;
  }
  planMany(addrs, len, opts) {
    const pieces = [];
    const zero = opts.zero === true;
    for (let k = 0; k < addrs.length; k++) this.plan(addrs[k], len, zero, pieces, k * len);
    return pieces;
  }
  readIntoSync(out, addr, opts = {}) {
    const len = out.length;
    const pos = this.singleExtent(addr, len);
    if (pos >= 0) {
      readPieceSync(this.files[this.hitLayer], out, 0, len, pos);
      return out;
    }
    const pieces = [];
    this.plan(addr, len, opts.zero === true, pieces, 0);
    fillPiecesSync(out, pieces);
    return out;
  }
};
async function readPiece(file, out, at, length, position) {
  const n = await file.read(out, at, length, position);
  if (n < length) out.fill(0, at + n, at + length);
}
function readPieceSync(file, out, at, length, position) {
  if (!file.readSync) throw new Error("this source cannot be read synchronously; use read()");
  const n = file.readSync(out, at, length, position);
  if (n < length) out.fill(0, at + n, at + length);
}
async function fillPieces(out, pieces) {
  for (const p of pieces) {
    if (p.file) await readPiece(p.file, out, p.at, p.length, p.position);
    else out.fill(0, p.at, p.at + p.length);
  }
}
function fillPiecesSync(out, pieces) {
  for (const p of pieces) {
    if (p.file) readPieceSync(p.file, out, p.at, p.length, p.position);
    else out.fill(0, p.at, p.at + p.length);
  }
}
var COALESCE_GAP = 0;
var RUN_MAX = 1024 * 1024;
var READ_AHEAD = 16;
var SLICE = 64;
var defer = globalThis.setImmediate ?? ((f) => setTimeout(f, 0));
var yieldToLoop = () => new Promise((resolve) => defer(resolve));
function planRuns(out, pieces) {
  const fileNo = /* @__PURE__ */ new Map();
  const withFile = [];
  const keys = [];
  for (const p of pieces) {
    if (p.length === 0) continue;
    if (!p.file) {
      out.fill(0, p.at, p.at + p.length);
      continue;
    }
    let f = fileNo.get(p.file);
    if (f === void 0) {
      f = fileNo.size;
      fileNo.set(p.file, f);
    }
    withFile.push(p);
    keys.push(f);
  }
  const order = Array.from({ length: withFile.length }, (_, k) => k);
  order.sort((a, b) => keys[a] - keys[b] || withFile[a].position - withFile[b].position);
  const runs = [];
  let run = null;
  for (const k of order) {
    const p = withFile[k];
    const end = p.position + p.length;
    if (run && run.file === p.file && p.position <= run.position + run.length + COALESCE_GAP && Math.max(end, run.position + run.length) - run.position <= RUN_MAX) {
      run.length = Math.max(run.length, end - run.position);
      run.pieces.push(p);
    } else {
      run = { file: p.file, position: p.position, length: p.length, pieces: [p] };
      runs.push(run);
    }
  }
  return runs;
}
function scatter(out, run, scratch, n) {
  if (n < run.length) scratch.fill(0, n, run.length);
  for (const p of run.pieces) {
    const from = p.position - run.position;
    out.set(scratch.subarray(from, from + p.length), p.at);
  }
}
async function fillPiecesBatched(out, pieces) {
  const runs = planRuns(out, pieces);
  if (runs.every((r) => r.file.readSync !== void 0)) {
    const scratch = { buf: new Uint8Array(0) };
    for (let k = 0; k < runs.length; k += SLICE) {
      if (k > 0) await yieldToLoop();
      for (const run of runs.slice(k, k + SLICE)) readRunSync(out, run, scratch);
    }
    return;
  }
  let next = 0;
  const worker = async () => {
    let scratch = new Uint8Array(0);
    while (next < runs.length) {
      const run = runs[next++];
      if (run.pieces.length === 1) {
        const p = run.pieces[0];
        await readPiece(run.file, out, p.at, p.length, p.position);
        continue;
      }
      if (scratch.length < run.length) scratch = new Uint8Array(Math.max(run.length, 64 * 1024));
      const n = await run.file.read(scratch, 0, run.length, run.position);
      scatter(out, run, scratch, n);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_AHEAD, runs.length) }, worker));
}
function fillPiecesBatchedSync(out, pieces) {
  const scratch = { buf: new Uint8Array(0) };
  for (const run of planRuns(out, pieces)) readRunSync(out, run, scratch);
}
function readRunSync(out, run, scratch) {
  if (run.pieces.length === 1) {
    const p = run.pieces[0];
    readPieceSync(run.file, out, p.at, p.length, p.position);
    return;
  }
  if (scratch.buf.length < run.length) scratch.buf = new Uint8Array(Math.max(run.length, 64 * 1024));
  if (!run.file.readSync) throw new Error("this source cannot be read synchronously; use readMany()");
  let n = 0;
  while (n < run.length) {
    const got = run.file.readSync(scratch.buf, n, run.length - n, run.position + n);
    if (got === 0) break;
    n += got;
  }
  scatter(out, run, scratch.buf, n);
}
var MERGE_GAP = 0;
var MAX_IOV = 512;
function sortByFilePosition(order, layer, pos, n, maxPos, layers) {
  if (order.length < 2) return;
  const span = maxPos + 1;
  if (layers * span * n >= 2 ** 53) {
    order.sort((a, b) => layer[a] - layer[b] || pos[a] - pos[b]);
    return;
  }
  const keys = new Float64Array(order.length);
  for (let j = 0; j < order.length; j++) {
    const k = order[j];
    keys[j] = (layer[k] * span + pos[k]) * n + k;
  }
  keys.sort();
  for (let j = 0; j < keys.length; j++) order[j] = keys[j] % n;
}
function readSortedSync(out, len, order, layer, pos, files) {
  let scratch = null;
  let a = 0;
  while (a < order.length) {
    const first = order[a];
    const file = files[layer[first]];
    const start = pos[first];
    let end = start + len;
    let b = a + 1;
    if (file.readvSync) {
      while (b < order.length && b - a < MAX_IOV) {
        const k = order[b];
        const p = pos[k];
        if (layer[k] !== layer[first] || p < end || p - end > MERGE_GAP || p + len - start > RUN_MAX) break;
        end = p + len;
        b++;
      }
    }
    if (b === a + 1) {
      readPieceSync(file, out, first * len, len, start);
      a = b;
      continue;
    }
    const bufs = [];
    let at = start;
    for (let j = a; j < b; j++) {
      const k = order[j];
      const gap = pos[k] - at;
      if (gap > 0) {
        if (scratch === null || scratch.length < gap) scratch = new Uint8Array(Math.max(gap, MERGE_GAP));
        bufs.push(scratch.subarray(0, gap));
      }
      bufs.push(out.subarray(k * len, k * len + len));
      at = pos[k] + len;
    }
    const got = file.readvSync(bufs, start);
    if (got < end - start) {
      for (let j = a; j < b; j++) readPieceSync(file, out, order[j] * len, len, pos[order[j]]);
    }
    a = b;
  }
}
function batchOut(count, len, opts) {
  const total = count * len;
  if (!Number.isSafeInteger(total) || total < 0) {
    throw new RangeError(`readMany: ${count} reads of ${len} bytes is not a valid size`);
  }
  if (opts.out) {
    if (opts.out.length < total) {
      throw new RangeError(`readMany: out has ${opts.out.length} bytes, expected at least ${total}`);
    }
    return opts.out;
  }
  return new Uint8Array(total);
}

// src/stack/process.ts
function toNum(v, what, file) {
  if (v === void 0) return 0;
  const n = typeof v === "bigint" ? v : BigInt(v);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new StackError(
      `${file}: vma ${what} 0x${n.toString(16)} is beyond 2^53, which pagestack does not support`,
      "PAGESTACK_VMA_RANGE",
      { file }
    );
  }
  return Number(n);
}
function vmaFromMessage(m, file) {
  return {
    start: toNum(m["start"], "start", file),
    end: toNum(m["end"], "end", file),
    pgoff: toNum(m["pgoff"], "pgoff", file),
    shmid: toNum(m["shmid"], "shmid", file),
    prot: toNum(m["prot"], "prot", file),
    flags: toNum(m["flags"], "flags", file),
    status: toNum(m["status"], "status", file),
    fd: m["fd"] === void 0 ? -1 : toNum(m["fd"], "fd", file)
  };
}
var ProcessMemory = class {
  pid;
  /** Sorted by start. */
  vmas;
  /** Private memory: pagemap-<pid>.img through the stack. */
  private;
  /** Shared VMAs -> their shmem memory (addresses there are offsets into the object). */
  shared;
  constructor(pid, vmas, priv, shared) {
    this.pid = pid;
    this.vmas = [...vmas].sort((a, b) => a.start - b.start);
    this.private = priv;
    this.shared = shared;
  }
  /** Index of the first VMA ending above `addr` (vmas.length if none). */
  vmaIndex(addr) {
    return partitionPoint(0, this.vmas.length, (i) => this.vmas[i].end <= addr);
  }
  /** The VMA containing `addr`, or undefined. */
  vmaAt(addr) {
    const v = this.vmas[this.vmaIndex(addr)];
    return v && v.start <= addr ? v : void 0;
  }
  /** VMA of the last read, checked first. */
  lastVma;
  /**
   * The fast path: true when [addr, addr+len) is a valid range inside one private VMA (or the
   * process has no VMAs), so the read is the private pagemap's read exactly.
   */
  privateOnly(addr, len) {
    if (!Number.isSafeInteger(addr) || addr < 0 || !Number.isSafeInteger(len) || len < 0) return false;
    if (this.vmas.length === 0) return true;
    let v = this.lastVma;
    if (!(v && v.start <= addr && addr < v.end)) {
      v = this.vmaAt(addr);
      if (!v) return false;
      this.lastVma = v;
    }
    return addr + len <= v.end && (this.shared.size === 0 || !this.shared.has(v));
  }
  /** Plans a read of [addr, addr+len) into `pieces` (appending), at out[base...]. */
  plan(addr, len, opts, pieces = [], base = 0) {
    if (!Number.isSafeInteger(addr) || addr < 0 || !Number.isSafeInteger(len) || len < 0) {
      throw new MemoryAccessError("unmapped", addr, `${hex(addr)}: invalid address or length`);
    }
    if (this.vmas.length === 0) {
      this.private.planRead(addr, len, opts, pieces, base);
      return pieces;
    }
    const end = addr + len;
    let cur = addr;
    while (cur < end) {
      const found = this.vmas[this.vmaIndex(cur)];
      const v = found && found.start <= cur ? found : void 0;
      if (!v) {
        const next = found;
        const stop2 = Math.min(end, next ? next.start : end);
        if (!opts.zero) {
          throw new MemoryAccessError(
            "unmapped",
            cur,
            `${hex(cur)}: unmapped (no VMA of process ${this.pid} covers it)`
          );
        }
        pieces.push({ at: base + cur - addr, length: stop2 - cur, file: null, position: 0 });
        cur = stop2;
        continue;
      }
      const stop = Math.min(end, v.end);
      const shm = this.shared.get(v);
      if (shm) {
        const objOff = cur - v.start + v.pgoff;
        try {
          shm.planRead(objOff, stop - cur, opts, pieces, base + cur - addr);
        } catch (e) {
          if (e instanceof MemoryAccessError) {
            const at = e.address - objOff + cur;
            throw new MemoryAccessError(
              e.reason,
              at,
              `${hex(at)}: ${e.message.replace(/^0x[0-9a-f]+: /, "")} (shared memory, offset ${hex(e.address)})`
            );
          }
          throw e;
        }
      } else {
        this.private.planRead(cur, stop - cur, opts, pieces, base + cur - addr);
      }
      cur = stop;
    }
    return pieces;
  }
  /**
   * Reads `len` bytes at `addr`. Throws MemoryAccessError (not dumped / lazy / unmapped) unless
   * opts.zero. Small results share their `.buffer` (see allocUninit in memory.ts).
   */
  async read(addr, len, opts = {}) {
    if (this.privateOnly(addr, len)) return this.private.read(addr, len, opts);
    const pieces = this.plan(addr, len, opts);
    const out = allocUninit(len);
    await fillPieces(out, pieces);
    return out;
  }
  readSync(addr, len, opts = {}) {
    if (this.privateOnly(addr, len)) return this.private.readSync(addr, len, opts);
    const pieces = this.plan(addr, len, opts);
    const out = allocUninit(len);
    fillPiecesSync(out, pieces);
    return out;
  }
  /** Reads `out.length` bytes at `addr` into `out` (no allocation: for hot loops); returns `out`. */
  async readInto(out, addr, opts = {}) {
    if (this.privateOnly(addr, out.length)) return this.private.readInto(out, addr, opts);
    await fillPieces(out, this.plan(addr, out.length, opts));
    return out;
  }
  /**
   * Batch read: `len` bytes at each of `addrs`, read k at out[k*len, (k+1)*len) (a new buffer, or
   * opts.out). All reads are planned first, so a failing address fails the batch before anything
   * is read, with the error its single read gives; then the bytes are read per layer file in file
   * order, neighbouring pieces coalesced into one read, several reads in flight.
   */
  async readMany(addrs, len, opts = {}) {
    const out = batchOut(addrs.length, len, opts);
    await fillPiecesBatched(out, this.planMany(addrs, len, opts));
    return out;
  }
  /** readMany, synchronously (local files). */
  readManySync(addrs, len, opts = {}) {
    let k = 0;
    while (k < addrs.length && this.privateOnly(addrs[k], len)) k++;
    if (k === addrs.length) return this.private.readManySync(addrs, len, opts);
    const out = batchOut(addrs.length, len, opts);
    fillPiecesBatchedSync(out, this.planMany(addrs, len, opts));
    return out;
  }
  planMany(addrs, len, opts) {
    const pieces = [];
    for (let k = 0; k < addrs.length; k++) this.plan(addrs[k], len, opts, pieces, k * len);
    return pieces;
  }
  readIntoSync(out, addr, opts = {}) {
    if (this.privateOnly(addr, out.length)) return this.private.readIntoSync(out, addr, opts);
    fillPiecesSync(out, this.plan(addr, out.length, opts));
    return out;
  }
};

// src/stack/stack.ts
var MAX_STACK_DEPTH = 256;
async function openStack(top, opts = {}) {
  const maxDepth = opts.maxDepth ?? MAX_STACK_DEPTH;
  const sources = [];
  const seen = /* @__PURE__ */ new Map();
  let cur = top;
  while (cur) {
    const prev = seen.get(cur.id);
    if (prev !== void 0) {
      throw new StackError(
        `${sources[sources.length - 1].name}: parent link leads back to ${prev}: the stack has a cycle`,
        "PAGESTACK_STACK_CYCLE",
        { layer: cur.name }
      );
    }
    if (sources.length >= maxDepth) {
      throw new StackError(
        `${top.name}: the stack is deeper than ${maxDepth} layers`,
        "PAGESTACK_STACK_TOO_DEEP",
        { layer: top.name }
      );
    }
    seen.set(cur.id, cur.name);
    sources.push(cur);
    cur = await cur.parent();
  }
  const layers = [];
  for (let i = 0; i < sources.length; i++) {
    layers.push({ index: i, source: sources[i], files: await sources[i].list() });
  }
  return new Stack(layers);
}
var Stack = class {
  layers;
  images = /* @__PURE__ */ new Map();
  pagemaps = /* @__PURE__ */ new Map();
  resolved = /* @__PURE__ */ new Map();
  pagesFiles = /* @__PURE__ */ new Map();
  memories = /* @__PURE__ */ new Map();
  constructor(layers) {
    this.layers = layers;
  }
  get top() {
    return this.layers[0];
  }
  /** A decoded image file of a layer (cached), or null when the layer has none. */
  image(file, layer = 0) {
    return this.decoded(this.images, file, layer, decodeImage);
  }
  /** A layer's pagemap in columns (cached), or null when the layer has no such file. */
  pagemapColumns(file, layer) {
    return this.decoded(this.pagemaps, file, layer, decodePagemap);
  }
  /** A layer's file decoded by `decode`, cached in `cache`; format errors name the file. */
  decoded(cache, file, layer, decode) {
    const key = `${layer}\0${file}`;
    let p = cache.get(key);
    if (!p) {
      const src = this.layers[layer].source;
      p = src.readFile(file).then((buf) => {
        if (!buf) return null;
        try {
          return decode(buf);
        } catch (e) {
          if (e instanceof ImageFormatError) throw e.withFile(`${src.name}/${file}`);
          throw e;
        }
      });
      cache.set(key, p);
    }
    return p;
  }
  /** Resolves a pagemap file (`pagemap-<pid>.img` or `pagemap-shmem-<id>.img`) through the stack. */
  resolve(file) {
    let p = this.resolved.get(file);
    if (!p) {
      p = (async () => {
        const layers = await Promise.all(
          this.layers.map(async (l) => ({
            layerName: l.source.name,
            columns: await this.pagemapColumns(file, l.index)
          }))
        );
        return resolvePagemap(file, layers);
      })();
      this.resolved.set(file, p);
    }
    return p;
  }
  /** The pages file a layer's pagemap names, opened and checked against the pagemap (cached). */
  pagesFile(pagemapFile, layer) {
    const key = `${layer}\0${pagemapFile}`;
    let p = this.pagesFiles.get(key);
    if (!p) {
      p = (async () => {
        const cols = await this.pagemapColumns(pagemapFile, layer);
        if (!cols) return null;
        const src = this.layers[layer].source;
        const name = `pages-${cols.pagesId}.img`;
        let present = 0;
        for (let i = 0; i < cols.count; i++) if (cols.flags[i] & 4) present += cols.nrPages[i];
        const f = await src.open(name);
        if (!f) {
          if (present === 0) return null;
          throw new StackError(
            `${src.name}/${name}: missing, but ${src.name}/${pagemapFile} has ${present} pages in it`,
            "PAGESTACK_PAGES_FILE_MISSING",
            { file: `${src.name}/${name}`, layer: src.name }
          );
        }
        if (f.size < present * PAGE_SIZE) {
          let off = 0;
          let at = 0;
          for (let i = 0; i < cols.count; i++) {
            if (!(cols.flags[i] & 4)) continue;
            if (off + cols.nrPages[i] * PAGE_SIZE > f.size) {
              at = cols.vpage[i] * PAGE_SIZE;
              break;
            }
            off += cols.nrPages[i] * PAGE_SIZE;
          }
          await f.close();
          throw new StackError(
            `${src.name}/${name}: ${f.size} bytes, but ${pagemapFile} needs ${present * PAGE_SIZE} (short at offset ${Math.max(off, 0)}, the pages of 0x${at.toString(16)})`,
            "PAGESTACK_PAGES_FILE_SHORT",
            { file: `${src.name}/${name}`, layer: src.name, offset: Math.max(off, 0), address: at }
          );
        }
        return f;
      })();
      this.pagesFiles.set(key, p);
    }
    return p;
  }
  /** Memory of one pagemap file through the stack, ready for reads. */
  memory(file) {
    let p = this.memories.get(file);
    if (!p) {
      p = (async () => {
        const resolved = await this.resolve(file);
        const files = [];
        for (let l = 0; l < this.layers.length; l++) {
          files.push(
            l < resolved.depth && resolved.perLayer[l].resolvedPages > 0 ? await this.pagesFile(file, l) : null
          );
        }
        return new PagemapMemory(
          resolved,
          files,
          this.layers.map((l) => l.source.name)
        );
      })();
      this.memories.set(file, p);
    }
    return p;
  }
  /** Processes of the top layer's pstree.img, in its order (the root first). */
  async processes() {
    const img = await this.image("pstree.img");
    if (!img)
      throw new StackError(
        `${this.top.source.name}: no pstree.img: not a CRIU image directory`,
        "PAGESTACK_NO_PSTREE",
        { layer: this.top.source.name }
      );
    return img.entries.map(pstreeEntry);
  }
  /** tc.comm of core-<pid>.img in the top layer, or null without one. */
  async comm(pid) {
    if (!this.top.files.includes(`core-${pid}.img`)) return null;
    const core = (await this.image(`core-${pid}.img`))?.entries[0];
    return core ? coreView(core).comm : null;
  }
  /** Picks a process: the given pid, or the only one. Throws a StackError listing pids otherwise. */
  async pickPid(pid) {
    const procs = await this.processes();
    if (pid === void 0) {
      if (procs.length === 1) return procs[0].pid;
      const pids = procs.map((p) => p.pid);
      throw new StackError(
        `the stack has ${procs.length} processes; choose one of ${pids.join(", ")}`,
        "PAGESTACK_PID_REQUIRED",
        { layer: this.top.source.name, processes: procs.length, pids }
      );
    }
    if (!procs.some((p) => p.pid === pid)) {
      throw new StackError(
        `no process ${pid} in the stack; its processes are ${procs.map((p) => p.pid).join(", ")}`,
        "PAGESTACK_NO_SUCH_PID",
        { layer: this.top.source.name, pid }
      );
    }
    return pid;
  }
  /** VMAs of a process from the top layer's mm-<pid>.img (empty when there is none). */
  async vmas(pid) {
    const mm = await this.image(`mm-${pid}.img`);
    if (!mm || mm.entries.length === 0) return [];
    const entry = mm.entries[0];
    return mmView(entry).vmas.filter((v) => !(int(v["status"]) & VMA_AREA_VSYSCALL)).map((v) => vmaFromMessage(v, `${this.top.source.name}/mm-${pid}.img`));
  }
  /**
   * The shmem pagemap file behind a shared VMA, or null for private memory. CRIU 4.2 dumps shared
   * anonymous memory the memfd way: vma.shmid is a files.img id whose MEMFD entry names an
   * inode_id, and memfd.img maps that inode to the shmid of `pagemap-shmem-<shmid>.img`. Older
   * dumps (VMA_ANON_SHARED) put the shmem id in vma.shmid directly.
   */
  async shmemPagemapFor(vma) {
    if (vma.status & VMA_AREA_MEMFD) {
      const files = (await this.image("files.img"))?.entries.map(fileEntry) ?? [];
      const inode = files.find((e) => e.id === vma.shmid && e.memfdInode !== null)?.memfdInode ?? null;
      const memfds = (await this.image("memfd.img"))?.entries.map(memfdEntry) ?? [];
      const me = inode === null ? void 0 : memfds.find((e) => e.inodeId === inode);
      if (!me || me.shmid === null) {
        throw new StackError(
          `${this.top.source.name}: the memfd VMA at 0x${vma.start.toString(16)} (files.img id ${vma.shmid}) has no memfd.img entry with a shmid`,
          "PAGESTACK_MEMFD_UNRESOLVED",
          { layer: this.top.source.name, address: vma.start }
        );
      }
      return `pagemap-shmem-${me.shmid}.img`;
    }
    if (vma.status & VMA_ANON_SHARED) return `pagemap-shmem-${vma.shmid}.img`;
    return null;
  }
  /** A process's memory through the stack. */
  async process(pid) {
    const vmas = await this.vmas(pid);
    const priv = await this.memory(`pagemap-${pid}.img`);
    const shared = /* @__PURE__ */ new Map();
    for (const v of vmas) {
      const file = await this.shmemPagemapFor(v);
      if (file && this.top.files.includes(file)) shared.set(v, await this.memory(file));
    }
    return new ProcessMemory(pid, vmas, priv, shared);
  }
  /** Closes every open pages file. */
  async close() {
    for (const p of this.pagesFiles.values()) {
      const f = await p.catch(() => null);
      await f?.close();
    }
    this.pagesFiles.clear();
    this.memories.clear();
    for (const l of this.layers) await l.source.close?.();
  }
};

export {
  hex,
  formatBytes,
  PAGE_SIZE,
  PAGE_SHIFT,
  PE_PARENT,
  PE_LAZY,
  PE_PRESENT,
  decodePagemap,
  DirLayerSource,
  LAZY,
  entryOffsets,
  resolvePagemap,
  findExtent,
  int,
  int32,
  uint64,
  pstreeEntry,
  coreView,
  mmView,
  VMA_AREA_VSYSCALL,
  VMA_ANON_SHARED,
  VMA_FILE_BACKED,
  PROT_READ,
  PROT_WRITE,
  PROT_EXEC,
  vmaPerms,
  vmaName,
  vmaKind,
  fileNames,
  MAX_STACK_DEPTH,
  openStack,
  Stack
};
