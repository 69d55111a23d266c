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
import {
  cleanStale
} from "./chunk-XWEEP4RX.js";
import {
  parentOption
} from "./chunk-XLDVULSI.js";
import "./chunk-524M245C.js";
import {
  openTarget
} from "./chunk-GSAO6ZCS.js";
import {
  DirLayerSource,
  PAGE_SIZE,
  PE_PARENT,
  PE_PRESENT,
  findExtent,
  formatBytes
} from "./chunk-NB7SHFDT.js";
import {
  ArchiveLayerSource
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

// src/ops/delta.ts
var BLOCK_PAGES = 16;
var READ_AHEAD = 1;
var DELTA_CHUNK = 1 << 20;
function pushRange(starts, ns, s, n) {
  const k = starts.length - 1;
  if (k >= 0 && starts[k] + ns[k] === s) ns[k] += n;
  else {
    starts.push(s);
    ns.push(n);
  }
}
function* planChunks(flat, parent, keys, chunkPages) {
  const px = parent?.extents ?? null;
  const fresh = () => ({
    pieces: [],
    childOps: [],
    parentOps: [],
    cmpStart: [],
    cmpN: [],
    idStart: [],
    idN: [],
    pages: 0
  });
  let c = fresh();
  for (let r = 0; r < flat.count; r++) {
    const l = flat.layer[r];
    const n = flat.nrPages[r];
    const v0 = flat.vpage[r];
    if (l < 0) {
      c.pieces.push({ run: r, vpage: v0, n, at: -1 });
      if (c.pieces.length >= 65536) {
        yield c;
        c = fresh();
      }
      continue;
    }
    const file = flat.files[l];
    let done = 0;
    while (done < n) {
      const take = Math.min(n - done, chunkPages - c.pages);
      const v = v0 + done;
      const end = v + take;
      const at = c.pages;
      const childOff = flat.offset[r] + done * PAGE_SIZE;
      c.pieces.push({ run: r, vpage: v, n: take, at });
      let cur = v;
      const childRead = (a, b) => {
        if (b > a)
          pushRead(
            c.childOps,
            file,
            childOff + (a - v) * PAGE_SIZE,
            (b - a) * PAGE_SIZE,
            (at + a - v) * PAGE_SIZE
          );
      };
      if (px) {
        for (let j = findExtent(px, v); j < px.count && px.start[j] < end; j++) {
          const layer = px.layer[j];
          if (layer < 0) continue;
          const a = Math.max(v, px.start[j]);
          const b = Math.min(end, px.end[j]);
          const parentOff = px.offset[j] + (a - px.start[j]) * PAGE_SIZE;
          const bufPage = at + (a - v);
          childRead(cur, a);
          const key = keys.child[l];
          if (key != null && key === keys.parent[layer] && childOff + (a - v) * PAGE_SIZE === parentOff) {
            pushRange(c.idStart, c.idN, bufPage, b - a);
          } else {
            childRead(a, b);
            pushRead(c.parentOps, parent.files[layer], parentOff, (b - a) * PAGE_SIZE, bufPage * PAGE_SIZE);
            pushRange(c.cmpStart, c.cmpN, bufPage, b - a);
          }
          cur = b;
        }
      }
      childRead(cur, end);
      c.pages += take;
      done += take;
      if (c.pages === chunkPages) {
        yield c;
        c = fresh();
      }
    }
  }
  if (c.pieces.length > 0) yield c;
}
function comparePages(child, parent, c, same) {
  same.fill(0, 0, c.pages);
  for (let t = 0; t < c.idStart.length; t++) same.fill(1, c.idStart[t], c.idStart[t] + c.idN[t]);
  for (let t = 0; t < c.cmpStart.length; t++) {
    const s = c.cmpStart[t];
    const e = s + c.cmpN[t];
    for (let b = s; b < e; b += BLOCK_PAGES) {
      const be = Math.min(e, b + BLOCK_PAGES);
      const x = b * PAGE_SIZE;
      const y = be * PAGE_SIZE;
      if (child.compare(parent, x, y, x, y) === 0) {
        same.fill(1, b, be);
        continue;
      }
      for (let p = b; p < be; p++) {
        const o = p * PAGE_SIZE;
        if (child.compare(parent, o, o + PAGE_SIZE, o, o + PAGE_SIZE) === 0) same[p] = 1;
      }
    }
  }
}
async function deltaPagemap(flat, parent, keys, out, chunkBytes) {
  const chunkPages = Math.max(1, Math.floor(chunkBytes / PAGE_SIZE));
  const res = { entries: new PagemapEntries(), kept: 0, shared: 0, lazy: 0, fresh: 0 };
  const sets = Array.from({ length: READ_AHEAD + 1 }, () => ({
    child: Buffer.allocUnsafe(chunkPages * PAGE_SIZE),
    parent: Buffer.allocUnsafe(chunkPages * PAGE_SIZE)
  }));
  const same = new Uint8Array(chunkPages);
  const it = planChunks(flat, parent, keys, chunkPages);
  let turn = 0;
  const queue = [];
  const fill = () => {
    while (queue.length < sets.length) {
      const r = it.next();
      if (r.done) return;
      const set = sets[turn];
      turn = (turn + 1) % sets.length;
      const c = r.value;
      const done = Promise.all([
        runReads(c.childOps, set.child, flat.file),
        runReads(c.parentOps, set.parent, `${flat.file} (parent)`)
      ]);
      queue.push({ c, set, done });
    }
  };
  try {
    fill();
    while (queue.length > 0) {
      const cur = queue[0];
      await cur.done;
      const { c, set } = cur;
      comparePages(set.child, set.parent, c, same);
      for (const pc of c.pieces) {
        const flags = flat.flags[pc.run];
        const entry = flat.entry[pc.run];
        if (pc.at < 0) {
          res.entries.push(entry, pc.vpage, pc.n, flags);
          if (flags & PE_PARENT) res.shared += pc.n;
          else res.lazy += pc.n;
          continue;
        }
        let p = 0;
        while (p < pc.n) {
          const s = same[pc.at + p];
          let q = p + 1;
          while (q < pc.n && same[pc.at + q] === s) q++;
          if (s) {
            res.entries.push(entry, pc.vpage + p, q - p, PE_PARENT);
            res.shared += q - p;
          } else {
            res.entries.push(entry, pc.vpage + p, q - p, flags);
            res.kept += q - p;
            await out.append(set.child, (pc.at + p) * PAGE_SIZE, (q - p) * PAGE_SIZE);
          }
          p = q;
        }
      }
      for (let t = 0; t < c.cmpN.length; t++) res.fresh -= c.cmpN[t];
      for (let t = 0; t < c.idN.length; t++) res.fresh -= c.idN[t];
      res.fresh += c.pages;
      queue.shift();
      fill();
    }
  } catch (e) {
    for (const q of queue) await q.done.catch(() => void 0);
    throw e;
  }
  return res;
}
async function pagesFileKeys(stack, pagemap) {
  const keys = [];
  for (const l of stack.layers) {
    const cols = await stack.pagemapColumns(pagemap, l.index).catch(() => null);
    keys.push(cols ? `${l.source.id}\0pages-${cols.pagesId}.img` : null);
  }
  return keys;
}
async function ownPagesBytes(stack, pagemaps) {
  let total = 0;
  for (const pm of pagemaps) {
    const cols = await stack.pagemapColumns(pm, 0);
    if (!cols) continue;
    let present = 0;
    for (let i = 0; i < cols.count; i++) if (cols.flags[i] & PE_PRESENT) present += cols.nrPages[i];
    total += present * PAGE_SIZE;
  }
  return total;
}
async function allOrFirstError(ps) {
  for (const r of await Promise.allSettled(ps)) if (r.status === "rejected") throw r.reason;
}
async function delta(parentStack, childStack, opts) {
  const chunk = opts.chunkBytes ?? DELTA_CHUNK;
  const childTop = childStack.top;
  let out = opts.out;
  if (opts.inPlace) {
    if (!(childTop.source instanceof DirLayerSource)) {
      throw new StackError(
        `${childTop.source.name}: only an image directory can be replaced in place`,
        "PAGESTACK_UNSUPPORTED_SOURCE",
        { layer: childTop.source.name }
      );
    }
    out = childTop.source.name;
    if (parentStack.layers.some((l) => l.source.id === childTop.source.id)) {
      throw new StackError(
        `${parentStack.top.source.name}: its stack contains ${childTop.source.name}; a layer cannot be its own ancestor`,
        "PAGESTACK_OWN_ANCESTOR",
        { layer: childTop.source.name }
      );
    }
  }
  if (out === void 0) throw new StackError("delta: no output directory given", "PAGESTACK_NO_OUTPUT");
  const pagemaps = pagemapFiles(childTop.files);
  const { flats, pagesNames } = await flattenAll(childStack, pagemaps);
  const parentMems = /* @__PURE__ */ new Map();
  for (const pm of pagemaps) {
    if (parentStack.top.files.includes(pm)) parentMems.set(pm, await parentStack.memory(pm));
  }
  const result = {
    out,
    parentLink: "",
    pagemaps: flats.length,
    entries: 0,
    pagesKept: 0,
    pagesShared: 0,
    pagesLazy: 0,
    pagesNew: 0,
    bytesSaved: 0,
    bytesBefore: await ownPagesBytes(childStack, pagemaps),
    bytesAfter: 0
  };
  const w = await LayerWriter.begin(out, {
    replace: opts.inPlace === true,
    inputs: [...parentStack.layers, ...childStack.layers].map((l) => l.source)
  });
  const finishing = [];
  const behind = (p) => {
    p.catch(() => void 0);
    finishing.push(p);
  };
  try {
    for (const flat of flats) {
      const pages = await w.createPages(`pages-${flat.pagesId}.img`, Math.max(chunk, IO_CHUNK));
      const keys = {
        child: await pagesFileKeys(childStack, flat.file),
        parent: await pagesFileKeys(parentStack, flat.file)
      };
      const d = await deltaPagemap(flat, parentMems.get(flat.file) ?? null, keys, pages, chunk);
      result.bytesAfter += pages.size;
      behind(pages.close());
      behind(w.writePagemap(flat.file, flat.pagesId, d.entries));
      result.entries += d.entries.count;
      result.pagesKept += d.kept;
      result.pagesShared += d.shared;
      result.pagesLazy += d.lazy;
      result.pagesNew += d.fresh;
    }
    const rest = childTop.files.filter((f) => f !== "parent" && !pagemaps.includes(f) && !pagesNames.has(f));
    behind(w.copyLayerFiles(childTop.source, rest));
    const parentSrc = parentStack.top.source;
    result.parentLink = await linkTarget(
      out,
      parentSrc instanceof ArchiveLayerSource ? parentSrc.archive.path : parentSrc.name
    );
    behind(w.symlink("parent", result.parentLink));
    result.bytesSaved = result.pagesShared * PAGE_SIZE;
    await allOrFirstError(finishing);
    if (opts.inPlace) await childStack.close();
    await w.commit();
  } catch (e) {
    await Promise.allSettled(finishing);
    await w.abort();
    throw e;
  }
  return result;
}

// src/cli/delta.ts
function registerDelta(program) {
  program.command("delta").description(
    "rewrite CHILD (a dump) as an incremental layer on PARENT's stack: pages equal to PARENT's become PE_PARENT"
  ).argument("<parent>", "top layer of the stack to build on").argument("<child>", "image directory to rewrite (normally a full dump taken after PARENT)").addOption(parentOption("--parent", "PARENT")).addOption(parentOption("--child-parent", "CHILD")).option("-o, --output <out>", "write the new layer to this directory (must not exist)").option("--in-place", "replace CHILD itself (built beside it, then swapped in by rename)").action(async (parent, child, opts) => {
    if (opts.output === void 0 === (opts.inPlace !== true)) {
      throw new UsageError("delta: give exactly one of -o OUT or --in-place");
    }
    await cleanStale(opts.inPlace ? child : opts.output);
    const parentStack = await openTarget(parent, { parent: opts.parent });
    try {
      const childStack = await openTarget(child, { parent: opts.childParent });
      try {
        const r = await delta(
          parentStack,
          childStack,
          opts.inPlace ? { inPlace: true } : { out: opts.output }
        );
        cliStreams().stdout(
          `${r.out}: ${commas(r.pagesKept)} pages kept, ${commas(r.pagesShared)} shared with the parent${r.pagesLazy > 0 ? `, ${commas(r.pagesLazy)} lazy` : ""}; ${savingText(r)}; parent -> ${r.parentLink}
`
        );
      } finally {
        await childStack.close();
      }
    } finally {
      await parentStack.close();
    }
  });
}
function savingText(r) {
  const full = (r.pagesKept + r.pagesShared) * PAGE_SIZE;
  const vsFull = `a full dump would store ${formatBytes(full)}`;
  if (r.bytesAfter > r.bytesBefore) {
    return `pages ${formatBytes(r.bytesBefore)} -> ${formatBytes(r.bytesAfter)}: more than CHILD's own, which was an increment over a closer parent (${vsFull})`;
  }
  const saved = Math.max(0, full - r.bytesAfter);
  return `pages ${formatBytes(r.bytesBefore)} -> ${formatBytes(r.bytesAfter)}, ${formatBytes(saved)} less than a full dump (${formatBytes(full)})`;
}
export {
  registerDelta,
  savingText
};
