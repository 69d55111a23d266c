import {
  diffRows,
  diffStacks,
  diffToJson
} from "./chunk-ANCS5L76.js";
import "./chunk-PBZ3FNF4.js";
import {
  commas,
  table
} from "./chunk-ODFIKAPB.js";
import {
  parentOption,
  parsePid
} from "./chunk-XLDVULSI.js";
import "./chunk-524M245C.js";
import {
  openTarget
} from "./chunk-GSAO6ZCS.js";
import {
  PAGE_SIZE,
  formatBytes,
  hex,
  vmaKind,
  vmaPerms
} from "./chunk-NB7SHFDT.js";
import "./chunk-IJRLALQZ.js";
import {
  partitionPoint
} from "./chunk-5LGPV2OV.js";
import "./chunk-5F5SDADC.js";
import {
  cliStreams
} from "./chunk-KQHSUXQF.js";
import "./chunk-XLWXTOJZ.js";

// src/cli/diff.ts
function describeVma(v) {
  const perms = vmaPerms(v.prot, v.flags);
  const kind = vmaKind(v.status);
  return `${hex(v.start)}-${hex(v.end)} ${perms} ${kind}`;
}
function pagesText(n) {
  return `${commas(n)} page${n === 1 ? "" : "s"}`;
}
function byteNotes(firsts, from, to, idx) {
  const groups = [];
  let g = null;
  const flush = () => {
    if (!g) return;
    const n = (g.e - g.s) / PAGE_SIZE;
    groups.push(
      n === 1 ? `${hex(g.s + g.off)}` : `${hex(g.s)}-${hex(g.e)}: at page offset ${hex(g.off)} in each of ${n} pages`
    );
  };
  while (idx.i < firsts.length && firsts[idx.i] < to) {
    const a = firsts[idx.i];
    idx.i++;
    if (a < from) continue;
    const page = a - a % PAGE_SIZE;
    const off = a - page;
    if (g && g.e === page && g.off === off) g.e = page + PAGE_SIZE;
    else {
      flush();
      g = { s: page, e: page + PAGE_SIZE, off };
    }
  }
  flush();
  return groups;
}
function formatProcessDiff(d, withBytes) {
  const lines = [];
  const parts = [
    `${pagesText(d.changed.pages)} changed`,
    `${commas(d.added.pages)} added`,
    `${commas(d.removed.pages)} removed`,
    `${commas(d.equalPages)} equal`
  ];
  if (d.lazy.pages) parts.push(`${commas(d.lazy.pages)} lazy (not compared)`);
  lines.push(`pid ${d.pid}: ${parts.join(", ")}`);
  const rows = diffRows(d).map((r) => ({
    ...r,
    what: r.kind,
    vma: r.vma ? describeVma(r.vma) : r.outsideVmas ? "(no vma)" : ""
  }));
  if (rows.length === 0) {
    lines.push("  no differences");
    return lines.join("\n");
  }
  const cells = [];
  const notes = /* @__PURE__ */ new Map();
  const idx = { i: 0 };
  for (const r of rows) {
    cells.push([r.what, `${hex(r.start)}-${hex(r.end)}`, pagesText(r.pages), r.vma ? `vma ${r.vma}` : ""]);
    if (withBytes && r.what === "changed" && d.firstDifferences) {
      idx.i = lowerBound(d.firstDifferences, r.start);
      notes.set(cells.length - 1, byteNotes(d.firstDifferences, r.start, r.end, idx));
    }
  }
  const text = table(cells, ["l", "l", "r", "l"], "  ").split("\n");
  text.forEach((t, k) => {
    lines.push(t);
    const n = notes.get(k);
    if (!n) return;
    const shown = n.slice(0, 16);
    lines.push(
      `      first difference: ${shown.join(", ")}${n.length > shown.length ? `, ... (${n.length - shown.length} more)` : ""}`
    );
  });
  return lines.join("\n");
}
function lowerBound(xs, v) {
  return partitionPoint(0, xs.length, (i) => xs[i] < v);
}
function formatDiff(r, withBytes) {
  const out = [`A: ${r.a}`, `B: ${r.b}`];
  for (const d of r.processes) out.push(formatProcessDiff(d, withBytes));
  if (r.processes.length === 0) out.push("no process is in both snapshots: nothing to compare");
  if (r.onlyInA.length) out.push(`processes only in A (not compared): ${r.onlyInA.join(", ")}`);
  if (r.onlyInB.length) out.push(`processes only in B (not compared): ${r.onlyInB.join(", ")}`);
  const s = r.stats;
  out.push(
    `compared ${pagesText(s.pagesCompared)} (read ${formatBytes(s.bytesRead)}); ${pagesText(s.pagesSameSource)} equal by source (same layer, file and offset: not read)`
  );
  return `${out.join("\n")}
`;
}
function jsonText(doc) {
  return JSON.stringify(doc, null, 2).replace(/\[\s+("0x[0-9a-f]+"),\s+("0x[0-9a-f]+")\s+\]/g, "[$1, $2]");
}
function registerDiff(program) {
  program.command("diff").description(
    "page-level differences between two snapshots (two layers of one stack, or two dumps): changed, added, removed and equal pages per process"
  ).argument("<a>", "the older image directory or checkpoint archive").argument("<b>", "the newer image directory or checkpoint archive").addOption(parentOption("--parent", "A")).addOption(parentOption("--parent-b", "B")).option("--pid <pid>", "only this process (it must be in both)").option(
    "--json",
    'print JSON: {"processes": [{"pid", "changed", "added", "removed", "equal_pages", ...}]}'
  ).option("--bytes", "show where each changed page first differs").action(async (a, b, opts) => {
    const pid = parsePid(opts.pid);
    let sa;
    let sb;
    try {
      sa = await openTarget(a, { parent: opts.parent });
      sb = await openTarget(b, { parent: opts.parentB });
      const result = await diffStacks(sa, sb, { pid, bytes: opts.bytes === true });
      if (opts.json) cliStreams().stdout(`${jsonText(diffToJson(result))}
`);
      else cliStreams().stdout(formatDiff(result, opts.bytes === true));
    } finally {
      await sa?.close();
      await sb?.close();
    }
  });
}
export {
  describeVma,
  formatDiff,
  formatProcessDiff,
  registerDiff
};
