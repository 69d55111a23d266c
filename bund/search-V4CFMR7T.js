import {
  compilePattern,
  searchStack
} from "./chunk-FMNS64R2.js";
import {
  hexdumpBytes,
  hexdumpWidth
} from "./chunk-ODFIKAPB.js";
import {
  parentOption,
  parseNumber,
  parsePid
} from "./chunk-XLDVULSI.js";
import "./chunk-524M245C.js";
import {
  openTarget
} from "./chunk-GSAO6ZCS.js";
import {
  hex
} from "./chunk-NB7SHFDT.js";
import "./chunk-IJRLALQZ.js";
import "./chunk-5LGPV2OV.js";
import "./chunk-5F5SDADC.js";
import {
  cliStreams
} from "./chunk-KQHSUXQF.js";
import {
  UsageError
} from "./chunk-XLWXTOJZ.js";

// src/cli/search.ts
function registerSearch(program) {
  program.command("search").description(
    "search process memory through the stack: text, hex bytes with ?? wildcards, or a regex on raw bytes"
  ).argument("<target>", "checkpoint archive or image directory (the top layer)").argument("<pattern>", "text (default), hex bytes with --hex, a regular expression with --regex").option("--pid <pid>", "only this process (default: all; shared memory is searched once)").option("--hex", "PATTERN is hex bytes, e.g. '48 8b ?? 24'").option(
    "--regex",
    "PATTERN is a JavaScript regular expression over raw bytes (one latin1 character per byte)"
  ).option("--utf16", "search the text as UTF-16LE").option("--context <n>", "bytes of context before and after each match", "16").option("--max-match <n>", "with --regex: the longest match found across chunk edges", "4096").addOption(parentOption()).option("--json", "one JSON object per match (JSON Lines), then a summary").action(async (target, text, opts) => {
    const context = parseNumber(opts.context, "--context");
    if (context > 1 << 20) throw new UsageError("--context: at most 1 MiB");
    let pattern;
    const maxMatch = parseNumber(opts.maxMatch, "--max-match");
    if (maxMatch < 1) throw new UsageError(`--max-match ${opts.maxMatch}: expected at least 1 (bytes)`);
    try {
      pattern = compilePattern(text, {
        hex: opts.hex === true,
        regex: opts.regex === true,
        utf16: opts.utf16 === true,
        maxMatch
      });
    } catch (e) {
      throw new UsageError(e.message);
    }
    const pid = parsePid(opts.pid);
    const stack = await openTarget(target, { parent: opts.parent });
    const out = cliStreams();
    try {
      const onMatch = opts.json ? (m) => out.stdout(`${JSON.stringify(matchJson(m))}
`) : (m) => out.stdout(formatMatch(m));
      const s = await searchStack(stack, pattern, { pid, context, onMatch });
      if (opts.json) out.stdout(`${JSON.stringify({ summary: s })}
`);
      else
        out.stdout(
          `${s.matches} match${s.matches === 1 ? "" : "es"} in ${s.objects} memory object${s.objects === 1 ? "" : "s"} (${s.bytesSearched} bytes searched)
`
        );
      if (s.matches === 0) process.exitCode = 1;
    } finally {
      await stack.close();
    }
  });
}
function matchJson(m) {
  return {
    pid: m.pid,
    address: hex(m.address),
    length: m.length,
    vma: m.vma ? { start: hex(m.vma.start), end: hex(m.vma.end), perms: m.vma.perms, name: m.vma.name } : null,
    layer: m.layer,
    layerName: m.layerName,
    shared: m.shared,
    contextStart: hex(m.contextStart),
    context: Buffer.from(m.context).toString("hex")
  };
}
function formatMatch(m) {
  const v = m.vma;
  const head = `pid ${m.pid} ${hex(m.address)} len ${m.length}  vma ${v ? `${v.start.toString(16)}-${v.end.toString(16)} ${v.perms} ${v.name || "anon"}` : "(none)"}  layer ${m.layer} ${m.layerName}${m.shared ? `  shared ${m.shared}` : ""}
`;
  const dump = Buffer.from(
    hexdumpBytes(m.context, m.contextStart, hexdumpWidth(m.contextStart, m.context.length))
  ).toString("latin1");
  return `${head}${dump}
`;
}
export {
  registerSearch
};
