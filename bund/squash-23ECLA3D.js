import {
  flattenAll,
  pagemapFiles,
  pushRead,
  runReads
} from "./chunk-MUQNI4KT.js";
import {
  IO_CHUNK,
  LayerWriter,
  PagemapEntries
} from "./chunk-5235KGEG.js";
import {
  commas
} from "./chunk-ODFIKAPB.js";
import "./chunk-XWEEP4RX.js";
import {
  parentOption
} from "./chunk-XLDVULSI.js";
import "./chunk-524M245C.js";
import {
  openTarget
} from "./chunk-GSAO6ZCS.js";
import {
  PAGE_SIZE,
  PE_PARENT,
  formatBytes
} from "./chunk-NB7SHFDT.js";
import {
  Archive,
  ArchiveLayerSource,
  compressionForName,
  writeArchiveLike
} from "./chunk-IJRLALQZ.js";
import "./chunk-5LGPV2OV.js";
import "./chunk-5F5SDADC.js";
import {
  cliStreams,
  linkTarget
} from "./chunk-KQHSUXQF.js";
import {
  StackError,
  UsageError
} from "./chunk-XLWXTOJZ.js";

// src/cli/squash.ts
import { existsSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

// src/ops/squash.ts
import { realpath } from "node:fs/promises";
async function copyPresent(flat, out, chunk) {
  const chunkPages = Math.max(1, Math.floor(chunk / PAGE_SIZE));
  function* plan() {
    let ops = [];
    let fill = 0;
    for (let r = 0; r < flat.count; r++) {
      const l = flat.layer[r];
      if (l < 0) continue;
      const file = flat.files[l];
      let done = 0;
      const n = flat.nrPages[r];
      while (done < n) {
        const take = Math.min(n - done, chunkPages - fill);
        pushRead(ops, file, flat.offset[r] + done * PAGE_SIZE, take * PAGE_SIZE, fill * PAGE_SIZE);
        fill += take;
        done += take;
        if (fill === chunkPages) {
          yield { ops, len: fill * PAGE_SIZE };
          ops = [];
          fill = 0;
        }
      }
    }
    if (fill > 0) yield { ops, len: fill * PAGE_SIZE };
  }
  const bufs = [Buffer.allocUnsafe(chunkPages * PAGE_SIZE), Buffer.allocUnsafe(chunkPages * PAGE_SIZE)];
  const what = `${flat.file}`;
  const it = plan();
  let turn = 0;
  const start = (c) => {
    if (c.done) return null;
    const buf = bufs[turn];
    turn ^= 1;
    return { buf, len: c.value.len, done: runReads(c.value.ops, buf, what) };
  };
  let cur = start(it.next());
  let next = null;
  try {
    while (cur) {
      next = start(it.next());
      await cur.done;
      await out.append(cur.buf, 0, cur.len);
      cur = next;
    }
  } catch (e) {
    await next?.done.catch(() => void 0);
    throw e;
  }
}
async function keepBelowIndex(stack, spec) {
  const n = stack.layers.length;
  const checkIndex = (k) => {
    if (k < 1 || k >= n) {
      throw new StackError(
        `layer ${spec}: the stack of ${stack.top.source.name} has layers 0 (top) to ${n - 1}; choose one from 1 to ${n - 1}`,
        "PAGESTACK_LAYER_OUT_OF_RANGE",
        { spec: String(spec), layer: stack.top.source.name }
      );
    }
    return k;
  };
  if (typeof spec === "number") return checkIndex(spec);
  let real = null;
  try {
    real = await realpath(spec);
  } catch {
    real = null;
  }
  if (real !== null) {
    const k = stack.layers.findIndex((l) => l.source.id === real);
    if (k >= 0) return checkIndex(k);
    if (!/^\d+$/.test(spec)) {
      throw new StackError(
        `layer ${spec}: not a layer of the stack of ${stack.top.source.name} (its layers: ${stack.layers.map((l) => l.source.name).join(", ")})`,
        "PAGESTACK_NOT_A_LAYER",
        { spec, layer: stack.top.source.name }
      );
    }
  }
  if (/^\d+$/.test(spec)) return checkIndex(Number(spec));
  throw new StackError(`layer ${spec}: no such directory, and not a layer index`, "PAGESTACK_NOT_A_LAYER", {
    spec
  });
}
async function squash(stack, opts) {
  const chunk = opts.chunkBytes ?? IO_CHUNK;
  const n = stack.layers.length;
  const k = opts.keepBelow === void 0 ? n : await keepBelowIndex(stack, opts.keepBelow);
  const pagemaps = pagemapFiles(stack.top.files);
  const { flats, pagesNames } = await flattenAll(stack, pagemaps, k < n ? k : void 0);
  const result = {
    out: opts.out,
    layers: n,
    merged: Math.min(k, n),
    parent: null,
    pagemaps: flats.length,
    entries: 0,
    presentPages: 0,
    parentPages: 0,
    lazyPages: 0,
    pulledUpPages: 0,
    bytesWritten: 0
  };
  const w = await LayerWriter.begin(opts.out, { inputs: stack.layers.map((l) => l.source) });
  try {
    for (const flat of flats) {
      const entries = new PagemapEntries();
      for (let r = 0; r < flat.count; r++) {
        const np = flat.nrPages[r];
        const f = flat.flags[r];
        entries.push(flat.entry[r], flat.vpage[r], np, f);
        if (flat.layer[r] >= 0) {
          result.presentPages += np;
          if (flat.layer[r] > 0) result.pulledUpPages += np;
        } else if (f === PE_PARENT) result.parentPages += np;
        else result.lazyPages += np;
      }
      const pages = await w.createPages(`pages-${flat.pagesId}.img`, chunk);
      await copyPresent(flat, pages, chunk);
      result.bytesWritten += pages.size;
      await pages.close();
      await w.writePagemap(flat.file, flat.pagesId, entries);
      result.entries += entries.count;
    }
    const rest = stack.top.files.filter((f) => f !== "parent" && !pagemaps.includes(f) && !pagesNames.has(f));
    await w.copyLayerFiles(stack.top.source, rest);
    if (k < n) {
      const below = stack.layers[k].source;
      if (below instanceof ArchiveLayerSource && below.dir !== below.archive.imageDir) {
        throw new StackError(
          `${below.name}: a layer inside an archive below its top cannot be linked to; squash it all, or keep a layer outside the archive`,
          "PAGESTACK_UNSUPPORTED_SOURCE",
          { layer: below.name }
        );
      }
      result.parent = await linkTarget(
        opts.out,
        below instanceof ArchiveLayerSource ? below.archive.path : below.name
      );
      await w.symlink("parent", result.parent);
    }
    await w.commit();
  } catch (e) {
    await w.abort();
    throw e;
  }
  return result;
}

// src/cli/squash.ts
function registerSquash(program) {
  program.command("squash").description("write one self-contained image directory holding the memory of TOP's stack").argument("<top>", "top layer of the stack (image directory or checkpoint archive)").addOption(parentOption("--parent", "TOP")).requiredOption("-o, --output <out>", "write the result to this directory (must not exist)").option(
    "--keep-below <layer>",
    "merge only the layers above LAYER (a directory of the stack, or an index: 0 = TOP, 1 = its parent, ...) and keep LAYER as the parent"
  ).option("--like <archive>", "write OUT as a checkpoint archive with the metadata members of ARCHIVE").action(async (top, opts) => {
    const archiveName = ARCHIVE_NAME_RE.exec(basename(opts.output));
    if (opts.like === void 0 && archiveName) {
      throw new UsageError(
        `${opts.output}: an archive name, but squash writes an image directory; to write a checkpoint archive give --like ARCHIVE (whose metadata members it takes)`
      );
    }
    if (opts.like !== void 0) {
      if (!archiveName || !WRITABLE_RE.test(opts.output)) {
        throw new UsageError(
          `${opts.output}: squash --like writes .tar, .tar.gz (.tgz) or .tar.zst archives${archiveName ? `, not ${archiveName[0]}` : ""}`
        );
      }
      checkLike(opts.like);
      if (opts.keepBelow !== void 0)
        throw new UsageError("--like writes a self-contained archive: no --keep-below");
      await squashLike(top, opts.output, opts.like, opts.parent);
      return;
    }
    if (opts.keepBelow !== void 0 && /^-\d+$/.test(opts.keepBelow)) {
      throw new UsageError(
        `--keep-below ${opts.keepBelow}: expected a layer index >= 1 (0 = TOP, 1 = its parent, ...) or a layer directory`
      );
    }
    const stack = await openTarget(top, { parent: opts.parent });
    let r;
    try {
      r = await squash(
        stack,
        opts.keepBelow === void 0 ? { out: opts.output } : { out: opts.output, keepBelow: opts.keepBelow }
      );
    } finally {
      await stack.close();
    }
    cliStreams().stdout(
      `${r.out}: ${r.merged} of ${r.layers} layers merged; ${commas(r.presentPages)} pages present (${commas(r.pulledUpPages)} from lower layers)${r.parentPages > 0 ? `, ${commas(r.parentPages)} in the parent` : ""}${r.lazyPages > 0 ? `, ${commas(r.lazyPages)} lazy` : ""}; ${formatBytes(r.bytesWritten)} of pages; ${r.parent === null ? "no parent" : `parent -> ${r.parent}`}
`
    );
  });
}
var ARCHIVE_NAME_RE = /\.(?:tar(?:\.[a-z0-9]+)?|tgz|tbz2?|txz|tzst)$/i;
var WRITABLE_RE = /\.(?:tar|tar\.gz|tgz|tar\.zst)$/i;
function checkLike(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new UsageError(
      `--like ${path}: no such file; expected a checkpoint archive (.tar, .tar.gz, .tar.zst)`
    );
  }
  if (!st.isFile()) {
    throw new UsageError(
      `--like ${path}: ${st.isDirectory() ? "a directory" : "not a regular file"}; expected a checkpoint archive file (.tar, .tar.gz, .tar.zst)`
    );
  }
}
async function squashLike(top, out, likePath, parent) {
  if (existsSync(out)) throw new UsageError(`${out}: already exists; squash writes a new archive`);
  const like = await Archive.open(likePath);
  const tmp = await mkdtemp(join(dirname(out), `.${basename(out)}.squash-`));
  try {
    const images = join(tmp, "images");
    const stack = await openTarget(top, { parent });
    let r;
    try {
      r = await squash(stack, { out: images });
    } finally {
      await stack.close();
    }
    const w = await writeArchiveLike(out, like, images, compressionForName(out));
    cliStreams().stdout(
      `${w.out}: ${r.merged} of ${r.layers} layers merged; ${commas(r.presentPages)} pages present; ${w.members} members like ${likePath} (${compressionForName(out)}), ${formatBytes(w.bytes)}
`
    );
  } finally {
    like.release();
    await rm(tmp, { recursive: true, force: true });
  }
}
export {
  registerSquash
};
