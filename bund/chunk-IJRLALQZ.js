import {
  ArchiveError
} from "./chunk-XLWXTOJZ.js";

// src/source/archive/archive.ts
import { closeSync as closeSync2, constants as constants2, fstatSync, openSync as openSync2, readSync as readSync2, realpathSync } from "node:fs";

// src/source/archive/tar.ts
var BLOCK = 512;
var TarIndex = class {
  /** Members in archive order. */
  members;
  byName;
  children;
  constructor(members) {
    this.members = members;
    this.byName = /* @__PURE__ */ new Map();
    this.children = /* @__PURE__ */ new Map();
    for (const m of members) {
      this.byName.set(m.name, m);
      const slash = m.name.lastIndexOf("/");
      const dir = slash < 0 ? "" : m.name.slice(0, slash);
      const kids = this.children.get(dir) ?? [];
      this.children.set(dir, kids);
      kids.push(m.name.slice(slash + 1));
      let d = dir;
      while (d !== "") {
        const s = d.lastIndexOf("/");
        const up = s < 0 ? "" : d.slice(0, s);
        const upKids = this.children.get(up) ?? [];
        this.children.set(up, upKids);
        const base = d.slice(s + 1);
        if (upKids.includes(base)) break;
        upKids.push(base);
        d = up;
      }
    }
  }
  get(name) {
    return this.byName.get(name);
  }
  /** Is `name` a directory (a member of type dir, or a prefix of other members)? */
  isDir(name) {
    return name === "" || this.byName.get(name)?.type === "dir" || this.children.has(name);
  }
  /** Names directly inside directory `dir` ('' = the root), sorted. */
  list(dir) {
    return [...this.children.get(dir) ?? []].sort();
  }
};
function headerChecksumOk(h) {
  const stored = parseOctal(h, 148, 8);
  if (stored === null) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 32 : h[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}
function parseOctal(h, off, len) {
  let i = off;
  const end = off + len;
  while (i < end && h[i] === 32) i++;
  let n = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = h[i];
    if (c === 0 || c === 32) break;
    if (c < 48 || c > 55) return null;
    n = n * 8 + (c - 48);
    digits++;
  }
  return digits === 0 ? 0 : n;
}
function parseNumber(h, off, len) {
  if (h[off] & 128) {
    if (h[off] & 64) return null;
    let n = h[off] & 63;
    for (let i = off + 1; i < off + len; i++) {
      n = n * 256 + h[i];
      if (n > Number.MAX_SAFE_INTEGER) return null;
    }
    return n;
  }
  return parseOctal(h, off, len);
}
function cString(h, off, len) {
  let end = off;
  while (end < off + len && h[end] !== 0) end++;
  return new TextDecoder().decode(h.subarray(off, end));
}
var MAX_EXT_HEADER = 1 << 20;
function normaliseName(raw) {
  if (raw.startsWith("/")) return { refused: "an absolute name, expected a path inside the archive" };
  const parts = [];
  for (const p of raw.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") return { refused: 'a name with "..", expected a path inside the archive' };
    parts.push(p);
  }
  return parts.join("/");
}
function resolveLinkInArchive(name, target) {
  if (target.startsWith("/")) return null;
  const parts = name.split("/");
  parts.pop();
  for (const p of target.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") {
      if (parts.length === 0) return null;
      parts.pop();
    } else parts.push(p);
  }
  return parts.join("/");
}
function readFully(c, buf, pos) {
  let done = 0;
  while (done < buf.length) {
    const n = c.readSync(buf, done, buf.length - done, pos + done);
    if (n <= 0) break;
    done += n;
  }
  return done;
}
function parsePax(data, where) {
  const out = /* @__PURE__ */ new Map();
  const text = new TextDecoder().decode(data);
  let i = 0;
  while (i < text.length) {
    if (text.charCodeAt(i) === 0) break;
    const sp = text.indexOf(" ", i);
    const len = sp < 0 ? Number.NaN : Number(text.slice(i, sp));
    if (!Number.isInteger(len) || len <= sp - i + 1 || i + len > text.length) {
      throw new ArchiveError(`${where}: bad pax record at byte ${i}, expected "<length> <key>=<value>\\n"`);
    }
    const rec = text.slice(sp + 1, i + len - 1);
    const eq = rec.indexOf("=");
    if (eq < 0) throw new ArchiveError(`${where}: bad pax record at byte ${i}, no "="`);
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}
function indexTar(c, archive) {
  const members = [];
  const seen = /* @__PURE__ */ new Map();
  const h = new Uint8Array(BLOCK);
  let pos = 0;
  let pax = null;
  let longName = null;
  let longLink = null;
  let extStart = -1;
  for (; ; ) {
    if (pos >= c.size) {
      throw new ArchiveError(
        `${archive}: ends at offset ${pos} without the end-of-archive blocks, expected more members or two zero blocks (truncated?)`
      );
    }
    const got = readFully(c, h, pos);
    if (got < BLOCK) {
      throw new ArchiveError(
        `${archive}: header at offset ${pos} cut off after ${got} bytes, expected a 512-byte tar header (truncated?)`
      );
    }
    if (h.every((b) => b === 0)) break;
    const at = `${archive}: header at offset ${pos}`;
    if (!headerChecksumOk(h)) {
      throw new ArchiveError(`${at}: bad header checksum, expected a tar header (corrupt archive?)`);
    }
    const size = parseNumber(h, 124, 12);
    if (size === null) throw new ArchiveError(`${at}: bad size field, expected an octal number`);
    const typeflag = String.fromCharCode(h[156]);
    const dataOff = pos + BLOCK;
    const next = dataOff + Math.ceil(size / BLOCK) * BLOCK;
    const headerName = (() => {
      const name = cString(h, 0, 100);
      const posix = h[257] === 117 && cString(h, 257, 6) === "ustar" && h[262] === 0;
      const prefix = posix ? cString(h, 345, 155) : "";
      return prefix ? `${prefix}/${name}` : name;
    })();
    const shownName = longName ?? pax?.get("path") ?? headerName;
    if (dataOff + size > c.size) {
      throw new ArchiveError(
        `${archive}: member "${shownName}" at offset ${pos}: ${size} bytes of data run past the end of the archive (${c.size} bytes; truncated?)`
      );
    }
    if (typeflag === "x" || typeflag === "g" || typeflag === "L" || typeflag === "K") {
      if (size > MAX_EXT_HEADER) {
        throw new ArchiveError(`${at}: extended header of ${size} bytes, expected at most ${MAX_EXT_HEADER}`);
      }
      if (extStart < 0) extStart = pos;
      const data = new Uint8Array(size);
      readFully(c, data, dataOff);
      if (typeflag === "x") pax = new Map([...pax ?? [], ...parsePax(data, at)]);
      else if (typeflag === "L") longName = cString(data, 0, data.length);
      else if (typeflag === "K") longLink = cString(data, 0, data.length);
      pos = next;
      continue;
    }
    let realSize = size;
    const paxSize = pax?.get("size");
    if (paxSize !== void 0) {
      const n = Number(paxSize);
      if (!Number.isSafeInteger(n) || n < 0) throw new ArchiveError(`${at}: bad pax size "${paxSize}"`);
      realSize = n;
    }
    const linkname = longLink ?? pax?.get("linkpath") ?? cString(h, 157, 100);
    const headerOffset = extStart >= 0 ? extStart : pos;
    const paxMtime = pax?.get("mtime");
    pax = null;
    longName = null;
    longLink = null;
    extStart = -1;
    let nextPos = next;
    if (realSize !== size) {
      nextPos = dataOff + Math.ceil(realSize / BLOCK) * BLOCK;
      if (dataOff + realSize > c.size) {
        throw new ArchiveError(
          `${archive}: member "${shownName}" at offset ${headerOffset}: ${realSize} bytes of data run past the end of the archive (truncated?)`
        );
      }
    }
    if (typeflag === "S") {
      throw new ArchiveError(
        `${archive}: member "${shownName}" at offset ${headerOffset}: GNU sparse members are not supported`
      );
    }
    const norm = normaliseName(shownName);
    if (typeof norm !== "string") {
      throw new ArchiveError(`${archive}: member "${shownName}" at offset ${headerOffset}: ${norm.refused}`);
    }
    const type = typeflag === "0" || typeflag === "\0" || typeflag === "7" ? "file" : typeflag === "5" ? "dir" : typeflag === "2" ? "symlink" : typeflag === "1" ? "hardlink" : "other";
    pos = nextPos;
    if (norm === "") continue;
    let offset = dataOff;
    let memberSize = type === "file" || type === "other" ? realSize : 0;
    if (type === "hardlink") {
      const t = normaliseName(linkname);
      const target = typeof t === "string" ? seen.get(t) : void 0;
      if (target?.type !== "file") {
        throw new ArchiveError(
          `${archive}: member "${shownName}" at offset ${headerOffset}: hard link to "${linkname}", which is not a file earlier in the archive (links must stay inside it)`
        );
      }
      offset = target.offset;
      memberSize = target.size;
    }
    if (type === "symlink") {
      const base = norm.slice(norm.lastIndexOf("/") + 1);
      if (base !== "parent" && resolveLinkInArchive(norm, linkname) === null) {
        throw new ArchiveError(
          `${archive}: member "${shownName}" at offset ${headerOffset}: symlink to "${linkname}" leaves the archive, expected a link inside it`
        );
      }
    }
    const prev = seen.get(norm);
    if (prev && !(prev.type === "dir" && type === "dir")) {
      throw new ArchiveError(
        `${archive}: member "${shownName}" at offset ${headerOffset}: duplicate of the member at offset ${prev.headerOffset}, expected each name once`
      );
    }
    const m = {
      name: norm,
      type,
      size: memberSize,
      offset,
      headerOffset,
      linkname,
      mode: parseOctal(h, 100, 8) ?? 0,
      mtime: Number(paxMtime ?? parseNumber(h, 136, 12) ?? 0)
    };
    if (!prev) {
      seen.set(norm, m);
      members.push(m);
    }
  }
  return new TarIndex(members);
}

// src/source/archive/format.ts
var DETECT_BYTES = 512;
function detectFormat(head) {
  const b = head;
  if (b.length >= 2 && b[0] === 31 && b[1] === 139) return "gzip";
  if (b.length >= 4 && b[0] === 40 && b[1] === 181 && b[2] === 47 && b[3] === 253) return "zstd";
  if (b.length >= 4 && (b[0] & 240) === 80 && b[1] === 42 && b[2] === 77 && b[3] === 24)
    return "zstd";
  if (b.length >= 6 && b[0] === 253 && b[1] === 55 && b[2] === 122 && b[3] === 88 && b[4] === 90 && b[5] === 0)
    return "xz";
  if (b.length >= 4 && b[0] === 66 && b[1] === 90 && b[2] === 104 && b[3] >= 49 && b[3] <= 57)
    return "bzip2";
  if (b.length >= 512) {
    const magic = String.fromCharCode(...b.subarray(257, 262));
    if (magic === "ustar") return "tar";
    if (b[0] !== 0 && headerChecksumOk(b.subarray(0, 512))) return "tar";
  }
  return null;
}

// src/source/archive/unpack.ts
import {
  closeSync,
  constants,
  createReadStream,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  writeSync
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGunzip } from "node:zlib";
var DEFAULT_UNPACK_LIMIT = 64 * 1024 ** 3;
var DEFAULT_MEMORY_LIMIT = 256 * 1024 ** 2;
function unpackLimit(opts = {}) {
  if (opts.limit !== void 0) return opts.limit;
  const env = process.env["PAGESTACK_UNPACK_LIMIT"];
  if (env) {
    const m = /^(\d+)\s*([kmgt]?)i?b?$/i.exec(env.trim());
    if (!m) throw new ArchiveError(`PAGESTACK_UNPACK_LIMIT="${env}": expected a size such as 8G`);
    const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase()];
    return Number(m[1]) * mult;
  }
  return DEFAULT_UNPACK_LIMIT;
}
var MemoryContainer = class {
  constructor(bytes) {
    this.bytes = bytes;
    this.size = bytes.length;
  }
  bytes;
  size;
  readSync(buf, offset, length, position) {
    if (position >= this.size) return 0;
    const n = Math.min(length, this.size - position);
    buf.set(this.bytes.subarray(position, position + n), offset);
    return n;
  }
  read(buf, offset, length, position) {
    return Promise.resolve(this.readSync(buf, offset, length, position));
  }
  close() {
  }
};
var FileContainer = class {
  constructor(fd, size, onClose) {
    this.size = size;
    this.onClose = onClose;
    this.fd = fd;
  }
  size;
  onClose;
  fd;
  readSync(buf, offset, length, position) {
    if (this.fd < 0) throw new ArchiveError("archive already closed");
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, offset + done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }
  read(buf, offset, length, position) {
    return Promise.resolve(this.readSync(buf, offset, length, position));
  }
  close() {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.onClose?.();
  }
};
var liveTempDirs = /* @__PURE__ */ new Set();
var hooksInstalled = false;
function removeAllTempDirs() {
  for (const d of liveTempDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
    }
  }
  liveTempDirs.clear();
}
function installHooks() {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", removeAllTempDirs);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.once(sig, () => {
      removeAllTempDirs();
      process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGTERM" ? 15 : 1));
    });
  }
}
function pendingTempDirs() {
  return [...liveTempDirs];
}
async function decoderFor(format) {
  switch (format) {
    case "gzip":
      return createGunzip();
    case "zstd":
      return new (await import("zstd-napi")).DecompressStream();
    case "xz":
      return (await import("lzma-native")).createDecompressor();
    case "bzip2":
      return (await import("unbzip2-stream")).default();
  }
}
async function unpack(path, format, opts = {}) {
  const limit = unpackLimit(opts);
  const memoryLimit = Math.min(opts.memoryLimit ?? DEFAULT_MEMORY_LIMIT, limit);
  const decoder = await decoderFor(format);
  const input = createReadStream(path, { highWaterMark: 1 << 20 });
  let compressedRead = 0;
  input.on("data", (c) => {
    compressedRead += c.length;
  });
  const chunks = [];
  let total = 0;
  let tempDir = null;
  let fd = -1;
  const spill = () => {
    installHooks();
    tempDir = mkdtempSync(join(tmpdir(), "pagestack-"));
    liveTempDirs.add(tempDir);
    fd = openSync(
      join(tempDir, "archive.tar"),
      constants.O_RDWR | constants.O_CREAT | constants.O_EXCL,
      384
    );
    let pos = 0;
    for (const c of chunks) {
      writeSync(fd, c, 0, c.length, pos);
      pos += c.length;
    }
    chunks.length = 0;
  };
  const cleanupTemp = () => {
    if (fd >= 0) closeSync(fd);
    fd = -1;
    if (tempDir) {
      rmSync(tempDir, { recursive: true, force: true });
      liveTempDirs.delete(tempDir);
    }
  };
  const name = format;
  try {
    await new Promise((resolve, reject) => {
      const fail = (e) => {
        input.destroy();
        decoder.destroy();
        reject(e);
      };
      input.on("error", (e) => fail(new ArchiveError(`${path}: ${e.message}`)));
      decoder.on(
        "error",
        (e) => fail(
          e instanceof ArchiveError ? e : new ArchiveError(
            `${path}: ${name} stream broken near compressed offset ${compressedRead} (${e.message}), expected a complete ${name} stream`
          )
        )
      );
      decoder.on("data", (c) => {
        total += c.length;
        if (total > limit) {
          fail(
            new ArchiveError(
              `${path}: decompresses to more than ${limit} bytes (the unpack limit; raise it with PAGESTACK_UNPACK_LIMIT), refused as a possible decompression bomb`
            )
          );
          return;
        }
        if (fd < 0) {
          chunks.push(c);
          if (total > memoryLimit) spill();
        } else {
          writeSync(fd, c, 0, c.length, total - c.length);
        }
      });
      decoder.on("end", () => resolve());
      input.pipe(decoder);
    });
  } catch (e) {
    cleanupTemp();
    throw e;
  }
  if (fd >= 0) {
    const dir = tempDir;
    return new FileContainer(fd, total, () => {
      rmSync(dir, { recursive: true, force: true });
      liveTempDirs.delete(dir);
    });
  }
  return new MemoryContainer(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total));
}

// src/source/archive/archive.ts
var MAX_LINK_HOPS = 16;
var Archive = class _Archive {
  constructor(path, realPath, format, container, index, imageDir, engine) {
    this.path = path;
    this.realPath = realPath;
    this.format = format;
    this.container = container;
    this.index = index;
    this.imageDir = imageDir;
    this.engine = engine;
  }
  path;
  realPath;
  format;
  container;
  index;
  imageDir;
  engine;
  refs = 1;
  static async open(path, opts = {}) {
    let fd;
    try {
      fd = openSync2(path, constants2.O_RDONLY);
    } catch (e) {
      throw new ArchiveError(`${path}: ${e.message}`);
    }
    let container = null;
    try {
      const st = fstatSync(fd);
      const head = new Uint8Array(DETECT_BYTES);
      const got = readSync2(fd, head, 0, DETECT_BYTES, 0);
      const format = detectFormat(head.subarray(0, got));
      if (format === null) {
        throw new ArchiveError(
          `${path}: not an image directory or a checkpoint archive (expected a tar, gzip, zstd, xz or bzip2 file; ${got} bytes start ${hexStart(head.subarray(0, got))})`
        );
      }
      if (format === "tar") {
        container = new FileContainer(fd, st.size);
      } else {
        closeSync2(fd);
        fd = -1;
        container = await unpack(path, format, opts);
        const inner = new Uint8Array(DETECT_BYTES);
        const n = container.readSync(inner, 0, DETECT_BYTES, 0);
        if (detectFormat(inner.subarray(0, n)) !== "tar") {
          throw new ArchiveError(
            `${path}: the ${format} stream does not hold a tar archive (it starts ${hexStart(inner.subarray(0, n))})`
          );
        }
      }
      const index = indexTar(container, path);
      const { imageDir, engine } = recogniseLayout(index, path);
      return new _Archive(path, realpathSync(path), format, container, index, imageDir, engine);
    } catch (e) {
      if (container) container.close();
      else if (fd >= 0) closeSync2(fd);
      throw e;
    }
  }
  /** Another user of the archive (a layer); each calls release() once. */
  retain() {
    this.refs++;
    return this;
  }
  release() {
    if (--this.refs === 0) this.container.close();
  }
  /**
   * The member `name` after following symlinks inside the archive, or undefined when absent.
   * A link leaving the archive is an ArchiveError naming the member.
   */
  lookup(name) {
    let cur = name;
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
      const m = this.index.get(cur);
      if (m?.type !== "symlink") return m;
      const next = resolveLinkInArchive(m.name, m.linkname);
      if (next === null) {
        throw new ArchiveError(
          `${this.path}: member "${m.name}" is a symlink to "${m.linkname}", outside the archive; links in an archive are never followed out of it`
        );
      }
      cur = next;
    }
    throw new ArchiveError(`${this.path}: member "${name}": more than ${MAX_LINK_HOPS} symlinks (a loop?)`);
  }
  /** Whole contents of a member (following links inside the archive), or null when absent. */
  async readMember(name) {
    const m = this.lookup(name);
    if (!m) return null;
    if (m.type !== "file") {
      throw new ArchiveError(`${this.path}: member "${name}" is a ${m.type}, expected a regular file`);
    }
    const buf = new Uint8Array(m.size);
    const n = await this.container.read(buf, 0, m.size, m.offset);
    if (n !== m.size)
      throw new ArchiveError(`${this.path}: member "${name}": short read at offset ${m.offset + n}`);
    return buf;
  }
  /** A text member as a string, or null. */
  async readText(name) {
    const b = await this.readMember(name);
    return b === null ? null : new TextDecoder().decode(b);
  }
  /** A JSON member parsed, or null when absent; a parse error names the member. */
  async readJson(name) {
    const t = await this.readText(name);
    if (t === null) return null;
    try {
      return JSON.parse(t);
    } catch (e) {
      throw new ArchiveError(`${this.path}: member "${name}": not valid JSON (${e.message})`);
    }
  }
};
function hexStart(b) {
  return b.length === 0 ? "(empty)" : [...b.subarray(0, 8)].map((x) => x.toString(16).padStart(2, "0")).join(" ");
}
function hasInventory(index, dir) {
  return index.get(dir === "" ? "inventory.img" : `${dir}/inventory.img`) !== void 0;
}
function recogniseLayout(index, path) {
  const has = (n) => index.get(n) !== void 0;
  if (index.isDir("checkpoint")) {
    if (!hasInventory(index, "checkpoint")) {
      throw new ArchiveError(
        `${path}: member "checkpoint/" has no inventory.img, expected CRIU images in it`
      );
    }
    const engine = has("status") || has("status.dump") ? "containerd" : has("bind.mounts") || has("io.kubernetes.cri-o.LogPath") ? "CRI-O" : "podman";
    return { imageDir: "checkpoint", engine };
  }
  if (hasInventory(index, "")) return { imageDir: "", engine: "criu" };
  let dir = "";
  for (let depth = 0; depth < 64; depth++) {
    const kids = index.list(dir);
    const sub = dir === "" ? kids[0] : `${dir}/${kids[0]}`;
    if (kids.length !== 1 || sub === void 0 || !index.isDir(sub)) break;
    dir = sub;
    if (hasInventory(index, dir)) return { imageDir: dir, engine: "criu" };
  }
  throw new ArchiveError(
    `${path}: no checkpoint/ directory and no inventory.img, expected a container checkpoint archive (podman, CRI-O, containerd) or a tar of a CRIU image directory`
  );
}

// src/source/archive/source.ts
var MemberFile = class {
  constructor(archive, member) {
    this.archive = archive;
    this.member = member;
    this.size = member.size;
  }
  archive;
  member;
  size;
  read(buf, offset, length, position) {
    if (position >= this.size || length <= 0) return Promise.resolve(0);
    const n = Math.min(length, this.size - position);
    return this.archive.container.read(buf, offset, n, this.member.offset + position);
  }
  readSync(buf, offset, length, position) {
    if (position >= this.size || length <= 0) return 0;
    const n = Math.min(length, this.size - position);
    return this.archive.container.readSync(buf, offset, n, this.member.offset + position);
  }
  close() {
    return Promise.resolve();
  }
};
var ArchiveLayerSource = class _ArchiveLayerSource {
  constructor(archive, dir, parentOverride = null) {
    this.archive = archive;
    this.dir = dir;
    this.parentOverride = parentOverride;
    this.name = dir === "" ? archive.path : `${archive.path}:${dir}`;
    this.id = `${archive.realPath}\0${dir}`;
  }
  archive;
  dir;
  parentOverride;
  name;
  id;
  closed = false;
  member(file) {
    return this.dir === "" ? file : `${this.dir}/${file}`;
  }
  async list() {
    return this.archive.index.list(this.dir);
  }
  async readFile(file) {
    return this.archive.readMember(this.member(file));
  }
  async open(file) {
    const m = this.archive.lookup(this.member(file));
    if (!m) return null;
    if (m.type !== "file") {
      throw new ArchiveError(
        `${this.archive.path}: member "${m.name}" is a ${m.type}, expected a regular file`
      );
    }
    return new MemberFile(this.archive, m);
  }
  /** The text of the `parent` member, or null when there is none. */
  parentLink() {
    const m = this.archive.index.get(this.member("parent"));
    if (!m) return null;
    if (m.type === "symlink") return m.linkname;
    if (m.type === "dir") return "parent";
    if (m.type === "file" && m.size < 4096) {
      const buf = new Uint8Array(m.size);
      this.archive.container.readSync(buf, 0, m.size, m.offset);
      return new TextDecoder().decode(buf).trim();
    }
    throw new ArchiveError(
      `${this.archive.path}: member "${m.name}": expected a symlink to the parent image directory`
    );
  }
  async parent() {
    if (this.parentOverride) return this.parentOverride;
    const link = this.parentLink();
    if (link === null) return null;
    const where = `${this.archive.path}: member "${this.member("parent")}"`;
    const target = link === "parent" ? this.member("parent") : resolveLinkInArchive(this.member("parent"), link);
    if (target === null) {
      throw new ArchiveError(
        `${where} links to "${link}", outside the archive; it is not followed`,
        "PAGESTACK_ARCHIVE_LINK",
        { archive: this.archive.path, member: this.member("parent"), link }
      );
    }
    if (!this.archive.index.isDir(target) || this.archive.index.list(target).length === 0) {
      throw new ArchiveError(
        `${where} links to "${link}", which is not a directory in this archive`,
        "PAGESTACK_ARCHIVE_LINK",
        { archive: this.archive.path, member: this.member("parent"), link }
      );
    }
    return new _ArchiveLayerSource(this.archive.retain(), target);
  }
  /** Releases this layer's hold on the archive (the last one closes it and removes its temp copy). */
  async close() {
    if (this.closed) return;
    this.closed = true;
    this.archive.release();
    await this.parentOverride?.close?.();
  }
};

// src/source/archive/write.ts
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { lstat, open, readdir, readFile, readlink, rename, rm } from "node:fs/promises";
import { basename, dirname, join as join2 } from "node:path";
import { createGzip } from "node:zlib";
function compressionForName(path) {
  if (/\.(t?gz)$/i.test(path)) return "gzip";
  if (/\.zst$/i.test(path)) return "zstd";
  return "none";
}
var enc = new TextEncoder();
function putField(h, off, len, text) {
  h.set(enc.encode(text).subarray(0, len), off);
}
function putOctal(h, off, len, n) {
  putField(
    h,
    off,
    len,
    `${Math.floor(n).toString(8).padStart(len - 1, "0")}\0`
  );
}
function header(s) {
  const h = new Uint8Array(BLOCK);
  putField(h, 0, 100, s.name);
  putOctal(h, 100, 8, s.mode & 4095);
  putOctal(h, 108, 8, 0);
  putOctal(h, 116, 8, 0);
  putOctal(h, 124, 12, s.size);
  putOctal(h, 136, 12, s.mtime);
  h[156] = s.type.charCodeAt(0);
  putField(h, 157, 100, s.linkname ?? "");
  putField(h, 257, 6, "ustar\0");
  putField(h, 263, 2, "00");
  putField(h, 265, 32, "root");
  putField(h, 297, 32, "root");
  h.fill(32, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  putField(h, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return h;
}
function paxRecord(key, value) {
  const body = ` ${key}=${value}
`;
  let len = enc.encode(body).length + 1;
  while (String(len).length + enc.encode(body).length !== len)
    len = String(len).length + enc.encode(body).length;
  return `${len}${body}`;
}
var TarOut = class {
  constructor(sink) {
    this.sink = sink;
  }
  sink;
  async put(b) {
    if (!this.sink.write(b)) await new Promise((r) => this.sink.once("drain", () => r()));
  }
  async entry(s, data) {
    if (enc.encode(s.name).length > 100 || enc.encode(s.linkname ?? "").length > 100) {
      let pax = paxRecord("path", s.name);
      if (s.linkname) pax += paxRecord("linkpath", s.linkname);
      const pb = enc.encode(pax);
      await this.put(
        header({
          name: `PaxHeader/${basename(s.name).slice(0, 80)}`,
          type: "x",
          size: pb.length,
          mode: 420,
          mtime: s.mtime
        })
      );
      await this.put(padded(pb));
    }
    await this.put(header(s));
    if (data && data.length > 0) await this.put(padded(data));
  }
  async end() {
    await this.put(new Uint8Array(2 * BLOCK));
  }
};
function padded(b) {
  const rem = b.length % BLOCK;
  if (rem === 0) return b;
  const out = new Uint8Array(b.length + BLOCK - rem);
  out.set(b);
  return out;
}
async function writeArchiveLike(out, like, imagesDir, compression = compressionForName(out)) {
  const imageDir = like.imageDir;
  const tmp = join2(dirname(out), `.${basename(out)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  const file = createWriteStream(tmp, { flags: "wx", mode: 420 });
  let sink = file;
  let compressor = null;
  if (compression === "gzip") compressor = createGzip();
  else if (compression === "zstd") {
    const { CompressStream } = await import("zstd-napi");
    compressor = new CompressStream();
  }
  if (compressor) {
    compressor.pipe(file);
    sink = compressor;
  }
  const done = new Promise((resolve, reject) => {
    file.on("close", () => resolve());
    file.on("error", (e) => reject(new ArchiveError(`${out}: ${e.message}`)));
    compressor?.on("error", (e) => reject(new ArchiveError(`${out}: ${compression}: ${e.message}`)));
  });
  const tar = new TarOut(sink);
  let members = 0;
  try {
    const inImages = (n) => imageDir === "" || n === imageDir || n.startsWith(`${imageDir}/`);
    let imagesWritten = false;
    const writeImages = async () => {
      imagesWritten = true;
      const model = like.index.get(imageDir);
      const mtime = model?.mtime ?? Math.floor(Date.now() / 1e3);
      if (imageDir !== "") {
        await tar.entry({ name: `${imageDir}/`, type: "5", size: 0, mode: model?.mode ?? 448, mtime });
        members++;
      }
      for (const f of (await readdir(imagesDir)).sort()) {
        const p = join2(imagesDir, f);
        const st2 = await lstat(p);
        const name = imageDir === "" ? f : `${imageDir}/${f}`;
        if (st2.isSymbolicLink()) {
          await tar.entry({ name, type: "2", size: 0, mode: 511, mtime, linkname: await readlink(p) });
        } else if (st2.isFile()) {
          const data = new Uint8Array(await readFile(p));
          const mode = like.index.get(name)?.mode ?? st2.mode;
          await tar.entry({ name, type: "0", size: data.length, mode, mtime }, data);
        } else continue;
        members++;
      }
    };
    for (const m of like.index.members) {
      if (inImages(m.name)) {
        if (!imagesWritten) await writeImages();
        continue;
      }
      if (m.type === "dir")
        await tar.entry({ name: `${m.name}/`, type: "5", size: 0, mode: m.mode, mtime: m.mtime });
      else if (m.type === "symlink")
        await tar.entry({
          name: m.name,
          type: "2",
          size: 0,
          mode: m.mode,
          mtime: m.mtime,
          linkname: m.linkname
        });
      else if (m.type === "file" || m.type === "hardlink") {
        const data = await like.readMember(m.name) ?? new Uint8Array();
        await tar.entry({ name: m.name, type: "0", size: data.length, mode: m.mode, mtime: m.mtime }, data);
      } else continue;
      members++;
    }
    if (!imagesWritten) await writeImages();
    await tar.end();
    sink.end();
    await done;
    const fh = await open(tmp, "r+");
    await fh.sync();
    await fh.close();
    await rename(tmp, out);
    const dirFh = await open(dirname(out), "r");
    await dirFh.sync().catch(() => {
    });
    await dirFh.close();
  } catch (e) {
    sink.end();
    await done.catch(() => {
    });
    await rm(tmp, { force: true });
    throw e;
  }
  const st = await lstat(out);
  return { out, members, bytes: st.size };
}

// src/source/archive/index.ts
async function openArchiveSource(path, opts = {}) {
  const archive = await Archive.open(path, opts);
  return new ArchiveLayerSource(archive, archive.imageDir, opts.parent ?? null);
}

export {
  indexTar,
  DETECT_BYTES,
  detectFormat,
  DEFAULT_UNPACK_LIMIT,
  unpackLimit,
  pendingTempDirs,
  Archive,
  recogniseLayout,
  ArchiveLayerSource,
  compressionForName,
  writeArchiveLike,
  openArchiveSource
};
