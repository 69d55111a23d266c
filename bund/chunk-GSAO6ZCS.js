import {
  DirLayerSource,
  openStack
} from "./chunk-NB7SHFDT.js";
import {
  openArchiveSource
} from "./chunk-IJRLALQZ.js";

// src/source/open.ts
import { stat } from "node:fs/promises";
async function openSource(path, opts = {}) {
  const parent = opts.parent === void 0 ? null : await openSource(opts.parent);
  const isFile = await stat(path).then(
    (st) => st.isFile(),
    () => false
    // DirLayerSource.open names the missing path
  );
  if (isFile) return openArchiveSource(path, { parent });
  const dir = await DirLayerSource.open(path);
  return parent ? withParent(dir, parent) : dir;
}
function withParent(dir, parent) {
  return {
    name: dir.name,
    id: dir.id,
    list: () => dir.list(),
    readFile: (f) => dir.readFile(f),
    open: (f) => dir.open(f),
    parent: () => Promise.resolve(parent),
    close: () => parent.close?.() ?? Promise.resolve()
  };
}
async function openTarget(path, opts = {}) {
  const top = await openSource(path, opts);
  try {
    return await openStack(top, opts);
  } catch (e) {
    await top.close?.();
    throw e;
  }
}
async function openStackDir(dir, opts) {
  return openStack(await DirLayerSource.open(dir), opts);
}

export {
  openSource,
  openTarget,
  openStackDir
};
