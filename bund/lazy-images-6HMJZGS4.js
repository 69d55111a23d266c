import {
  LayerWriter,
  PagemapEntries
} from "./chunk-5235KGEG.js";
import {
  commas
} from "./chunk-ODFIKAPB.js";
import "./chunk-XWEEP4RX.js";
import {
  openStackDir
} from "./chunk-GSAO6ZCS.js";
import {
  LAZY,
  PAGE_SIZE,
  PE_LAZY,
  PE_PRESENT,
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

// src/ops/lazy-images.ts
var MAP_PRIVATE = 2;
var MAP_ANONYMOUS = 32;
var MAP_LOCKED = 8192;
var MAP_HUGETLB = 262144;
var VMA_AREA_VSYSCALL = 1 << 2;
var VMA_AREA_VDSO = 1 << 3;
var VMA_AREA_VVAR = 1 << 12;
function vmaCanBeLazy(v) {
  return (v.flags & MAP_PRIVATE) !== 0 && (v.flags & MAP_ANONYMOUS) !== 0 && (v.flags & (MAP_LOCKED | MAP_HUGETLB)) === 0 && (v.status & (VMA_AREA_VSYSCALL | VMA_AREA_VDSO | VMA_AREA_VVAR)) === 0;
}
var READ_PAGES = 256;
async function lazyImages(opts) {
  const stack = await openStackDir(opts.top);
  try {
    const top = stack.top;
    const pagemaps = top.files.filter((f) => /^pagemap-.+\.img$/.test(f));
    const res = { out: opts.out, pagemaps: 0, lazyPages: 0, presentPages: 0, entries: 0 };
    const w = await LayerWriter.begin(opts.out, { inputs: stack.layers.map((l) => l.source) });
    try {
      for (const pm of pagemaps) {
        const cols = await stack.pagemapColumns(pm, 0);
        if (!cols) continue;
        const mem = await stack.memory(pm);
        const pidMatch = /^pagemap-(\d+)\.img$/.exec(pm);
        const vmas = pidMatch ? await stack.vmas(Number(pidMatch[1])) : null;
        const entries = new PagemapEntries();
        const pages = await w.createPages(`pages-${cols.pagesId}.img`);
        const x = mem.extents;
        let vi = 0;
        for (let j = 0; j < x.count; j++) {
          let p = x.start[j];
          const end = x.end[j];
          while (p < end) {
            let stop = end;
            let lazy = false;
            let source = 0;
            if (vmas) {
              while (vi < vmas.length && vmas[vi].end <= p * PAGE_SIZE) vi++;
              const v = vmas[vi];
              if (!v || v.start > p * PAGE_SIZE) {
                throw new StackError(
                  `${top.source.name}/${pm}: page ${hex(p * PAGE_SIZE)} lies in no VMA of mm`,
                  "PAGESTACK_LAZY_IMAGES_NO_VMA",
                  { file: `${top.source.name}/${pm}`, address: p * PAGE_SIZE }
                );
              }
              stop = Math.min(end, v.end / PAGE_SIZE);
              lazy = vmaCanBeLazy(v);
              source = vi;
            }
            const n = stop - p;
            if (lazy) {
              entries.push(source, p, n, PE_LAZY);
              res.lazyPages += n;
            } else {
              if (x.layer[j] === LAZY) {
                throw new StackError(
                  `${top.source.name}/${pm}: page ${hex(p * PAGE_SIZE)} is lazy in the stack (no data) but not lazy-able`,
                  "PAGESTACK_LAZY_IMAGES_NO_DATA",
                  { file: `${top.source.name}/${pm}`, address: p * PAGE_SIZE }
                );
              }
              entries.push(source, p, n, PE_PRESENT);
              for (let q = p; q < stop; q += READ_PAGES) {
                const k = Math.min(READ_PAGES, stop - q);
                const data = await mem.read(q * PAGE_SIZE, k * PAGE_SIZE);
                await pages.append(data, 0, data.length);
              }
              res.presentPages += n;
            }
            p = stop;
          }
        }
        await pages.close();
        await w.writePagemap(pm, cols.pagesId, entries);
        res.entries += entries.count;
        res.pagemaps++;
      }
      const pagesFiles = new Set(top.files.filter((f) => /^pages-\d+\.img$/.test(f)));
      const rest = top.files.filter(
        (f) => f !== "parent" && !pagemaps.includes(f) && !pagesFiles.has(f) && f !== "lazy-pages.socket"
      );
      await w.copyLayerFiles(
        top.source,
        rest.filter((f) => /\.img$|^stats-dump$/.test(f))
      );
      await w.commit();
    } catch (e) {
      await w.abort();
      throw e;
    }
    return res;
  } finally {
    await stack.close();
  }
}

// src/cli/lazy-images.ts
function registerLazyImages(program) {
  program.command("lazy-images").description(
    "write the restore side's directory for a lazy restore served from TOP's stack (PE_LAZY entries)"
  ).argument("<top>", "top layer of the stack").requiredOption("-o, --output <out>", "directory to write (must not exist)").action(async (top, opts) => {
    const r = await lazyImages({ top, out: opts.output });
    cliStreams().stdout(
      `${r.out}: ${r.pagemaps} pagemaps, ${r.entries} entries: ${commas(r.lazyPages)} lazy pages (served by page-server --lazy), ${commas(r.presentPages)} present
`
    );
  });
}
export {
  registerLazyImages
};
