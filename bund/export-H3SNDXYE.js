import {
  MAX_RAW_SPAN,
  copyInto,
  copyOpsFor,
  exportRaw,
  noProgress,
  planRuns,
  textProgressBar
} from "./chunk-MTLIFH6I.js";
import {
  outputError,
  writeAt,
  writeOutput
} from "./chunk-XWEEP4RX.js";
import {
  parentOption,
  parseAddress,
  parsePid
} from "./chunk-XLDVULSI.js";
import "./chunk-524M245C.js";
import {
  openTarget
} from "./chunk-GSAO6ZCS.js";
import {
  PAGE_SIZE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  VMA_ANON_SHARED,
  VMA_FILE_BACKED,
  coreView,
  fileNames,
  formatBytes,
  hex,
  int32,
  mmView,
  uint64
} from "./chunk-NB7SHFDT.js";
import "./chunk-IJRLALQZ.js";
import "./chunk-5LGPV2OV.js";
import {
  USER_X86_REGS
} from "./chunk-5F5SDADC.js";
import {
  cliStreams,
  writeStdout
} from "./chunk-KQHSUXQF.js";
import {
  ExportError,
  MemoryAccessError,
  UsageError
} from "./chunk-XLWXTOJZ.js";

// src/cli/export.ts
import { realpathSync, statSync } from "node:fs";
import { basename as basename2, dirname, resolve } from "node:path";

// src/ops/export-elf.ts
import { basename } from "node:path";
var EHDR_SIZE = 64;
var PHDR_SIZE = 56;
var SHDR_SIZE = 64;
var ET_CORE = 4;
var EM_X86_64 = 62;
var PT_LOAD = 1;
var PT_NOTE = 4;
var PF_X = 1;
var PF_W = 2;
var PF_R = 4;
var PN_XNUM = 65535;
var NT_PRSTATUS = 1;
var NT_FPREGSET = 2;
var NT_PRPSINFO = 3;
var NT_AUXV = 6;
var NT_FILE = 1179208773;
var PRSTATUS_SIZE = 336;
var PRSTATUS_REGS = 112;
var PRPSINFO_SIZE = 136;
var FPREGSET_SIZE = 512;
var ELF_PRARGSZ = 80;
var utf8 = new TextEncoder();
var Notes = class {
  parts = [];
  kinds = [];
  size = 0;
  add(type, kind, desc, owner = "CORE") {
    const name = utf8.encode(owner);
    const nameSz = name.length + 1;
    const namePad = nameSz + 3 & ~3;
    const descPad = desc.length + 3 & ~3;
    const buf = new Uint8Array(12 + namePad + descPad);
    const dv = new DataView(buf.buffer);
    dv.setUint32(0, nameSz, true);
    dv.setUint32(4, desc.length, true);
    dv.setUint32(8, type, true);
    buf.set(name, 12);
    buf.set(desc, 12 + namePad);
    this.parts.push(buf);
    this.kinds.push(kind);
    this.size += buf.length;
  }
};
function prstatus(tid, proc, core, fpvalid) {
  const buf = new Uint8Array(PRSTATUS_SIZE);
  const dv = new DataView(buf.buffer);
  dv.setBigUint64(24, core.blkSigset, true);
  dv.setInt32(32, tid, true);
  dv.setInt32(36, proc.ppid, true);
  dv.setInt32(40, proc.pgid, true);
  dv.setInt32(44, proc.sid, true);
  const regs = core.gpregs;
  if (regs) {
    for (let i = 0; i < USER_X86_REGS.length; i++) {
      dv.setBigUint64(PRSTATUS_REGS + i * 8, uint64(regs[USER_X86_REGS[i]]), true);
    }
  }
  dv.setInt32(PRSTATUS_REGS + USER_X86_REGS.length * 8, fpvalid ? 1 : 0, true);
  return buf;
}
function fpregset(fp) {
  const buf = new Uint8Array(FPREGSET_SIZE);
  const dv = new DataView(buf.buffer);
  dv.setUint16(0, int32(fp["cwd"]) & 65535, true);
  dv.setUint16(2, int32(fp["swd"]) & 65535, true);
  dv.setUint16(4, int32(fp["twd"]) & 65535, true);
  dv.setUint16(6, int32(fp["fop"]) & 65535, true);
  dv.setBigUint64(8, uint64(fp["rip"]), true);
  dv.setBigUint64(16, uint64(fp["rdp"]), true);
  dv.setUint32(24, int32(fp["mxcsr"]) >>> 0, true);
  dv.setUint32(28, int32(fp["mxcsr_mask"]) >>> 0, true);
  const words = (at, max, v) => {
    const a = v ?? [];
    for (let i = 0; i < Math.min(max, a.length); i++) dv.setUint32(at + i * 4, int32(a[i]) >>> 0, true);
  };
  words(32, 32, fp["st_space"]);
  words(160, 64, fp["xmm_space"]);
  words(416, 24, fp["padding"]);
  return buf;
}
function prState(taskState) {
  if (taskState === 2) return 4;
  if (taskState === 3) return 3;
  return 0;
}
function cString(buf, at, max, s) {
  const b = typeof s === "string" ? utf8.encode(s) : s;
  buf.set(b.subarray(0, max - 1), at);
}
function prpsinfo(proc, core, psargs) {
  const buf = new Uint8Array(PRPSINFO_SIZE);
  const dv = new DataView(buf.buffer);
  const state = prState(core.taskState);
  buf[0] = state;
  buf[1] = "RSDTZW".charCodeAt(state);
  buf[2] = state === 4 ? 1 : 0;
  dv.setInt8(3, Math.max(-128, Math.min(127, core.schedNice)));
  dv.setBigUint64(8, core.flags, true);
  dv.setUint32(16, core.uid, true);
  dv.setUint32(20, core.gid, true);
  dv.setInt32(24, proc.pid, true);
  dv.setInt32(28, proc.ppid, true);
  dv.setInt32(32, proc.pgid, true);
  dv.setInt32(36, proc.sid, true);
  cString(buf, 40, 16, core.comm ?? "");
  cString(buf, 56, ELF_PRARGSZ, psargs);
  return buf;
}
function auxv(saved) {
  const vals = [...saved];
  if (vals.length % 2 === 1) vals.pop();
  let n = 0;
  while (n < vals.length && vals[n] !== 0n) n += 2;
  vals.length = n;
  vals.push(0n, 0n);
  const buf = new Uint8Array(vals.length * 8);
  const dv = new DataView(buf.buffer);
  for (let i = 0; i < vals.length; i++) dv.setBigUint64(i * 8, vals[i], true);
  return buf;
}
function ntFile(files) {
  const names = files.map((f) => utf8.encode(f.name));
  const nameBytes = names.reduce((a, b) => a + b.length + 1, 0);
  const buf = new Uint8Array(16 + files.length * 24 + nameBytes);
  const dv = new DataView(buf.buffer);
  dv.setBigUint64(0, BigInt(files.length), true);
  dv.setBigUint64(8, BigInt(PAGE_SIZE), true);
  let at = 16;
  for (const f of files) {
    dv.setBigUint64(at, BigInt(f.start), true);
    dv.setBigUint64(at + 8, BigInt(f.end), true);
    dv.setBigUint64(at + 16, BigInt(f.pgoff), true);
    at += 24;
  }
  for (const n of names) {
    buf.set(n, at);
    at += n.length + 1;
  }
  return buf;
}
function mappedFiles(vmas, names) {
  const out = [];
  for (const v of vmas) {
    let name;
    if (v.status & VMA_FILE_BACKED) {
      name = names.get(v.shmid) ?? (v.fd >= 0 ? names.get(v.fd) : void 0);
    } else if (v.status & VMA_ANON_SHARED) {
      name = "/dev/zero (deleted)";
    }
    if (name !== void 0)
      out.push({ start: v.start, end: v.end, pgoff: Math.floor(v.pgoff / PAGE_SIZE), name });
  }
  return out;
}
async function readPsargs(pm, mm) {
  if (!mm) return null;
  const start = Number(mm.argStart);
  const end = Number(mm.argEnd);
  if (!(end > start) || !Number.isSafeInteger(end)) return null;
  const len = Math.min(end - start, ELF_PRARGSZ - 1);
  let b;
  try {
    b = await pm.read(start, len);
  } catch (e) {
    if (e instanceof MemoryAccessError) return null;
    throw e;
  }
  for (let i = 0; i < b.length; i++) if (b[i] === 0) b[i] = 32;
  let n = b.length;
  while (n > 0 && b[n - 1] === 32) n--;
  return b.subarray(0, n);
}
function protFlags(prot) {
  return (prot & PROT_READ ? PF_R : 0) | (prot & PROT_WRITE ? PF_W : 0) | (prot & PROT_EXEC ? PF_X : 0);
}
async function exportElf(stack, dest, opts = {}) {
  const t0 = performance.now();
  const pid = await stack.pickPid(opts.pid);
  const proc = (await stack.processes()).find((p2) => p2.pid === pid);
  const pm = await stack.process(pid);
  const window = {};
  if (opts.start !== void 0) window.start = Math.floor(opts.start / PAGE_SIZE) * PAGE_SIZE;
  if (opts.end !== void 0) window.end = Math.ceil(opts.end / PAGE_SIZE) * PAGE_SIZE;
  const plan = planRuns(pm, window);
  const tids = proc.threads.length > 0 ? [...proc.threads] : [pid];
  const mainAt = tids.indexOf(pid);
  if (mainAt > 0) tids.unshift(...tids.splice(mainAt, 1));
  const threads = [];
  for (const tid of tids) {
    const img = await stack.image(`core-${tid}.img`);
    const entry = img?.entries[0];
    if (!entry) {
      throw new ExportError(
        `${stack.top.source.name}/core-${tid}.img: missing or empty, but pstree.img lists thread ${tid} of ${pid}`,
        "PAGESTACK_NO_CORE",
        { file: `${stack.top.source.name}/core-${tid}.img`, pid }
      );
    }
    const core = coreView(entry);
    const mtype = core.mtype;
    if (mtype !== 1 || !core.threadInfo) {
      throw new ExportError(
        `${stack.top.source.name}/core-${tid}.img: machine type ${mtype}; pagestack writes ELF cores for x86_64 (1) only`,
        "PAGESTACK_UNSUPPORTED_ARCH",
        { file: `${stack.top.source.name}/core-${tid}.img`, mtype }
      );
    }
    threads.push({ tid, core });
  }
  const mmEntry = (await stack.image(`mm-${pid}.img`))?.entries[0];
  const mm = mmEntry ? mmView(mmEntry) : void 0;
  const notes = new Notes();
  for (let i = 0; i < threads.length; i++) {
    const { tid, core } = threads[i];
    const fp = core.fpregs;
    notes.add(NT_PRSTATUS, "NT_PRSTATUS", prstatus(tid, proc, core, fp !== null));
    if (i === 0) {
      const args = await readPsargs(pm, mm) ?? core.comm ?? "";
      notes.add(NT_PRPSINFO, "NT_PRPSINFO", prpsinfo(proc, core, args));
      const saved = mm?.savedAuxv ?? [];
      if (saved.length > 0) notes.add(NT_AUXV, "NT_AUXV", auxv(saved));
      const files = mappedFiles(pm.vmas, await fileNames(stack));
      if (files.length > 0) notes.add(NT_FILE, "NT_FILE", ntFile(files));
    }
    if (fp) notes.add(NT_FPREGSET, "NT_FPREGSET", fpregset(fp));
  }
  const runs = plan.runs;
  const segs = runs.length + 1;
  const extnum = segs >= PN_XNUM;
  const phOff = EHDR_SIZE;
  const shOff = phOff + segs * PHDR_SIZE;
  const noteOff = shOff + (extnum ? SHDR_SIZE : 0);
  const dataOff = runs.length > 0 ? Math.ceil((noteOff + notes.size) / PAGE_SIZE) * PAGE_SIZE : noteOff + notes.size;
  const head = new Uint8Array(dataOff);
  const dv = new DataView(head.buffer);
  head.set([127, 69, 76, 70, 2, 1, 1, 0], 0);
  dv.setUint16(16, ET_CORE, true);
  dv.setUint16(18, EM_X86_64, true);
  dv.setUint32(20, 1, true);
  dv.setBigUint64(32, BigInt(phOff), true);
  dv.setBigUint64(40, BigInt(extnum ? shOff : 0), true);
  dv.setUint16(52, EHDR_SIZE, true);
  dv.setUint16(54, PHDR_SIZE, true);
  dv.setUint16(56, extnum ? PN_XNUM : segs, true);
  dv.setUint16(58, extnum ? SHDR_SIZE : 0, true);
  dv.setUint16(60, extnum ? 1 : 0, true);
  dv.setUint16(62, 0, true);
  let p = phOff;
  dv.setUint32(p, PT_NOTE, true);
  dv.setBigUint64(p + 8, BigInt(noteOff), true);
  dv.setBigUint64(p + 32, BigInt(notes.size), true);
  dv.setBigUint64(p + 48, 4n, true);
  p += PHDR_SIZE;
  const runOut = [];
  let off = dataOff;
  for (const run of runs) {
    dv.setUint32(p, PT_LOAD, true);
    dv.setUint32(p + 4, protFlags(run.vma.prot), true);
    dv.setBigUint64(p + 8, BigInt(off), true);
    dv.setBigUint64(p + 16, BigInt(run.addr), true);
    dv.setBigUint64(p + 32, BigInt(run.length), true);
    dv.setBigUint64(p + 40, BigInt(run.length), true);
    dv.setBigUint64(p + 48, BigInt(PAGE_SIZE), true);
    runOut.push(off);
    off += run.length;
    p += PHDR_SIZE;
  }
  if (extnum) {
    dv.setUint32(shOff + 44, segs, true);
  }
  let n = noteOff;
  for (const part of notes.parts) {
    head.set(part, n);
    n += part.length;
  }
  const ops = copyOpsFor(runs, (_run, i) => runOut[i]);
  const progress = opts.progress ?? noProgress;
  progress.start(plan.bytes, basename(dest));
  try {
    await writeOutput(
      dest,
      async (out) => {
        try {
          const expect = { next: 0 };
          await writeAt(out, head, 0, head.length, 0, expect);
          await copyInto(out, ops, progress, opts.chunkSize, expect);
        } catch (e) {
          throw outputError(dest, e);
        }
      },
      { stream: opts.stream, durable: opts.sync === true }
    );
  } finally {
    progress.finish();
  }
  const counts = /* @__PURE__ */ new Map();
  for (const k of notes.kinds) counts.set(k, (counts.get(k) ?? 0) + 1);
  return {
    format: "elf",
    pid,
    output: dest,
    segments: runs.length,
    bytes: plan.bytes,
    pages: Math.ceil(plan.bytes / PAGE_SIZE),
    layersUsed: plan.layers.size,
    stackLayers: stack.layers.length,
    lazyBytes: plan.lazyBytes,
    fileSize: off,
    seconds: (performance.now() - t0) / 1e3,
    threads: threads.length,
    notes: [...counts].map(([k, c]) => c > 1 ? `${k} x${c}` : k)
  };
}

// src/cli/export.ts
function formatSummary(s) {
  const what = s.format === "elf" ? `${s.segments} segments` : `${s.segments} runs`;
  const layers = `${s.layersUsed} layer${s.layersUsed === 1 ? "" : "s"}`;
  let line = `exported pid ${s.pid}: ${what}, ${s.pages} pages (${formatBytes(s.bytes)}) from ${layers} to ${s.output}`;
  if (s.format === "elf") line += ` (ELF core, ${s.threads} thread${s.threads === 1 ? "" : "s"})`;
  else line += ` (raw, byte 0 = ${hex(s.base ?? 0)}, ${formatBytes(s.fileSize)} sparse)`;
  line += ` in ${s.seconds.toFixed(2)} s`;
  if (s.lazyBytes > 0)
    line += `; ${s.lazyBytes / PAGE_SIZE} lazy pages left out (they are with the page server)`;
  return line;
}
function checkDestination(out, stack) {
  let st;
  try {
    st = statSync(out);
  } catch {
  }
  if (st?.isDirectory()) throw new UsageError(`${out}: is a directory, expected the file to write`);
  let dir;
  try {
    dir = realpathSync(dirname(resolve(out)));
  } catch {
    throw new UsageError(`${out}: no such directory: ${dirname(out)}`);
  }
  const name = basename2(out);
  for (const layer of stack.layers) {
    if (layer.source.id === dir && layer.files.includes(name)) {
      throw new UsageError(
        `${out}: is a file of the image directory ${layer.source.name}; write the export elsewhere`
      );
    }
  }
}
function registerExport(program) {
  program.command("export").description("export a process memory as an ELF core file (for gdb) or a sparse raw file").argument("<dir>", "image directory or checkpoint archive (the top layer of a stack)").addOption(parentOption()).requiredOption(
    "-o, --output <file>",
    'the file to write (written beside it, then renamed into place); "-" for standard output (elf)'
  ).option("--pid <pid>", "process to export (needed when the images hold several)").option("--format <format>", "elf (a core file) or raw (byte k = memory at base + k)", "elf").option("--start <addr>", "export only addresses from here (raw: byte 0; default the first VMA start)").option("--end <addr>", "export only addresses below this (raw default: the last VMA end)").option(
    "--sync",
    "fsync the result before renaming it into place (by default, as cp or gcore, it is left to the page cache)"
  ).option(
    "--force",
    `raw: write even when the span is above ${formatBytes(MAX_RAW_SPAN)} (the file is sparse, but huge)`
  ).action(async (dir, opts) => {
    const format = opts.format;
    if (format !== "elf" && format !== "raw") {
      throw new UsageError(`--format: expected elf or raw, got '${format}'`);
    }
    const pid = parsePid(opts.pid);
    const start = opts.start === void 0 ? void 0 : parseAddress(opts.start, "--start");
    const end = opts.end === void 0 ? void 0 : parseAddress(opts.end, "--end");
    if (start !== void 0 && end !== void 0 && end <= start) {
      throw new UsageError(`--end ${opts.end} must be above --start ${opts.start}`);
    }
    const toStdout = opts.output === "-";
    if (toStdout && format === "raw") {
      throw new UsageError("-o -: a raw export is a sparse file with holes; name a file");
    }
    const dest = toStdout ? "<stdout>" : opts.output;
    const stack = await openTarget(dir, { parent: opts.parent });
    try {
      if (!toStdout) checkDestination(dest, stack);
      const streams = cliStreams();
      const bar = streams.progressSink?.() ?? null;
      const progress = bar ? textProgressBar(bar) : noProgress;
      const common = {
        pid,
        start,
        end,
        progress,
        stream: toStdout ? writeStdout : void 0,
        sync: opts.sync === true
      };
      const summary = format === "elf" ? await exportElf(stack, dest, common) : await exportRaw(stack, dest, { ...common, force: opts.force === true });
      const line = `${formatSummary(summary)}
`;
      if (toStdout) streams.stderr(line);
      else streams.stdout(line);
    } finally {
      await stack.close();
    }
  });
}
export {
  formatSummary,
  registerExport
};
