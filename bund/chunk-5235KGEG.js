import {
  OLD_TAG,
  cleanStale,
  tempPath
} from "./chunk-XWEEP4RX.js";
import {
  DirLayerSource,
  PAGE_SHIFT
} from "./chunk-NB7SHFDT.js";
import {
  encodeImage,
  encodeMessage,
  putU32le,
  schemaForEntry
} from "./chunk-5F5SDADC.js";
import {
  errnoText,
  exists,
  fsyncPath,
  writeAll
} from "./chunk-KQHSUXQF.js";
import {
  LayerWriteError,
  PagestackError
} from "./chunk-XLWXTOJZ.js";

// src/engine/layer-writer.ts
import { renameSync, writeSync } from "node:fs";
import {
  copyFile,
  lstat,
  mkdir,
  open,
  readlink,
  realpath,
  rename,
  rm,
  symlink
} from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
var DEDUP_MARKER = ".pagestack-dedup";
var IO_CHUNK = 4 << 20;
var COPIES_AT_ONCE = 16;
var SYNC_EVERY = 8 << 20;
var DIRECT_WRITE = 64 << 10;
async function refuseInsideLayers(dest, inputs) {
  const abs = resolve(dest);
  let where = abs;
  try {
    where = join(await realpath(dirname(abs)), basename(abs));
  } catch {
  }
  for (const l of inputs) {
    if (!(l instanceof DirLayerSource)) continue;
    const rel = relative(l.id, where);
    if (rel !== "" && !rel.startsWith("..") && !isAbsolute(rel)) {
      throw new LayerWriteError(
        `${dest}: inside the image directory ${l.name}, a layer of the input; write the output outside every input layer`
      );
    }
  }
}
async function fsOp(path, what, fn) {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof PagestackError) throw e;
    throw new LayerWriteError(`${path}: ${what}: ${errnoText(e)}`);
  }
}
function fsyncPath2(path) {
  return fsOp(path, "fsync", () => fsyncPath(path));
}
var PagemapEntries = class {
  vpage = [];
  nrPages = [];
  flags = [];
  source = [];
  get count() {
    return this.vpage.length;
  }
  /**
   * Appends pages [vpage, vpage + n) with `flags`; `source` names the original entry they come
   * from (runs continue each other only within one source entry, as CRIU writes them).
   */
  push(source, vpage, n, flags) {
    if (n <= 0) return;
    const k = this.vpage.length - 1;
    if (k >= 0 && this.source[k] === source && this.flags[k] === flags && this.vpage[k] + this.nrPages[k] === vpage) {
      this.nrPages[k] += n;
      return;
    }
    this.vpage.push(vpage);
    this.nrPages.push(n);
    this.flags.push(flags);
    this.source.push(source);
  }
};
var PagesWriter = class {
  path;
  fh;
  buf;
  spare;
  fill = 0;
  pos = 0;
  pending = null;
  failed;
  syncing = null;
  synced = 0;
  constructor(path, fh, chunk = IO_CHUNK) {
    this.path = path;
    this.fh = fh;
    this.buf = Buffer.allocUnsafe(chunk);
    this.spare = Buffer.allocUnsafe(chunk);
  }
  /** The file's descriptor, for a writer on another thread (which appends nothing through this). */
  get fd() {
    return this.fh.fd;
  }
  /** Bytes appended so far. */
  get size() {
    return this.pos + this.fill;
  }
  async append(src, offset, length) {
    while (length > 0) {
      const n = this.gather(src, offset, length);
      offset += n;
      length -= n;
      if (this.fill === this.buf.length) await this.flush();
    }
  }
  /** Copies as much of `length` bytes of `src` at `offset` as the buffer has room for; returns that. */
  gather(src, offset, length) {
    const n = Math.min(length, this.buf.length - this.fill);
    this.buf.set(src.subarray(offset, offset + n), this.fill);
    this.fill += n;
    return n;
  }
  /**
   * `append`, on this thread: a copy into the page cache is memory copying, and a write awaited
   * per chunk costs a thread-pool round trip, in which a caller reading a socket stops reading
   * (the page server's receive path). Long pieces are written straight from `src`; short ones are
   * gathered first. Positions are explicit, so this mixes with `append`.
   */
  appendSync(src, offset, length) {
    if (this.failed !== void 0) throw this.failed;
    if (this.fill === 0 && length >= DIRECT_WRITE) {
      this.writeSyncAt(src, offset, length, this.pos);
      this.pos += length;
      this.syncBehind();
      return;
    }
    while (length > 0) {
      const n = this.gather(src, offset, length);
      offset += n;
      length -= n;
      if (this.fill === this.buf.length) {
        this.writeSyncAt(this.buf, 0, this.fill, this.pos);
        this.pos += this.fill;
        this.fill = 0;
        this.syncBehind();
      }
    }
  }
  writeSyncAt(src, offset, length, at) {
    try {
      let done = 0;
      while (done < length) done += writeSync(this.fh.fd, src, offset + done, length - done, at + done);
    } catch (e) {
      throw new LayerWriteError(`${this.path}: write: ${errnoText(e)}`);
    }
  }
  async flush() {
    if (this.pending) await this.pending;
    if (this.failed !== void 0) throw this.failed;
    if (this.fill === 0) return;
    const buf = this.buf;
    const len = this.fill;
    const at = this.pos;
    this.pos += len;
    this.fill = 0;
    this.buf = this.spare;
    this.spare = buf;
    this.pending = writeAll2(this.fh, buf, len, at, this.path).then(
      () => this.syncBehind(),
      (e) => {
        this.failed ??= e;
      }
    );
  }
  /**
   * Starts an fdatasync in the background every SYNC_EVERY bytes, so the disk writes while pages
   * are still being compared and the fsync at close only has the tail left to flush.
   */
  syncBehind() {
    if (this.syncing || this.pos - this.synced < SYNC_EVERY) return;
    const upTo = this.pos;
    this.syncing = this.fh.datasync().then(
      () => {
        this.synced = upTo;
        this.syncing = null;
      },
      () => {
        this.syncing = null;
      }
    );
  }
  /** Writes what is buffered, fsyncs and closes. */
  async close() {
    try {
      await this.flush();
      if (this.pending) await this.pending;
      this.pending = null;
      if (this.failed !== void 0) throw this.failed;
      if (this.syncing) await this.syncing;
      await fsOp(this.path, "fsync", () => this.fh.sync());
    } finally {
      await this.fh.close().catch(() => void 0);
    }
  }
  /** Closes without caring about the contents (on error paths). */
  async discard() {
    await this.pending?.catch(() => void 0);
    await this.syncing;
    await this.fh.close().catch(() => void 0);
  }
};
function writeAll2(fh, buf, len, at, path) {
  return fsOp(path, "write", () => writeAll(fh, buf, len, at));
}
var PAGEMAP_ENTRY = schemaForEntry("PAGEMAP", 1);
function* encodePagemapChunks(pagesId, entries) {
  const head = encodeImage({ magic: "PAGEMAP", framing: "common", entries: [{ pages_id: pagesId }] });
  let out = new Uint8Array(IO_CHUNK + 64);
  out.set(head, 0);
  let p = head.length;
  for (let i = 0; i < entries.count; i++) {
    const msg = {
      vaddr: BigInt(entries.vpage[i]) << BigInt(PAGE_SHIFT),
      compat_nr_pages: 0,
      flags: entries.flags[i],
      nr_pages: BigInt(entries.nrPages[i])
    };
    const body = encodeMessage(PAGEMAP_ENTRY, msg);
    if (p + 4 + body.length > out.length) {
      yield out.subarray(0, p);
      out = new Uint8Array(IO_CHUNK + 64);
      p = 0;
    }
    putU32le(out, p, body.length);
    out.set(body, p + 4);
    p += 4 + body.length;
  }
  yield out.subarray(0, p);
}
var LayerWriter = class _LayerWriter {
  /** Where the result goes. */
  dest;
  /** The temporary directory everything is written to. */
  dir;
  replace;
  finished = false;
  open = /* @__PURE__ */ new Set();
  constructor(dest, dir, replace) {
    this.dest = dest;
    this.dir = dir;
    this.replace = replace;
  }
  /**
   * Starts writing `dest`. Without `replace` dest must not exist; with it, dest must be an existing
   * directory that `commit` swaps out (and removes only after the new one is in place).
   */
  static async begin(dest, opts = {}) {
    const abs = resolve(dest);
    if (opts.inputs) await refuseInsideLayers(dest, opts.inputs);
    await cleanStale(abs);
    const there = await exists(abs);
    if (opts.replace) {
      if (!there) throw new LayerWriteError(`${dest}: no such directory to replace`);
    } else if (there) {
      throw new LayerWriteError(`${dest}: already exists; choose a new output directory (or remove it)`);
    }
    const parentDir = dirname(abs);
    if (!await exists(parentDir)) {
      throw new LayerWriteError(`${dest}: cannot create it: ${parentDir} does not exist`);
    }
    const tmp = tempPath(abs);
    await fsOp(tmp, "create the temporary output directory", () => mkdir(tmp, { mode: 493 }));
    return new _LayerWriter(abs, tmp, opts.replace === true);
  }
  path(name) {
    return join(this.dir, name);
  }
  /** Writes a small file whole, and fsyncs it. */
  async writeFile(name, data) {
    await this.writeChunks(name, [data]);
  }
  async writeChunks(name, chunks) {
    const path = this.path(name);
    const fh = await fsOp(path, "create", () => open(path, "wx", 420));
    try {
      let at = 0;
      for (const c of chunks) {
        await writeAll2(fh, c, c.length, at, path);
        at += c.length;
      }
      await fsOp(path, "fsync", () => fh.sync());
    } finally {
      await fh.close();
    }
  }
  /** Copies a file byte for byte (keeping its mode), and fsyncs the copy. */
  async copyFrom(src, name) {
    const path = this.path(name);
    await fsOp(src, `copy to ${path}`, () => copyFile(src, path));
    await fsyncPath2(path);
  }
  /** Writes a pagemap image with these entries (the head names `pagesId`). */
  async writePagemap(name, pagesId, entries) {
    await this.writeChunks(name, encodePagemapChunks(pagesId, entries));
  }
  /** Creates a pages file to stream pages into; close() it (fsyncs) before commit. */
  async createPages(name, chunk = IO_CHUNK) {
    const path = this.path(name);
    const fh = await fsOp(path, "create", () => open(path, "wx", 420));
    const w = new PagesWriter(path, fh, chunk);
    this.open.add(w);
    const close = w.close.bind(w);
    w.close = async () => {
      this.open.delete(w);
      await close();
    };
    return w;
  }
  /**
   * Copies the files `names` of layer `from` unchanged. From an image directory: regular files
   * byte for byte, symlinks as links; anything else (a subdirectory, a device) is an error rather
   * than dropped. From any other source: each file's bytes, as the source gives them.
   */
  async copyLayerFiles(from, names) {
    const srcDir = from instanceof DirLayerSource ? from.name : null;
    const one = async (name) => {
      if (srcDir === null) {
        const data = await from.readFile(name);
        if (!data) throw new LayerWriteError(`${from.name}/${name}: listed, but the source has no such file`);
        await this.writeFile(name, data);
        return;
      }
      const src = join(srcDir, name);
      const st = await fsOp(src, "stat", () => lstat(src));
      if (st.isFile()) await this.copyFrom(src, name);
      else if (st.isSymbolicLink())
        await this.symlink(name, await fsOp(src, "readlink", () => readlink(src)));
      else {
        throw new LayerWriteError(
          `${src}: not a regular file (${st.isDirectory() ? "a directory" : "a special file"}); an image directory holds only files`
        );
      }
    };
    const errors = new Array(names.length);
    let next = 0;
    const worker = async () => {
      while (next < names.length) {
        const i = next++;
        await one(names[i]).catch((e) => {
          errors[i] = e ?? new Error("copy failed");
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(COPIES_AT_ONCE, names.length) }, worker));
    for (const e of errors) if (e !== void 0) throw e;
  }
  async symlink(name, target) {
    const path = this.path(name);
    await fsOp(path, "create symlink", () => symlink(target, path));
  }
  /** Puts the finished directory in place (see the file comment). */
  async commit() {
    if (this.finished) throw new Error("LayerWriter: already committed or aborted");
    if (this.open.size > 0) throw new Error("LayerWriter: a pages file is still open");
    await fsyncPath2(this.dir);
    const parentDir = dirname(this.dest);
    if (this.replace) {
      const old = tempPath(this.dest, OLD_TAG);
      try {
        renameSync(this.dest, old);
      } catch (e) {
        throw new LayerWriteError(`${this.dest}: move the original aside: ${errnoText(e)}`);
      }
      try {
        renameSync(this.dir, this.dest);
      } catch (e) {
        renameSync(old, this.dest);
        throw new LayerWriteError(`${this.dest}: put the new directory in place: ${errnoText(e)}`);
      }
      this.finished = true;
      await fsyncPath2(parentDir);
      await fsOp(old, "remove the original", () => rm(old, { recursive: true, force: true }));
      await fsyncPath2(parentDir);
    } else {
      await fsOp(this.dest, "put the new directory in place", () => rename(this.dir, this.dest));
      this.finished = true;
      await fsyncPath2(parentDir);
    }
  }
  /** Drops everything written (on error). */
  async abort() {
    if (this.finished) return;
    this.finished = true;
    for (const w of this.open) await w.discard();
    this.open.clear();
    await rm(this.dir, { recursive: true, force: true }).catch(() => void 0);
  }
};

export {
  DEDUP_MARKER,
  IO_CHUNK,
  PagemapEntries,
  LayerWriter
};
