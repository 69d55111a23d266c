import {
  LAZY
} from "./chunk-NB7SHFDT.js";
import {
  StackError
} from "./chunk-XLWXTOJZ.js";

// src/ops/summary.ts
function summarizePagemap(r) {
  const perLayer = [];
  for (let l = 0; l < r.depth; l++) {
    const c = r.perLayer[l];
    perLayer.push({
      layer: l,
      held: c.presentPages,
      fromBelow: c.parentPages,
      lazy: c.lazyPages,
      used: c.resolvedPages
    });
  }
  let dumped = 0;
  let lazy = 0;
  const x = r.extents;
  for (let i = 0; i < x.count; i++) {
    const n = x.end[i] - x.start[i];
    if (x.layer[i] === LAZY) lazy += n;
    else dumped += n;
  }
  return { file: r.file, perLayer, dumpedPages: dumped, lazyPages: lazy, extents: x.count };
}
async function summarizeLayers(stack) {
  const out = [];
  for (const layer of stack.layers) {
    const pagesFiles = [];
    let size = 0;
    let allocated = 0;
    for (const file of layer.files) {
      if (!/^pages-.*\.img$/.test(file)) continue;
      const f = await layer.source.open(file);
      if (!f) continue;
      try {
        const a = f.allocated ?? null;
        pagesFiles.push({ file, size: f.size, allocated: a, holes: a !== null && a < f.size });
        size += f.size;
        allocated = a === null || allocated === null ? null : allocated + a;
      } finally {
        await f.close();
      }
    }
    const deduplicated = pagesFiles.some((p) => p.holes);
    let note = null;
    if (deduplicated) {
      note = layer.index > 0 ? "deduplicated: valid only under its children" : "pages files have holes (punched pages read as zeros)";
    }
    out.push({
      index: layer.index,
      name: layer.source.name,
      pagesFiles,
      size,
      allocated,
      deduplicated,
      note
    });
  }
  return out;
}
async function summarizeStack(stack) {
  const layers = await summarizeLayers(stack);
  const processes = [];
  const mappedBy = /* @__PURE__ */ new Map();
  let dumped = 0;
  let lazy = 0;
  for (const p of await stack.processes()) {
    const file = `pagemap-${p.pid}.img`;
    let memory = null;
    if (stack.top.files.includes(file)) {
      memory = summarizePagemap((await stack.memory(file)).resolved);
      dumped += memory.dumpedPages;
      lazy += memory.lazyPages;
    }
    for (const v of await stack.vmas(p.pid)) {
      const shm = await stack.shmemPagemapFor(v).catch((e) => {
        if (e instanceof StackError) return null;
        throw e;
      });
      if (!shm) continue;
      const list = mappedBy.get(shm) ?? [];
      if (!list.includes(p.pid)) list.push(p.pid);
      mappedBy.set(shm, list);
    }
    processes.push({
      pid: p.pid,
      ppid: p.ppid,
      comm: await stack.comm(p.pid),
      threads: [...p.threads],
      memory
    });
  }
  const shmem = [];
  for (const file of stack.top.files) {
    const m = /^pagemap-shmem-(\d+)\.img$/.exec(file);
    if (!m) continue;
    const s = summarizePagemap((await stack.memory(file)).resolved);
    dumped += s.dumpedPages;
    lazy += s.lazyPages;
    shmem.push({ ...s, shmid: Number(m[1]), mappedBy: mappedBy.get(file) ?? [] });
  }
  shmem.sort((a, b) => a.shmid - b.shmid);
  let bytes = 0;
  let alloc = 0;
  for (const l of layers) {
    bytes += l.size;
    alloc = alloc === null || l.allocated === null ? null : alloc + l.allocated;
  }
  return {
    top: stack.top.source.name,
    layers,
    processes,
    shmem,
    totals: { dumpedPages: dumped, lazyPages: lazy, pagesFileBytes: bytes, allocatedBytes: alloc }
  };
}

export {
  summarizeStack
};
