import {
  SortedRanges
} from "./chunk-PBZ3FNF4.js";
import {
  DEDUP_MARKER
} from "./chunk-5235KGEG.js";
import {
  commas,
  table
} from "./chunk-ODFIKAPB.js";
import {
  AtomicFile,
  cleanStale
} from "./chunk-XWEEP4RX.js";
import {
  openTarget
} from "./chunk-GSAO6ZCS.js";
import {
  DirLayerSource,
  LAZY,
  PAGE_SIZE,
  PE_LAZY,
  PE_PRESENT,
  entryOffsets,
  formatBytes,
  hex
} from "./chunk-NB7SHFDT.js";
import "./chunk-IJRLALQZ.js";
import "./chunk-5LGPV2OV.js";
import "./chunk-5F5SDADC.js";
import {
  cliStreams
} from "./chunk-KQHSUXQF.js";
import {
  StackError
} from "./chunk-XLWXTOJZ.js";

// src/ops/dedup.ts
import { constants } from "node:fs";
import { lstat, open, readdir, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
var PAGEMAP_FILE_RE = /^pagemap-(?:shmem-)?\d+\.img$/;
var PAGES_FILE_RE = /^pages-\d+\.img$/;
var TEMP_RE = /^\.(pages-\d+\.img)\.pagestack-tmp-\d+/;
var DEDUP_CHUNK = 8 << 20;
function union(a, b) {
  const out = new SortedRanges();
  let i = 0;
  let j = 0;
  while (i < a.count || j < b.count) {
    if (j >= b.count || i < a.count && a.start[i] <= b.start[j]) {
      out.push(a.start[i], a.end[i]);
      i++;
    } else {
      out.push(b.start[j], b.end[j]);
      j++;
    }
  }
  return out;
}
function layerDir(stack, index) {
  const src = stack.layers[index].source;
  if (!(src instanceof DirLayerSource)) {
    throw new StackError(
      `${src.name}: dedup works on local image directories only`,
      "PAGESTACK_UNSUPPORTED_SOURCE",
      {
        layer: src.name
      }
    );
  }
  return src.name;
}
async function planDedup(stack) {
  const dirs = stack.layers.map((l) => layerDir(stack, l.index));
  const names = /* @__PURE__ */ new Set();
  for (const l of stack.layers) for (const f of l.files) if (PAGEMAP_FILE_RE.test(f)) names.add(f);
  const byFile = /* @__PURE__ */ new Map();
  const plans = [];
  for (const file of [...names].sort()) {
    let covered = new SortedRanges();
    for (let L = 0; L < stack.layers.length; L++) {
      const cols = await stack.pagemapColumns(file, L);
      if (!cols) continue;
      const offs = entryOffsets(cols, stack.layers[L].source.name, file);
      const mine = new SortedRanges();
      const released = new SortedRanges();
      let present = 0;
      let c = 0;
      for (let i = 0; i < cols.count; i++) {
        const s = cols.vpage[i];
        const n = cols.nrPages[i];
        const f = cols.flags[i];
        if (n === 0 || !(f & (PE_PRESENT | PE_LAZY))) continue;
        mine.push(s, s + n);
        if (!(f & PE_PRESENT)) continue;
        present += n * PAGE_SIZE;
        if (L === 0) continue;
        const e = s + n;
        while (c < covered.count && covered.end[c] <= s) c++;
        for (let k = c; k < covered.count && covered.start[k] < e; k++) {
          const rs = Math.max(s, covered.start[k]);
          const re = Math.min(e, covered.end[k]);
          released.push(offs[i] + (rs - s) * PAGE_SIZE, offs[i] + (re - s) * PAGE_SIZE);
        }
      }
      if (L > 0) {
        const pagesFile = `pages-${cols.pagesId}.img`;
        if (plans.some((p) => p.layer === L && p.pagesFile === pagesFile)) {
          throw new StackError(
            `${dirs[L]}/${file}: names ${pagesFile}, which another pagemap of that layer also names; refusing to dedup`
          );
        }
        plans.push({ layer: L, pagesFile, pagemap: file, ranges: released, present });
      }
      covered = union(covered, mine);
    }
  }
  const files = [];
  for (const p of plans) {
    if (p.ranges.count === 0) continue;
    let bytes = 0;
    const released = [];
    for (let k = 0; k < p.ranges.count; k++) {
      released.push([p.ranges.start[k], p.ranges.end[k]]);
      bytes += p.ranges.end[k] - p.ranges.start[k];
    }
    const plan = {
      layer: p.layer,
      dir: dirs[p.layer],
      pagesFile: p.pagesFile,
      pagemap: p.pagemap,
      released,
      releasedBytes: bytes,
      presentBytes: p.present
    };
    files.push(plan);
    byFile.set(`${p.layer}\0${p.pagesFile}`, { plan, ranges: p.ranges });
  }
  files.sort((x, y) => x.layer - y.layer || (x.pagesFile < y.pagesFile ? -1 : 1));
  for (const file of [...names].sort()) {
    if (!stack.top.files.includes(file)) continue;
    const r = await stack.resolve(file);
    const x = r.extents;
    for (let i = 0; i < x.count; i++) {
      const L = x.layer[i];
      if (L === LAZY || L === 0) continue;
      const cols = await stack.pagemapColumns(file, L);
      const entry = byFile.get(`${L}\0pages-${cols.pagesId}.img`);
      if (!entry) continue;
      const s = x.offset[i];
      const e = s + (x.end[i] - x.start[i]) * PAGE_SIZE;
      const rs = entry.ranges;
      for (let k = 0; k < rs.count; k++) {
        if (rs.start[k] < e && s < rs.end[k]) {
          throw new StackError(
            `internal error: ${dirs[L]}/pages-${cols.pagesId}.img: offset ${Math.max(s, rs.start[k])} (the page of ${hex(x.start[i] * PAGE_SIZE)} in ${file}) is reachable from the top but was planned for release`,
            "PAGESTACK_ERROR"
          );
        }
      }
    }
  }
  return { dirs, files, releasedBytes: files.reduce((a, f) => a + f.releasedBytes, 0) };
}
async function allocatedOf(dir, files) {
  let total = 0;
  for (const f of files) {
    try {
      total += (await stat(join(dir, f))).blocks * 512;
    } catch {
    }
  }
  return total;
}
async function pagesFilesOf(dir) {
  return (await readdir(dir)).filter((f) => PAGES_FILE_RE.test(f)).sort();
}
async function removeStaleTemps(dir) {
  const removed = [];
  const targets = /* @__PURE__ */ new Set();
  for (const f of await readdir(dir)) {
    const m = TEMP_RE.exec(f);
    if (m) targets.add(m[1]);
  }
  for (const t of [...targets].sort()) {
    for (const n of await cleanStale(join(dir, t))) removed.push(join(dir, n));
  }
  return removed;
}
async function readFully(fh, buf, len, pos, what) {
  let done = 0;
  while (done < len) {
    const { bytesRead } = await fh.read(buf, done, len - done, pos + done);
    if (bytesRead === 0)
      throw new StackError(
        `${what}: offset ${pos + done}: unexpected end of file`,
        "PAGESTACK_PAGES_FILE_SHORT",
        { file: what, offset: pos + done }
      );
    done += bytesRead;
  }
}
function isZero(b, len) {
  const words = len >>> 3;
  if ((b.byteOffset & 7) === 0) {
    const w = new BigUint64Array(b.buffer, b.byteOffset, words);
    for (let i = 0; i < words; i++) if (w[i] !== 0n) return false;
  } else {
    for (let i = 0; i < words << 3; i++) if (b[i] !== 0) return false;
  }
  for (let i = words << 3; i < len; i++) if (b[i] !== 0) return false;
  return true;
}
async function rangesAreZero(fh, ranges, buf, what) {
  for (const [s, e] of ranges) {
    for (let p = s; p < e; p += buf.length) {
      const n = Math.min(buf.length, e - p);
      await readFully(fh, buf, n, p, what);
      if (!isZero(buf, n)) return false;
    }
  }
  return true;
}
async function dedupFile(plan, opts, buf) {
  const path = join(plan.dir, plan.pagesFile);
  let src;
  try {
    src = await open(path, constants.O_RDONLY);
  } catch (e) {
    throw new StackError(
      `${path}: ${e.code === "ENOENT" ? "missing" : e.message}, but ${plan.pagemap} has ${plan.presentBytes / PAGE_SIZE} pages in it`,
      "PAGESTACK_DEDUP_DAMAGED",
      { file: path }
    );
  }
  try {
    const st = await src.stat();
    if (!st.isFile())
      throw new StackError(`${path}: not a regular file`, "PAGESTACK_DEDUP_DAMAGED", { file: path });
    if (st.size < plan.presentBytes) {
      throw new StackError(
        `${path}: ${st.size} bytes, but ${plan.pagemap} needs ${plan.presentBytes}; refusing to dedup a damaged layer`,
        "PAGESTACK_DEDUP_DAMAGED",
        { file: path }
      );
    }
    const before = st.blocks * 512;
    const base = {
      layer: plan.layer,
      dir: plan.dir,
      pagesFile: plan.pagesFile,
      size: st.size,
      releasedBytes: plan.releasedBytes,
      allocatedBefore: before,
      hardLinked: st.nlink > 1
    };
    const kept = st.size - plan.releasedBytes;
    const slack = 64 * 1024 + PAGE_SIZE * Math.ceil(plan.released.length / 256);
    if (before <= kept + slack && await rangesAreZero(src, plan.released, buf, path)) {
      return { ...base, allocatedAfter: before, rewritten: false, alreadyDone: true };
    }
    if (opts.dryRun) return { ...base, allocatedAfter: before, rewritten: false, alreadyDone: false };
    const mode = st.mode & 4095;
    const dst = await AtomicFile.create(path, { mode });
    try {
      let pos = 0;
      const copy = async (end) => {
        while (pos < end) {
          const n = Math.min(buf.length, end - pos);
          await readFully(src, buf, n, pos, path);
          await dst.write(buf, n, pos);
          pos += n;
        }
      };
      for (const [s, e] of plan.released) {
        await copy(s);
        pos = e;
      }
      await copy(st.size);
      await dst.fh.truncate(st.size);
      await dst.fh.chmod(mode);
      try {
        await dst.fh.chown(st.uid, st.gid);
      } catch {
      }
    } catch (e) {
      await dst.abort();
      throw e;
    }
    await dst.commit(() => opts.hook?.("temp-written", plan));
    await opts.hook?.("renamed", plan);
    const after = (await stat(path)).blocks * 512;
    return { ...base, allocatedAfter: after, rewritten: true, alreadyDone: false };
  } finally {
    await src.close();
  }
}
async function otherChildren(stack) {
  const inStack = new Set(stack.layers.map((l) => l.source.id));
  const ancestors = new Map(stack.layers.slice(1).map((l) => [l.source.id, l.source.name]));
  const places = /* @__PURE__ */ new Set();
  for (const l of stack.layers) {
    places.add(dirname(l.source.name));
    places.add(l.source.name);
  }
  const found = [];
  const seen = /* @__PURE__ */ new Set();
  const check = async (dir) => {
    try {
      const st = await lstat(join(dir, "parent"));
      if (!st.isSymbolicLink() && !st.isFile()) return;
      const src = await DirLayerSource.open(dir);
      if (inStack.has(src.id) || seen.has(src.id)) return;
      const parent = await src.parent();
      const anc = parent ? ancestors.get(parent.id) : void 0;
      if (anc !== void 0) {
        seen.add(src.id);
        found.push({ child: dir, ancestor: anc });
      }
    } catch {
    }
  };
  for (const place of places) {
    let names;
    try {
      names = await readdir(place);
    } catch {
      continue;
    }
    for (const n of names.sort()) await check(join(place, n));
  }
  return found;
}
async function dedupStack(stack, opts = {}) {
  const plan = await planDedup(stack);
  for (const f of plan.files) {
    const path = join(f.dir, f.pagesFile);
    let st;
    try {
      st = await lstat(path);
    } catch {
      throw new StackError(
        `${path}: missing, but ${f.dir}/${f.pagemap} has ${f.presentBytes / PAGE_SIZE} pages in it`,
        "PAGESTACK_DEDUP_DAMAGED",
        { file: path }
      );
    }
    if (!st.isFile()) {
      throw new StackError(
        `${path}: ${st.isSymbolicLink() ? "a symlink" : "not a regular file"}; dedup replaces pages files and will not replace ${st.isSymbolicLink() ? "a link" : "it"}`,
        "PAGESTACK_DEDUP_DAMAGED",
        { file: path }
      );
    }
  }
  const branches = plan.files.length > 0 ? await otherChildren(stack) : [];
  if (branches.length > 0 && !opts.force && !opts.dryRun) {
    const b = branches[0];
    throw new StackError(
      `${b.child}: is also a child of ${b.ancestor} (a branch beside this stack); deduplicating for ${plan.dirs[0]} could release pages it needs`,
      "PAGESTACK_DEDUP_BRANCH",
      { file: b.child, layer: b.ancestor }
    );
  }
  const removedTemps = [];
  if (!opts.dryRun) {
    for (let L = 1; L < plan.dirs.length; L++) removedTemps.push(...await removeStaleTemps(plan.dirs[L]));
  }
  const buf = new Uint8Array(opts.chunkSize ?? DEDUP_CHUNK);
  const layers = [];
  let freed = 0;
  for (let L = 1; L < plan.dirs.length; L++) {
    const dir = plan.dirs[L];
    const pagesFiles = await pagesFilesOf(dir);
    const allocatedBefore = await allocatedOf(dir, pagesFiles);
    const files = [];
    for (const f of plan.files) {
      if (f.layer !== L) continue;
      const r = await dedupFile(f, opts, buf);
      files.push(r);
      opts.onFile?.(r);
    }
    if (!opts.dryRun && files.some((f) => f.rewritten || f.alreadyDone)) {
      await writeFile(join(dir, DEDUP_MARKER), `${stack.layers[L - 1].source.id}
`);
    }
    const allocatedAfter = opts.dryRun ? allocatedBefore : await allocatedOf(dir, pagesFiles);
    freed += allocatedBefore - allocatedAfter;
    layers.push({ index: L, dir, allocatedBefore, allocatedAfter, files });
  }
  return {
    top: plan.dirs[0],
    layers,
    releasedBytes: plan.releasedBytes,
    freedBytes: freed,
    dryRun: opts.dryRun === true,
    removedTemps,
    branches
  };
}

// src/cli/dedup.ts
function bytesText(n) {
  return n < 1024 ? `${commas(n)} bytes` : `${commas(n)} bytes (${formatBytes(n)})`;
}
function fileLine(r, dryRun) {
  const where = `${r.dir}/${r.pagesFile}`;
  const pages = r.releasedBytes / PAGE_SIZE;
  if (r.alreadyDone) return `${where}: already deduplicated (${pages} pages released)`;
  if (dryRun) return `${where}: would release ${pages} pages, ${bytesText(r.releasedBytes)}`;
  let line = `${where}: released ${pages} pages, ${bytesText(r.releasedBytes)}`;
  if (r.hardLinked) line += " (the file had other hard links: they keep the old data)";
  return line;
}
function registerDedup(program) {
  program.command("dedup").description(
    "release the pages of ancestor layers that newer layers rewrote (as `criu dedup`); sizes and pagemaps stay, released pages read as zeros"
  ).argument("<top>", "top image directory of the stack").option("-n, --dry-run", "show what would be released, change nothing").option("--force", "go on even when another directory is also a child of an ancestor (a branch)").action(async (top, opts) => {
    const dryRun = opts.dryRun === true;
    const stack = await openTarget(top);
    let result;
    try {
      result = await dedupStack(stack, {
        dryRun,
        force: opts.force === true,
        onFile: (r) => cliStreams().stdout(`${fileLine(r, dryRun)}
`)
      });
    } finally {
      await stack.close();
    }
    const out = [];
    for (const t of result.removedTemps) out.push(`removed ${t} (left by an interrupted run)`);
    for (const b of result.branches) {
      out.push(
        `warning: ${b.child} is also a child of ${b.ancestor}: deduplicating for ${result.top} may release pages it needs${dryRun ? " (a real run refuses without --force)" : ""}`
      );
    }
    if (result.layers.length === 0) {
      out.push(`${result.top}: no parent layer: nothing to deduplicate`);
      cliStreams().stdout(`${out.join("\n")}
`);
      return;
    }
    const pending = (fs) => fs.reduce((a, f) => a + (f.alreadyDone ? 0 : f.releasedBytes), 0);
    const rows = [];
    if (dryRun) {
      rows.push(["layer", "directory", "would release"]);
      for (const l of result.layers) rows.push([`${l.index}`, l.dir, bytesText(pending(l.files))]);
      rows.push(["", "total", bytesText(result.layers.reduce((a, l) => a + pending(l.files), 0))]);
    } else {
      rows.push(["layer", "directory", "allocated before", "after", "freed"]);
      for (const l of result.layers) {
        rows.push([
          // the index show, inspect and --keep-below use: 0 = the top, 1 = its parent, ...
          `${l.index}`,
          l.dir,
          commas(l.allocatedBefore),
          commas(l.allocatedAfter),
          bytesText(l.allocatedBefore - l.allocatedAfter)
        ]);
      }
      rows.push(["", "total", "", "", bytesText(result.freedBytes)]);
    }
    out.push(table(rows, ["r", "l", "r", "r", "r"]));
    if (dryRun) out.push("dry run: nothing changed");
    else if (result.releasedBytes > 0) {
      const ancestors = result.layers.map((l) => l.dir).join(", ");
      out.push(
        `note: the deduplicated ancestors (${ancestors}) are valid only under their children: read or restore them through ${result.top}; on their own, or under a branch dedup could not see (outside these directories), released pages read as zeros, and verify of such a branch fails`
      );
    }
    cliStreams().stdout(`${out.join("\n")}
`);
  });
}
export {
  registerDedup
};
