import {
  LAZY,
  PAGE_SIZE,
  PE_LAZY,
  PE_PARENT,
  PE_PRESENT,
  findExtent,
  resolvePagemap
} from "./chunk-NB7SHFDT.js";
import {
  partitionPoint
} from "./chunk-5LGPV2OV.js";
import {
  StackError
} from "./chunk-XLWXTOJZ.js";

// src/engine/flatten.ts
var EVERYTHING = {
  pagesId: 0,
  count: 1,
  vpage: new Float64Array([0]),
  nrPages: new Float64Array([2 ** 52]),
  flags: new Uint32Array([PE_PRESENT]),
  fileOffset: new Float64Array([0])
};
function firstEndingAfter(cols, page) {
  return partitionPoint(0, cols.count, (i) => cols.vpage[i] + cols.nrPages[i] <= page);
}
var FlatBuilder = class {
  vpage = [];
  nrPages = [];
  flags = [];
  layer = [];
  offset = [];
  entry = [];
  push(entry, vpage, n, flags, layer, offset) {
    const k = this.vpage.length - 1;
    if (k >= 0 && this.entry[k] === entry && this.flags[k] === flags && this.layer[k] === layer && this.vpage[k] + this.nrPages[k] === vpage && (layer < 0 || this.offset[k] + this.nrPages[k] * PAGE_SIZE === offset)) {
      this.nrPages[k] += n;
      return;
    }
    this.vpage.push(vpage);
    this.nrPages.push(n);
    this.flags.push(flags);
    this.layer.push(layer);
    this.offset.push(offset);
    this.entry.push(entry);
  }
};
async function flattenPagemap(stack, file, keepBelow) {
  const n = stack.layers.length;
  const k = keepBelow ?? n;
  const top = await stack.pagemapColumns(file, 0);
  if (!top) {
    throw new StackError(`${stack.top.source.name}/${file}: no such pagemap`, "PAGESTACK_NO_PAGEMAP", {
      file: `${stack.top.source.name}/${file}`
    });
  }
  let resolved;
  let x;
  const columns = [];
  for (let l = 0; l < Math.min(k, n); l++) columns.push(await stack.pagemapColumns(file, l));
  if (k < n) {
    const layers = columns.map((c, l) => ({
      layerName: stack.layers[l].source.name,
      columns: c
    }));
    layers.push({ layerName: stack.layers[k].source.name, columns: EVERYTHING });
    resolved = await stack.resolve(file);
    x = resolvePagemap(file, layers).extents;
  } else {
    resolved = await stack.resolve(file);
    x = resolved.extents;
  }
  const used = new Array(k).fill(false);
  const b = new FlatBuilder();
  for (let i = 0; i < top.count; i++) {
    const s = top.vpage[i];
    const e = s + top.nrPages[i];
    const f = top.flags[i];
    let j = findExtent(x, s);
    let cur = s;
    while (cur < e) {
      if (j >= x.count || x.start[j] > cur) {
        throw new StackError(
          `${stack.top.source.name}/${file}: entry ${i} did not resolve (internal error)`,
          "PAGESTACK_ERROR"
        );
      }
      const es = x.start[j];
      const ee = x.end[j];
      const pe = Math.min(e, ee);
      const l = x.layer[j];
      const off = x.offset[j] + (cur - es) * PAGE_SIZE;
      if (l === LAZY) {
        b.push(i, cur, pe - cur, f & PE_PARENT ? PE_LAZY : f, -1, 0);
      } else if (l >= k) {
        b.push(i, cur, pe - cur, PE_PARENT, -1, 0);
      } else if (l === 0) {
        used[0] = true;
        b.push(i, cur, pe - cur, f, 0, off);
      } else {
        used[l] = true;
        const cols = columns[l];
        let t = firstEndingAfter(cols, cur);
        let c = cur;
        while (c < pe) {
          const q = Math.min(pe, cols.vpage[t] + cols.nrPages[t]);
          b.push(i, c, q - c, cols.flags[t], l, off + (c - cur) * PAGE_SIZE);
          c = q;
          t++;
        }
      }
      cur = pe;
      if (pe === ee) j++;
    }
  }
  const files = [];
  for (let l = 0; l < k && l < n; l++) files.push(used[l] ? await stack.pagesFile(file, l) : null);
  return {
    file,
    pagesId: top.pagesId,
    count: b.vpage.length,
    vpage: b.vpage,
    nrPages: b.nrPages,
    flags: b.flags,
    layer: b.layer,
    offset: b.offset,
    entry: b.entry,
    files,
    resolved
  };
}
function pushRead(ops, file, position, length, at) {
  const last = ops[ops.length - 1];
  if (last && last.file === file && last.position + last.length === position && last.at + last.length === at) {
    last.length += length;
    return;
  }
  ops.push({ file, position, length, at });
}
async function runReads(ops, buf, what) {
  await Promise.all(
    ops.map(async (op) => {
      const got = await op.file.read(buf, op.at, op.length, op.position);
      if (got < op.length) {
        throw new StackError(
          `${what}: pages file ended at offset ${op.position + got}, expected ${op.length - got} more bytes`,
          "PAGESTACK_PAGES_FILE_SHORT",
          { file: what, offset: op.position + got }
        );
      }
    })
  );
}
function pagemapFiles(files) {
  return files.filter((f) => /^pagemap-.+\.img$/.test(f));
}
async function flattenAll(stack, pagemaps, keepBelow) {
  const flats = [];
  const pagesNames = /* @__PURE__ */ new Map();
  const topDir = stack.top.source.name;
  for (const pm of pagemaps) {
    const flat = await flattenPagemap(stack, pm, keepBelow);
    const pages = `pages-${flat.pagesId}.img`;
    const other = pagesNames.get(pages);
    if (other !== void 0) {
      throw new StackError(
        `${topDir}: ${other} and ${pm} both name ${pages}; each pagemap needs its own`,
        "PAGESTACK_PAGES_NAME_CLASH",
        { layer: topDir, file: pages }
      );
    }
    pagesNames.set(pages, pm);
    flats.push(flat);
  }
  return { flats, pagesNames };
}

export {
  pushRead,
  runReads,
  pagemapFiles,
  flattenAll
};
