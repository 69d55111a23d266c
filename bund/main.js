#!/usr/bin/env node
import {
  Command,
  CommanderError
} from "./chunk-524M245C.js";
import {
  cliStreams,
  processStreams,
  setCliStreams
} from "./chunk-KQHSUXQF.js";
import {
  PagestackError,
  UsageError
} from "./chunk-XLWXTOJZ.js";

// src/cli/main.ts
import { readFileSync, realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";

// src/cli/errors.ts
var HINTS = {
  PAGESTACK_PID_REQUIRED: (e) => `the stack has ${e.data["processes"]} processes, choose one with --pid: ${e.data["pids"].join(", ")}`,
  PAGESTACK_RAW_SPAN_TOO_LARGE: (e) => `${e.message}: narrow it with --start/--end, or pass --force`,
  PAGESTACK_FILE_TOO_LARGE: (e) => e.data["start"] !== void 0 ? `${e.message}; narrow it with --start/--end` : e.message,
  PAGESTACK_NO_OUTPUT: (e) => `${e.message} (use -o OUT or --in-place)`,
  PAGESTACK_LAYER_OUT_OF_RANGE: (e) => keepBelow(e),
  PAGESTACK_NOT_A_LAYER: (e) => keepBelow(e),
  PAGESTACK_ARCHIVE_LINK: (e) => e.data["member"] !== void 0 && String(e.data["member"]).endsWith("parent") ? `${e.message}; give the layer below with --parent ARCHIVE|DIR` : e.message,
  PAGESTACK_DEDUP_BRANCH: (e) => `${e.message} (use --force if it does not matter)`
};
function keepBelow(e) {
  const prefix = `layer ${e.data["spec"]}: `;
  return e.message.startsWith(prefix) ? `--keep-below ${e.message.slice("layer ".length)}` : e.message;
}
function cliMessage(e) {
  const hint = HINTS[e.code];
  return hint ? hint(e) : e.message;
}

// src/cli/main.ts
var COMMANDS = [
  ["decode", async () => (await import("./decode-FCIKBQBS.js")).registerDecode],
  ["encode", async () => (await import("./encode-3DHZA7QL.js")).registerEncode],
  ["dedup", async () => (await import("./dedup-L4PSAFFK.js")).registerDedup],
  ["diff", async () => (await import("./diff-PVSQFPDT.js")).registerDiff],
  ["export", async () => (await import("./export-H3SNDXYE.js")).registerExport],
  ["delta", async () => (await import("./delta-YOUU42KR.js")).registerDelta],
  ["squash", async () => (await import("./squash-23ECLA3D.js")).registerSquash],
  ["show", async () => (await import("./show-7AYRMSQG.js")).registerShow],
  ["maps", async () => (await import("./maps-ELYSR4WY.js")).registerMaps],
  ["read", async () => (await import("./read-RIB5KSX7.js")).registerRead],
  ["verify", async () => (await import("./verify-FKXX2JNH.js")).registerVerify],
  ["inspect", async () => (await import("./inspect-AXDGBB74.js")).registerInspect],
  ["search", async () => (await import("./search-V4CFMR7T.js")).registerSearch],
  ["page-server", async () => (await import("./page-server-7SCLOYVX.js")).registerPageServer],
  ["add-images", async () => (await import("./add-images-FFYBJ5RC.js")).registerAddImages],
  ["lazy-images", async () => (await import("./lazy-images-6HMJZGS4.js")).registerLazyImages],
  ["ui", async () => (await import("./ui-GAJKRTK2.js")).registerUi]
];
async function buildProgram(only) {
  const one = COMMANDS.find(([name]) => name === only);
  const program = baseProgram();
  for (const [, load] of one ? [one] : COMMANDS) (await load())(program);
  return program;
}
function packageVersion() {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  return pkg.version;
}
function baseProgram() {
  const program = new Command().name("pagestack").description("Read, verify and maintain CRIU checkpoint images and incremental snapshot stacks").version(packageVersion()).showHelpAfterError(false).exitOverride();
  program.configureOutput({
    writeOut: (s) => cliStreams().stdout(s),
    writeErr: (s) => cliStreams().stderr(s),
    // one line: commander puts its "(Did you mean ...?)" suggestion on a line of its own
    outputError: (s, write) => write(`${s.startsWith("error:") ? `pagestack: ${s}` : s}`.trimEnd().replace(/\n+/g, " ") + "\n")
  });
  return program;
}
async function runCli(argv, streams = processStreams) {
  const prevStreams = setCliStreams(streams);
  const prevExit = process.exitCode;
  process.exitCode = void 0;
  try {
    const program = await buildProgram(argv[0]);
    const first = argv[0];
    const unknown = first !== void 0 && !first.startsWith("-") && first !== "help" && !COMMANDS.some(([n]) => n === first);
    await program.parseAsync(unknown ? [first] : argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    return reportError(err);
  } finally {
    setCliStreams(prevStreams);
    if (streams !== processStreams) process.exitCode = prevExit;
  }
}
function reportError(err) {
  const stderr = (line) => cliStreams().stderr(`pagestack: ${oneLine(line)}
`);
  if (err instanceof CommanderError) {
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return 0;
    if (err.code === "commander.help") return err.exitCode === 0 ? 0 : 2;
    return 2;
  }
  if (err instanceof UsageError) {
    stderr(err.message);
    return 2;
  }
  if (err instanceof PagestackError) {
    stderr(cliMessage(err));
    return 1;
  }
  const e = err;
  if (e && e.code === "EPIPE") return 0;
  if (e && typeof e === "object" && typeof e.code === "string" && typeof e.message === "string") {
    stderr(e.message);
    return 1;
  }
  if (err instanceof RangeError && /string length|allocation|buffer/i.test(err.message)) {
    stderr(`out of memory: ${err.message}`);
    return 1;
  }
  if (process.env["PAGESTACK_DEBUG"]) cliStreams().stderr(`${String(err?.stack ?? err)}
`);
  stderr(`internal error: ${String(err?.message ?? err)} (set PAGESTACK_DEBUG=1 for details)`);
  return 1;
}
function oneLine(s) {
  return s.replace(/\s*\n\s*/g, " ").trim();
}
function isEntryPoint() {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}
if (isEntryPoint()) {
  process.stdout.on("error", (e) => {
    if (e.code === "EPIPE") process.exit(0);
  });
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.exitCode = reportError(err);
    }
  );
}
export {
  buildProgram,
  reportError,
  runCli
};
