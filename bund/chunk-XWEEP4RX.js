import {
  errnoText,
  exists,
  fsyncDirQuietly,
  fsyncPath,
  pidAlive,
  writeAll
} from "./chunk-KQHSUXQF.js";
import {
  OutputError,
  PagestackError
} from "./chunk-XLWXTOJZ.js";

// src/engine/output.ts
import { randomBytes } from "node:crypto";
import { constants, writeSync } from "node:fs";
import { open, readdir, rename, rm, stat, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
var TMP_TAG = ".pagestack-tmp-";
var OLD_TAG = ".pagestack-old-";
function tempPath(dest, tag = TMP_TAG) {
  const abs = resolve(dest);
  return join(dirname(abs), `.${basename(abs)}${tag}${process.pid}-${randomBytes(4).toString("hex")}`);
}
async function fsOp(path, what, fn) {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof PagestackError) throw e;
    throw new OutputError(`${path}: ${what}: ${errnoText(e)}`, "PAGESTACK_OUTPUT", { file: path });
  }
}
async function cleanStale(dest) {
  const dir = dirname(resolve(dest));
  const base = basename(resolve(dest));
  let names;
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const done = [];
  const mine = (tag) => names.filter((n) => n.startsWith(`.${base}${tag}`)).filter((n) => {
    const pid = Number.parseInt(n.slice(base.length + 1 + tag.length), 10);
    return Number.isFinite(pid) && !pidAlive(pid);
  });
  const destPath = join(dir, base);
  for (const n of mine(OLD_TAG)) {
    if (!await exists(destPath)) {
      await fsOp(destPath, "restore the original", () => rename(join(dir, n), destPath));
      await fsOp(dir, "fsync", () => fsyncPath(dir));
      done.push(`${n} -> ${base}`);
    } else {
      await fsOp(join(dir, n), "remove", () => rm(join(dir, n), { recursive: true, force: true }));
      done.push(n);
    }
  }
  for (const n of mine(TMP_TAG)) {
    await fsOp(join(dir, n), "remove", () => rm(join(dir, n), { recursive: true, force: true }));
    done.push(n);
  }
  return done;
}
var AtomicFile = class _AtomicFile {
  dest;
  tmp;
  fh;
  durable;
  done = false;
  constructor(dest, tmp, fh, durable) {
    this.dest = dest;
    this.tmp = tmp;
    this.fh = fh;
    this.durable = durable;
  }
  /** Cleans what killed writers of `dest` left, then creates the temporary file. */
  static async create(dest, opts = {}) {
    await cleanStale(dest);
    const tmp = tempPath(dest);
    let fh;
    try {
      fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, opts.mode ?? 420);
    } catch (e) {
      throw new OutputError(`${dest}: cannot write: ${errnoText(e)}`, "PAGESTACK_OUTPUT", { file: dest });
    }
    return new _AtomicFile(dest, tmp, fh, opts.durable !== false);
  }
  /**
   * fsyncs (when durable), closes and renames into place, then fsyncs the directory.
   * `beforeRename` runs between the close and the rename (a test hook; what it throws passes
   * through, and the temporary file is removed).
   */
  async commit(beforeRename) {
    try {
      if (this.durable) await this.fh.sync();
      await this.fh.close();
    } catch (e) {
      await this.abort();
      throw outputError(this.dest, e);
    }
    try {
      await beforeRename?.();
    } catch (e) {
      await this.abort();
      throw e;
    }
    try {
      await rename(this.tmp, this.dest);
      this.done = true;
    } catch (e) {
      await this.abort();
      throw new OutputError(`${this.dest}: cannot rename into place: ${errnoText(e)}`, "PAGESTACK_OUTPUT", {
        file: this.dest
      });
    }
    if (this.durable) await fsyncDirQuietly(dirname(resolve(this.dest)));
  }
  /** Drops the temporary file (on error). */
  async abort() {
    if (this.done) return;
    this.done = true;
    await this.fh.close().catch(() => {
    });
    await unlink(this.tmp).catch(() => {
    });
  }
  /** Writes all of `buf[0, len)` at offset `at` of the temporary file. */
  write(buf, len, at) {
    return writeAll(this.fh, buf, len, at);
  }
};
async function writeFileAtomic(dest, chunks, opts = {}) {
  const f = await AtomicFile.create(dest, opts);
  const parts = typeof chunks === "string" ? [Buffer.from(chunks)] : chunks instanceof Uint8Array ? [chunks] : chunks;
  try {
    let at = 0;
    for await (const buf of parts) {
      await writeAll(f.fh, buf, buf.length, at);
      at += buf.length;
    }
  } catch (e) {
    await f.abort();
    if (e instanceof PagestackError) throw e;
    throw new OutputError(`${dest}: cannot write: ${errnoText(e)}`, "PAGESTACK_OUTPUT", { file: dest });
  }
  await f.commit();
}
function fileSink(fh, name, positioned, durable = false) {
  return {
    name,
    fh: positioned ? fh : null,
    durable,
    async write(buf, at, length, pos) {
      let done = 0;
      while (done < length) {
        const r = await fh.write(buf, at + done, length - done, positioned ? pos + done : null);
        done += r.bytesWritten;
      }
    },
    ...positioned ? {
      fd: fh.fd,
      writeSync(buf, at, length, pos) {
        let done = 0;
        while (done < length) done += writeSync(fh.fd, buf, at + done, length - done, pos + done);
      }
    } : {}
  };
}
function streamSink(write, name) {
  return {
    name,
    fh: null,
    write: (buf, at, length) => write(buf.subarray(at, at + length))
  };
}
async function writeAt(out, buf, at, length, pos, expect) {
  if (!out.fh) {
    if (pos !== expect.next) {
      throw new OutputError(
        `${out.name}: not a regular file, and this output has holes: write it to a file`,
        "PAGESTACK_NOT_SEEKABLE",
        { file: out.name }
      );
    }
    expect.next = pos + length;
  }
  await out.write(buf, at, length, pos);
}
async function writeOutput(dest, fill, opts = {}) {
  if (opts.stream) {
    await fill(streamSink(opts.stream, dest));
    return;
  }
  let st;
  try {
    st = await stat(dest);
  } catch {
  }
  if (st?.isDirectory()) {
    throw new OutputError(`${dest}: is a directory, expected the file to write`, "PAGESTACK_OUTPUT", {
      file: dest
    });
  }
  if (st && (!st.isFile() || /^\/(dev|proc)\//.test(resolve(dest)))) {
    let fh;
    try {
      fh = await open(dest, constants.O_WRONLY);
    } catch (e) {
      throw new OutputError(`${dest}: cannot open for writing: ${errnoText(e)}`, "PAGESTACK_OUTPUT", {
        file: dest
      });
    }
    try {
      await fill(fileSink(fh, dest, false));
    } finally {
      await fh.close().catch(() => {
      });
    }
    return;
  }
  const durable = opts.durable !== false;
  const f = await AtomicFile.create(dest, { mode: opts.mode ?? 384, durable });
  try {
    await fill(fileSink(f.fh, dest, true, durable));
  } catch (e) {
    await f.abort();
    throw e;
  }
  await f.commit();
}
function outputError(dest, e) {
  if (e instanceof PagestackError) return e;
  const err = e;
  if (err && typeof err.code === "string") {
    if (err.code === "ENOSPC") {
      return new OutputError(`${dest}: no space left on the device`, "PAGESTACK_NO_SPACE", { file: dest });
    }
    if (err.code === "EFBIG") {
      return new OutputError(
        `${dest}: the file system cannot hold a file this large`,
        "PAGESTACK_FILE_TOO_LARGE",
        {
          file: dest
        }
      );
    }
    return new OutputError(`${dest}: ${err.message}`, "PAGESTACK_OUTPUT", { file: dest });
  }
  return e;
}

export {
  OLD_TAG,
  tempPath,
  cleanStale,
  AtomicFile,
  writeFileAtomic,
  writeAt,
  writeOutput,
  outputError
};
