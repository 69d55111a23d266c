import {
  MAX_RAW_SPAN
} from "./chunk-MTLIFH6I.js";
import {
  hexdumpBytes,
  hexdumpWidth
} from "./chunk-ODFIKAPB.js";
import {
  AtomicFile,
  outputError
} from "./chunk-XWEEP4RX.js";
import {
  parentOption,
  parseAddress,
  parseNumber,
  parsePid
} from "./chunk-XLDVULSI.js";
import "./chunk-524M245C.js";
import {
  openTarget
} from "./chunk-GSAO6ZCS.js";
import {
  PAGE_SIZE,
  formatBytes,
  hex
} from "./chunk-NB7SHFDT.js";
import "./chunk-IJRLALQZ.js";
import "./chunk-5LGPV2OV.js";
import "./chunk-5F5SDADC.js";
import {
  writeStdout
} from "./chunk-KQHSUXQF.js";
import {
  MemoryAccessError,
  PagestackError,
  StackError,
  UsageError
} from "./chunk-XLWXTOJZ.js";

// src/cli/read.ts
import { statSync } from "node:fs";

// src/stack/readable.ts
function probe(m, a, n) {
  try {
    m.planRead(a, n, {}, [], 0);
    return null;
  } catch (e) {
    if (e instanceof MemoryAccessError) return e.address;
    throw e;
  }
}
function firstUnreadable(mem, addr, len) {
  const end = addr + len;
  if (len === 0) return null;
  if (mem.vmas.length === 0) return probe(mem.private, addr, len);
  let cur = addr;
  while (cur < end) {
    const v = mem.vmaAt(cur);
    if (!v) return cur;
    const stop = Math.min(end, v.end);
    const shm = mem.shared.get(v);
    if (shm) {
      const objOff = cur - v.start + v.pgoff;
      const bad = probe(shm, objOff, stop - cur);
      if (bad !== null) return bad - objOff + cur;
    } else {
      const bad = probe(mem.private, cur, stop - cur);
      if (bad !== null) return bad;
    }
    cur = stop;
  }
  return null;
}
async function assertReadable(mem, addr, len, where) {
  const bad = firstUnreadable(mem, addr, len);
  if (bad === null) return;
  try {
    await mem.read(bad, 1);
  } catch (e) {
    if (e instanceof MemoryAccessError) {
      throw new MemoryAccessError(e.reason, e.address, `${where}: ${e.message}`, { ...e.data, layer: where });
    }
    throw e;
  }
  throw new MemoryAccessError("not-dumped", bad, `${where}: ${hex(bad)}: cannot be read`, { layer: where });
}

// src/cli/read.ts
var READ_CHUNK = 1 << 20;
var MAX_END = Number.MAX_SAFE_INTEGER;
var MAX_READ_LEN = MAX_RAW_SPAN;
var MAX_HEXDUMP_LEN = 256 << 20;
function registerRead(program) {
  program.command("read").description("read process memory through the stack: a hexdump (as xxd) or raw bytes").argument("<dir>", "image directory or checkpoint archive (the top layer of a stack)").addOption(parentOption()).argument("<addr>", "virtual address (0x... or decimal)").argument("<len>", "number of bytes (0x... or decimal, K/M/G suffixes allowed)").option("--pid <pid>", "process (needed when the images hold several)").option("--raw", "write the raw bytes to stdout instead of a hexdump").option(
    "-o, --output <file>",
    "write the raw bytes to this file (written beside it, then renamed; sparse: zero pages are holes); - is stdout"
  ).option("--zero", "read memory the images do not hold (not dumped, lazy, unmapped) as zeros").action(async (dir, addrText, lenText, opts) => {
    refuseKernelAddress(dir, addrText);
    const addr = parseAddress(addrText, "ADDR");
    const len = parseNumber(lenText, "LEN", true);
    if (addr + len > MAX_END)
      throw new UsageError(`ADDR + LEN is beyond 2^53, which pagestack cannot address`);
    if (opts.raw && opts.output !== void 0) {
      throw new UsageError("--raw and -o both choose raw output: give one of them");
    }
    const toStdout = opts.output === "-";
    const output = toStdout ? void 0 : opts.output;
    const raw = opts.raw === true || toStdout;
    const cap = raw || output !== void 0 ? MAX_READ_LEN : MAX_HEXDUMP_LEN;
    if (len > cap) {
      throw new UsageError(
        `LEN ${formatBytes(len)} is more than ${formatBytes(cap)}, the most read writes${raw || output !== void 0 ? "" : " as a hexdump (use --raw or -o FILE)"}; for a big span use export --format raw --start/--end (sparse)`
      );
    }
    const want = parsePid(opts.pid);
    if (output !== void 0) checkOutput(output);
    const stack = await openTarget(dir, { parent: opts.parent });
    try {
      const pid = await stack.pickPid(want);
      const mem = await stack.process(pid);
      const zero = opts.zero === true;
      if (!zero) await assertReadable(mem, addr, len, dir);
      if (output !== void 0) await readToFile(mem, addr, len, zero, output);
      else await readToStdout(mem, addr, len, zero, raw);
    } finally {
      await stack.close();
    }
  });
}
var KERNEL_HALF = 0xffff800000000000n;
function refuseKernelAddress(dir, text) {
  if (!/^(?:0x[0-9a-f]+|[0-9]+)$/i.test(text)) return;
  const a = BigInt(text);
  if (a < KERNEL_HALF) return;
  const vsyscall = a >= 0xffffffffff600000n && a < 0xffffffffff601000n;
  throw new StackError(
    `${dir}: ${text}: ${vsyscall ? "in the [vsyscall] VMA, which" : "in the kernel half of the address space, which"} CRIU never dumps (the kernel provides it at restore): the images hold no bytes there`,
    "PAGESTACK_MEMORY_NOT_DUMPED",
    { file: dir }
  );
}
function checkOutput(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
  }
  if (st?.isDirectory()) throw new UsageError(`${path}: is a directory, expected the file to write`);
}
async function readToStdout(mem, addr, len, zero, raw) {
  const width = hexdumpWidth(addr, len);
  for (let off = 0; off < len; off += READ_CHUNK) {
    const n = Math.min(READ_CHUNK, len - off);
    const bytes = await mem.read(addr + off, n, { zero });
    await writeStdout(raw ? bytes : hexdumpBytes(bytes, addr + off, width));
  }
}
async function readToFile(mem, addr, len, zero, path) {
  const out = await AtomicFile.create(path);
  try {
    for (let off = 0; off < len; off += READ_CHUNK) {
      const n = Math.min(READ_CHUNK, len - off);
      const s = addr + off;
      if (!mem.vmas.some((v) => v.start < s + n && s < v.end)) continue;
      const bytes = await mem.read(s, n, { zero });
      for (let p = 0; p < n; p += PAGE_SIZE) {
        const q = Math.min(n, p + PAGE_SIZE);
        let nonzero = false;
        for (let i = p; i < q; i++) {
          if (bytes[i] !== 0) {
            nonzero = true;
            break;
          }
        }
        if (nonzero) await out.write(bytes.subarray(p, q), q - p, off + p);
      }
    }
    await out.fh.truncate(len);
  } catch (e) {
    await out.abort();
    throw e instanceof PagestackError ? e : outputError(path, e);
  }
  await out.commit();
}
export {
  MAX_HEXDUMP_LEN,
  MAX_READ_LEN,
  READ_CHUNK,
  registerRead
};
