import {
  writeFileAtomic
} from "./chunk-XWEEP4RX.js";
import {
  partitionPoint
} from "./chunk-5LGPV2OV.js";
import {
  encodeFromJsonText
} from "./chunk-5F5SDADC.js";
import {
  cliStreams,
  readWholeFile
} from "./chunk-KQHSUXQF.js";
import {
  ImageJsonError
} from "./chunk-XLWXTOJZ.js";

// src/cli/encode.ts
var utf8 = new TextDecoder("utf-8", { fatal: true });
function jsonText(bytes) {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ImageJsonError(`invalid UTF-8 at byte offset ${badUtf8Offset(bytes)}, expected JSON text`, "$");
  }
}
function badUtf8Offset(bytes) {
  const decodes = (n) => {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, n), { stream: true });
      return true;
    } catch {
      return false;
    }
  };
  const lo = partitionPoint(1, bytes.length + 1, decodes) - 1;
  let k = lo - 1;
  while (k >= 0 && lo - k <= 3 && (bytes[k] & 192) === 128) k--;
  if (k < 0 || lo - k > 3) return lo;
  const lead = bytes[k];
  const need = lead >= 240 ? 4 : lead >= 224 ? 3 : lead >= 192 ? 2 : 1;
  return need > lo - k ? k : lo;
}
function registerEncode(program) {
  program.command("encode").description("encode crit-style JSON (plain or --pretty form) back into a CRIU image").argument("<file>", 'JSON file ("-" for stdin)').option("-o, --output <out>", "write the image here instead of stdout").action(async (file, opts) => {
    const bytes = file === "-" ? await cliStreams().stdin() : await readWholeFile(file);
    let img;
    try {
      img = encodeFromJsonText(jsonText(bytes));
    } catch (e) {
      if (e instanceof ImageJsonError) throw e.withFile(file === "-" ? "<stdin>" : file);
      throw e;
    }
    if (opts.output) await writeFileAtomic(opts.output, img);
    else cliStreams().stdout(img);
  });
}
export {
  registerEncode
};
