import {
  FileError
} from "./chunk-XLWXTOJZ.js";

// src/engine/fs.ts
import { lstat, open, realpath } from "node:fs/promises";
import { basename, dirname, join, relative, resolve } from "node:path";
function errnoText(e) {
  const err = e;
  switch (err?.code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "not a directory (a component of the path is a file)";
    case "ELOOP":
      return "too many levels of symbolic links";
    case "ENAMETOOLONG":
      return "file name too long";
    case "ENOSPC":
      return "no space left on device";
    case "EROFS":
      return "read-only file system";
    case "EEXIST":
      return "already exists";
    case "ENOTEMPTY":
      return "directory not empty";
    case "EXDEV":
      return "not on the same filesystem";
    case "ERR_FS_FILE_TOO_LARGE":
      return "file is too large to read (more than 2 GiB)";
    default:
      return (err?.message ?? String(e)).split("\n")[0];
  }
}
function pidAlive(pid) {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}
async function writeAll(fh, buf, len, at) {
  let done = 0;
  while (done < len) {
    const { bytesWritten } = await fh.write(buf, done, len - done, at + done);
    done += bytesWritten;
  }
}
async function fsyncPath(path) {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
async function fsyncDirQuietly(dir) {
  try {
    await fsyncPath(dir);
  } catch {
  }
}
async function exists(path) {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
async function linkTarget(fromDir, to) {
  const absFrom = join(await realpath(dirname(resolve(fromDir))), basename(resolve(fromDir)));
  const absTo = await realpath(to);
  const rel = relative(absFrom, absTo);
  return rel === "" ? "." : rel;
}

// src/cli/io.ts
import { once } from "node:events";
import { statSync } from "node:fs";
import { readFile } from "node:fs/promises";
var processStreams = {
  stdout: (data) => {
    process.stdout.write(data);
  },
  write: async (data) => {
    if (!process.stdout.write(data)) await once(process.stdout, "drain");
  },
  progressSink: () => process.stderr.isTTY ? {
    write: (s) => process.stderr.write(s),
    get columns() {
      return process.stderr.columns;
    }
  } : null,
  stderr: (text) => {
    process.stderr.write(text);
  },
  stdin: async () => {
    const chunks = [];
    for await (const c of process.stdin) chunks.push(c);
    return new Uint8Array(Buffer.concat(chunks));
  }
};
var current = processStreams;
function cliStreams() {
  return current;
}
async function writeStdout(data) {
  const s = current;
  if (s.write) await s.write(data);
  else s.stdout(data);
}
function setCliStreams(s) {
  const prev = current;
  current = s;
  return prev;
}
async function readWholeFile(path) {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new FileError(`${path}: ${errnoText(e)}`);
  }
  if (st.isDirectory()) throw new FileError(`${path}: is a directory, expected a file`);
  if (!st.isFile() && !st.isFIFO()) {
    const kind = st.isCharacterDevice() ? "a character device" : st.isBlockDevice() ? "a block device" : st.isSocket() ? "a socket" : "not a regular file";
    throw new FileError(`${path}: is ${kind}, expected a regular file`);
  }
  try {
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.length);
  } catch (e) {
    throw new FileError(`${path}: ${errnoText(e)}`);
  }
}

export {
  errnoText,
  pidAlive,
  writeAll,
  fsyncPath,
  fsyncDirQuietly,
  exists,
  linkTarget,
  processStreams,
  cliStreams,
  writeStdout,
  setCliStreams,
  readWholeFile
};
