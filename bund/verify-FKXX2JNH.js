import {
  verifyStack
} from "./chunk-ND5YUNWK.js";
import "./chunk-5235KGEG.js";
import {
  commas,
  toJson
} from "./chunk-ODFIKAPB.js";
import "./chunk-XWEEP4RX.js";
import {
  parentOption
} from "./chunk-XLDVULSI.js";
import "./chunk-524M245C.js";
import {
  openSource
} from "./chunk-GSAO6ZCS.js";
import "./chunk-NB7SHFDT.js";
import "./chunk-IJRLALQZ.js";
import "./chunk-5LGPV2OV.js";
import "./chunk-5F5SDADC.js";
import {
  cliStreams
} from "./chunk-KQHSUXQF.js";
import {
  PagestackError,
  UsageError
} from "./chunk-XLWXTOJZ.js";

// src/cli/verify.ts
import { existsSync } from "node:fs";
function registerVerify(program) {
  program.command("verify").description("check every image, pagemap, pages file and parent link of a stack; exit 1 on problems").argument("<dir>", "image directory or checkpoint archive (the top layer of a stack)").addOption(parentOption()).option("--json", "print the report as JSON").action(async (dir, opts) => {
    let report;
    try {
      report = await verifyStack(await openSource(dir, { parent: opts.parent }));
    } catch (e) {
      if (!(e instanceof PagestackError) || e instanceof UsageError || !existsSync(dir)) throw e;
      report = {
        top: dir,
        layers: [],
        processes: 0,
        imagesDecoded: 0,
        pagemaps: 0,
        dumpedPages: 0,
        lazyPages: 0,
        problems: [{ severity: "error", message: e.message }],
        ok: false
      };
    }
    cliStreams().stdout(opts.json ? `${toJson(report)}
` : formatVerify(report));
    if (!report.ok) process.exitCode = 1;
  });
}
function formatVerify(r) {
  const lines = r.problems.map((p) => `${p.severity}: ${p.message}`);
  if (r.ok) {
    const warnings = r.problems.filter((p) => p.severity === "warning").length;
    lines.push(
      `ok: ${r.layers.length} layer${r.layers.length === 1 ? "" : "s"}, ${r.processes} process${r.processes === 1 ? "" : "es"}, ${r.pagemaps} pagemap${r.pagemaps === 1 ? "" : "s"}, ${commas(r.imagesDecoded)} images decoded, ${commas(r.dumpedPages)} pages dumped, ${commas(r.lazyPages)} lazy${warnings ? `, ${warnings} warning${warnings === 1 ? "" : "s"}` : ""}`
    );
  }
  return lines.length ? `${lines.join("\n")}
` : "";
}
export {
  formatVerify,
  registerVerify
};
