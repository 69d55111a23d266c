import {
  verifyStack
} from "./chunk-ND5YUNWK.js";
import {
  LayerWriter
} from "./chunk-5235KGEG.js";
import "./chunk-XWEEP4RX.js";
import {
  DirLayerSource
} from "./chunk-NB7SHFDT.js";
import "./chunk-IJRLALQZ.js";
import "./chunk-5LGPV2OV.js";
import "./chunk-5F5SDADC.js";
import {
  cliStreams,
  errnoText
} from "./chunk-KQHSUXQF.js";
import {
  LayerWriteError
} from "./chunk-XLWXTOJZ.js";

// src/ops/add-images.ts
import { readdir, readFile } from "node:fs/promises";
async function sameFile(a, b) {
  try {
    const [x, y] = await Promise.all([readFile(a), readFile(b)]);
    return x.equals(y);
  } catch {
    return false;
  }
}
var PAGES_FILE = /^(pagemap-.+|pages-\d+)\.img$/;
async function addImages(opts) {
  const list = async (dir) => {
    try {
      return (await readdir(dir)).sort();
    } catch (e) {
      throw new LayerWriteError(`${dir}: cannot list the directory: ${errnoText(e)}`, void 0, {
        file: dir
      });
    }
  };
  const layerFiles = await list(opts.layer);
  const dumpFiles = await list(opts.from);
  const res = { layer: opts.layer, copied: [], skipped: [], same: [] };
  for (const f of dumpFiles) {
    if (PAGES_FILE.test(f)) {
      throw new LayerWriteError(
        `${opts.from}: holds ${f}: not the -D of a \`criu dump --page-server\` (its memory was written locally)`,
        "PAGESTACK_ADD_IMAGES_NOT_PS_DUMP",
        { file: `${opts.from}/${f}` }
      );
    }
    if (!/\.img$/.test(f) && !/^stats-/.test(f)) {
      res.skipped.push(f);
      continue;
    }
    if (layerFiles.includes(f)) {
      if (await sameFile(`${opts.layer}/${f}`, `${opts.from}/${f}`)) {
        res.same.push(f);
        continue;
      }
      throw new LayerWriteError(
        `${opts.layer}: has ${f} already, with other bytes than ${opts.from}/${f}`,
        "PAGESTACK_ADD_IMAGES_CONFLICT",
        { file: `${opts.layer}/${f}`, layer: opts.layer }
      );
    }
    res.copied.push(f);
  }
  if (res.copied.length === 0) return res;
  const w = await LayerWriter.begin(opts.layer, { replace: true });
  try {
    await w.copyLayerFiles(await DirLayerSource.open(opts.layer), layerFiles);
    await w.copyLayerFiles(await DirLayerSource.open(opts.from), res.copied);
    const problems = await opts.check?.(w.dir) ?? [];
    if (problems.length > 0) {
      throw new LayerWriteError(
        `${opts.layer}: with the images of ${opts.from} it does not verify (left unchanged): ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ""}`,
        "PAGESTACK_ADD_IMAGES_VERIFY",
        { layer: opts.layer, problems: problems.length }
      );
    }
    await w.commit();
  } catch (e) {
    await w.abort();
    throw e;
  }
  return res;
}

// src/cli/add-images.ts
function registerAddImages(program) {
  program.command("add-images").description(
    "copy a page-server dump's other images (core, mm, pstree, ...) from its -D into the received layer, verified, crash-safe"
  ).argument("<layer>", "the layer page-server wrote (STACK/N)").argument("<dump-dir>", "the -D directory of the `criu dump --page-server` that sent it").action(async (layer, dumpDir) => {
    const r = await addImages({
      layer,
      from: dumpDir,
      check: async (dir) => {
        const report = await verifyStack(await DirLayerSource.open(dir));
        return report.problems.filter((p) => p.severity === "error").map((p) => p.message);
      }
    });
    cliStreams().stdout(
      `${r.layer}: ${r.copied.length} images added from ${dumpDir}, verified${r.same.length ? `; ${r.same.length} there already` : ""}${r.skipped.length ? `; not images, left out: ${r.skipped.join(", ")}` : ""}
`
    );
  });
}
export {
  registerAddImages
};
