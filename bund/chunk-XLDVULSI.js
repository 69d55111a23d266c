import {
  Option
} from "./chunk-524M245C.js";
import {
  UsageError
} from "./chunk-XLWXTOJZ.js";

// src/cli/options.ts
var SUFFIX = {
  "": 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4
};
function parse(text) {
  const m = /^(0x[0-9a-f]+|[0-9]+)(?:([kmgt])(?:i?b)?)?$/i.exec(text.trim().replace(/_/g, ""));
  if (!m) return null;
  const suffix = (m[2] ?? "").toLowerCase();
  return { value: BigInt(m[1]) * BigInt(SUFFIX[suffix]), suffix };
}
function parseNumber(text, what, sizes = false) {
  const p = parse(text);
  if (!p || p.suffix && !sizes) {
    throw new UsageError(
      `${what} '${text}': expected a number in hex (0x...) or decimal${sizes ? ", optionally with a K/M/G suffix" : ""}`
    );
  }
  if (p.value > BigInt(Number.MAX_SAFE_INTEGER))
    throw new UsageError(`${what} '${text}' is too large (above 2^53)`);
  return Number(p.value);
}
function parseAddress(text, what) {
  const p = parse(text);
  if (!p || p.suffix) throw new UsageError(`${what}: expected an address (0x... or decimal), got '${text}'`);
  if (p.value > BigInt(Number.MAX_SAFE_INTEGER)) throw new UsageError(`${what}: ${text} is beyond 2^53`);
  return Number(p.value);
}
var PID_MAX = 1073741823;
function parsePid(text) {
  if (text === void 0) return void 0;
  if (!/^[0-9]+$/.test(text) || Number(text) <= 0 || Number(text) > PID_MAX) {
    throw new UsageError(`--pid '${text}': expected a process id`);
  }
  return Number(text);
}
function parsePort(text, what = "--port") {
  if (text === void 0) return 0;
  if (!/^[0-9]+$/.test(text) || Number(text) > 65535) {
    throw new UsageError(`${what} '${text}': expected a port number (0 to 65535; 0 = any free port)`);
  }
  return Number(text);
}
function parentOption(flag = "--parent", of = "the target") {
  return new Option(
    `${flag} <target>`,
    `archive or image directory holding the layer below ${of}'s top layer (replaces its parent link)`
  );
}

export {
  parseNumber,
  parseAddress,
  parsePid,
  parsePort,
  parentOption
};
