import {
  formatBytes
} from "./chunk-NB7SHFDT.js";

// src/cli/format.ts
function commas(n) {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}
function formatPages(pages) {
  return `${commas(pages)} page${pages === 1 ? "" : "s"} (${formatBytes(pages * 4096)})`;
}
function table(rows, align = [], indent = "") {
  const widths = [];
  for (const r of rows) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  }
  return rows.map(
    (r) => indent + r.map((c, i) => {
      const last = i === r.length - 1;
      if (align[i] === "r") return c.padStart(widths[i]);
      return last ? c : c.padEnd(widths[i]);
    }).join("  ").trimEnd()
  ).join("\n");
}
var HEXDIGITS = new TextEncoder().encode("0123456789abcdef");
var HEXPAIR = new Uint8Array(512);
for (let i = 0; i < 256; i++) {
  HEXPAIR[2 * i] = HEXDIGITS[i >> 4];
  HEXPAIR[2 * i + 1] = HEXDIGITS[i & 15];
}
function hexdumpWidth(addr, len) {
  return Math.max(8, (addr + Math.max(len, 1) - 1).toString(16).length);
}
function hexdumpBytes(bytes, addr, width = hexdumpWidth(addr, bytes.length)) {
  const lineLen = width + 2 + 39 + 2 + 16 + 1;
  const lines = Math.ceil(bytes.length / 16);
  const out = new Uint8Array(lines * lineLen);
  let o = 0;
  const digits = new Uint8Array(width);
  let a = addr;
  for (let k = width - 1; k >= 0; k--) {
    digits[k] = a % 16;
    a = Math.floor(a / 16);
  }
  for (let off = 0; off < bytes.length; off += 16) {
    for (let k = 0; k < width; k++) out[o++] = HEXDIGITS[digits[k]];
    out[o++] = 58;
    out[o++] = 32;
    const n = Math.min(16, bytes.length - off);
    let asc = o + 39 + 2;
    for (let i = 0; i < 16; i++) {
      if (i < n) {
        const b = bytes[off + i];
        out[o] = HEXPAIR[2 * b];
        out[o + 1] = HEXPAIR[2 * b + 1];
        out[asc++] = b >= 32 && b < 127 ? b : 46;
      } else {
        out[o] = 32;
        out[o + 1] = 32;
      }
      o += 2;
      if (i % 2 === 1 && i < 15) out[o++] = 32;
    }
    out[o++] = 32;
    out[o++] = 32;
    o = asc;
    out[o++] = 10;
    for (let k = width - 2; k >= 0; k--) {
      if (digits[k] < 15) {
        digits[k]++;
        break;
      }
      digits[k] = 0;
    }
  }
  return out.subarray(0, o);
}
function toJson(value, pretty = true) {
  return JSON.stringify(
    value,
    (_k, v) => typeof v === "bigint" ? v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString() : v,
    pretty ? 2 : void 0
  );
}

export {
  commas,
  formatPages,
  table,
  hexdumpWidth,
  hexdumpBytes,
  toJson
};
