import {
  LAZY,
  PAGE_SIZE,
  VMA_AREA_VSYSCALL,
  fileNames,
  findExtent,
  int,
  mmView,
  vmaName,
  vmaPerms
} from "./chunk-NB7SHFDT.js";

// src/ops/maps.ts
function collect(x, s, e, shift, into) {
  let i = findExtent(x, s);
  for (; i < x.count && x.start[i] < e; i++) {
    const a = Math.max(s, x.start[i]);
    const b = Math.min(e, x.end[i]);
    if (a >= b) continue;
    const layer = x.layer[i];
    const n = b - a;
    if (layer === LAZY) into.lazy += n;
    else {
      into.dumped += n;
      into.layers.set(layer, (into.layers.get(layer) ?? 0) + n);
    }
    into.extents.push({
      start: (a + shift) * PAGE_SIZE,
      end: (b + shift) * PAGE_SIZE,
      layer,
      fileOffset: layer === LAZY ? 0 : x.offset[i] + (a - x.start[i]) * PAGE_SIZE
    });
  }
}
async function processMaps(stack, pid) {
  const vmas = await stack.vmas(pid);
  vmas.sort((a, b) => a.start - b.start);
  const files = await fileNames(stack);
  const privFile = `pagemap-${pid}.img`;
  const priv = stack.top.files.includes(privFile) ? await stack.resolve(privFile) : null;
  const out = [];
  const totals = { pages: 0, dumped: 0, lazy: 0, notDumped: 0, outside: 0 };
  for (const v of vmas) {
    const shmem = await stack.shmemPagemapFor(v);
    const acc = { dumped: 0, lazy: 0, layers: /* @__PURE__ */ new Map(), extents: [] };
    const s = v.start / PAGE_SIZE;
    const e = v.end / PAGE_SIZE;
    if (shmem) {
      if (stack.top.files.includes(shmem)) {
        const r = await stack.resolve(shmem);
        const o = v.pgoff / PAGE_SIZE;
        collect(r.extents, o, o + (e - s), s - o, acc);
      }
    } else if (priv) collect(priv.extents, s, e, 0, acc);
    const pages = e - s;
    const row = {
      start: v.start,
      end: v.end,
      perms: vmaPerms(v.prot, v.flags),
      offset: v.pgoff,
      name: vmaName(v, files, shmem),
      shmem,
      pages,
      dumped: acc.dumped,
      lazy: acc.lazy,
      notDumped: pages - acc.dumped - acc.lazy,
      layers: [...acc.layers.entries()].sort((a, b) => a[0] - b[0]).map(([layer, p]) => ({ layer, pages: p })),
      extents: acc.extents
    };
    totals.pages += pages;
    totals.dumped += row.dumped;
    totals.lazy += row.lazy;
    totals.notDumped += row.notDumped;
    out.push(row);
  }
  const outside = [];
  if (priv) {
    const x = priv.extents;
    const privVmas = vmas.filter((_v, i) => out[i].shmem === null);
    let k = 0;
    for (let i = 0; i < x.count; i++) {
      let cur = x.start[i];
      const end = x.end[i];
      while (cur < end) {
        while (k < privVmas.length && privVmas[k].end / PAGE_SIZE <= cur) k++;
        const v = privVmas[k];
        const vs = v ? v.start / PAGE_SIZE : Number.POSITIVE_INFINITY;
        if (vs <= cur) {
          cur = Math.min(end, v.end / PAGE_SIZE);
          continue;
        }
        const stop = Math.min(end, vs);
        const layer = x.layer[i];
        outside.push({
          start: cur * PAGE_SIZE,
          end: stop * PAGE_SIZE,
          layer,
          fileOffset: layer === LAZY ? 0 : x.offset[i] + (cur - x.start[i]) * PAGE_SIZE
        });
        totals.outside += stop - cur;
        cur = stop;
      }
    }
  }
  let vsyscall = null;
  const mm = stack.top.files.includes(`mm-${pid}.img`) ? await stack.image(`mm-${pid}.img`) : null;
  const mmEntry = mm?.entries[0];
  for (const m of mmEntry ? mmView(mmEntry).vmas : []) {
    if (int(m["status"]) & VMA_AREA_VSYSCALL) {
      vsyscall = `${BigInt(m["start"]).toString(16)}-${BigInt(m["end"]).toString(16)}`;
    }
  }
  return {
    pid,
    comm: await stack.comm(pid),
    layerNames: stack.layers.map((l) => l.source.name),
    vmas: out,
    vsyscall,
    outside,
    totals
  };
}

export {
  processMaps
};
