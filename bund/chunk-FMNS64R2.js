import {
  LAZY,
  PAGE_SIZE,
  findExtent,
  vmaName
} from "./chunk-NB7SHFDT.js";
import {
  SearchPatternError
} from "./chunk-XLWXTOJZ.js";

// src/ops/search.ts
var escapeByte = (b) => `\\x${b.toString(16).padStart(2, "0")}`;
function compilePattern(text, opts = {}) {
  if (opts.hex && opts.regex)
    throw new SearchPatternError("a pattern is either hex bytes or a regular expression, not both");
  if (opts.hex) {
    const tokens = text.replace(/0x/gi, "").trim().split(/[\s,]+/).filter(Boolean);
    const parts = [];
    for (const t of tokens) {
      if (!/^([0-9a-f]{2}|\?\?)+$/i.test(t)) {
        throw new SearchPatternError(`hex pattern "${text}": "${t}" is not hex bytes (e.g. "48 8b ?? 24")`);
      }
      for (let i = 0; i < t.length; i += 2)
        parts.push(t.slice(i, i + 2) === "??" ? null : Number.parseInt(t.slice(i, i + 2), 16));
    }
    if (parts.length === 0) throw new SearchPatternError("hex pattern: no bytes given");
    if (opts.utf16) throw new SearchPatternError("UTF-16 applies to text patterns, not to hex bytes");
    if (parts.every((p) => p !== null)) {
      return {
        kind: "hex",
        bytes: Uint8Array.from(parts),
        regex: null,
        maxLength: parts.length,
        text
      };
    }
    const src = parts.map((p) => p === null ? "[\\s\\S]" : escapeByte(p)).join("");
    return { kind: "hex", bytes: null, regex: new RegExp(src, "g"), maxLength: parts.length, text };
  }
  if (opts.regex) {
    if (opts.utf16)
      throw new SearchPatternError("UTF-16 applies to literal text, not to regular expressions");
    let re;
    try {
      re = new RegExp(text, "g");
    } catch (e) {
      throw new SearchPatternError(`regular expression "${text}": ${e.message}`);
    }
    return { kind: "regex", bytes: null, regex: re, maxLength: opts.maxMatch ?? 4096, text };
  }
  const bytes = opts.utf16 ? Buffer.from(text, "utf16le") : Buffer.from(text, "utf8");
  if (bytes.length === 0) throw new SearchPatternError("empty pattern");
  return { kind: "literal", bytes: new Uint8Array(bytes), regex: null, maxLength: bytes.length, text };
}
var SEARCH_CHUNK = 128 * 1024;
var num = (v) => typeof v === "bigint" ? Number(v) : typeof v === "number" ? v : 0;
function perms(v) {
  return (v.prot & 1 ? "r" : "-") + (v.prot & 2 ? "w" : "-") + (v.prot & 4 ? "x" : "-") + (v.flags & 1 ? "s" : "p");
}
function* runsOf(mem) {
  const x = mem.extents;
  let i = 0;
  while (i < x.count) {
    if (x.layer[i] === LAZY) {
      i++;
      continue;
    }
    const s = x.start[i];
    let e = x.end[i];
    i++;
    while (i < x.count && x.layer[i] !== LAZY && x.start[i] === e) e = x.end[i++];
    yield [s * PAGE_SIZE, e * PAGE_SIZE];
  }
}
function layerAt(mem, addr) {
  const x = mem.extents;
  const i = findExtent(x, Math.floor(addr / PAGE_SIZE));
  return i < x.count ? x.layer[i] : LAZY;
}
function findIn(p, buf, len, limit, out) {
  if (p.bytes) {
    const view = buf.subarray(0, len);
    let at = view.indexOf(p.bytes, 0);
    while (at >= 0 && at < limit) {
      out.push(at, p.bytes.length);
      at = view.indexOf(p.bytes, at + 1);
    }
    return;
  }
  const re = p.regex;
  const text = buf.toString("latin1", 0, len);
  re.lastIndex = 0;
  for (; ; ) {
    const m = re.exec(text);
    if (!m || m.index >= limit) break;
    if (m[0].length > 0) out.push(m.index, m[0].length);
    re.lastIndex = m.index + 1;
  }
}
async function searchStack(stack, pattern, opts) {
  const chunk = Math.max(opts.chunkSize ?? SEARCH_CHUNK, pattern.maxLength * 2, PAGE_SIZE);
  const ctx = Math.max(0, opts.context ?? 16);
  const overlap = pattern.maxLength - 1;
  const buf = Buffer.allocUnsafe(chunk + overlap);
  const procs = await stack.processes();
  const pids = opts.pid === void 0 ? procs.map((p) => p.pid) : [await stack.pickPid(opts.pid)];
  const files = /* @__PURE__ */ new Map();
  for (const e of (await stack.image("files.img"))?.entries ?? []) {
    const reg = e["reg"];
    if (reg && typeof reg["name"] === "string") files.set(num(e["id"]), reg["name"]);
  }
  const objects = [];
  const sharedObjs = /* @__PURE__ */ new Map();
  for (const pid of pids) {
    if (!stack.top.files.includes(`pagemap-${pid}.img`)) continue;
    const pm = await stack.process(pid);
    const privMaps = [];
    for (const v of pm.vmas) {
      const shm = pm.shared.get(v);
      const file = shm ? await stack.shmemPagemapFor(v) : null;
      const m = { pid, vma: v, name: vmaName(v, files, file) };
      if (shm && file) {
        let o = sharedObjs.get(file);
        if (!o) {
          o = { mem: shm, shared: file, pid, maps: [] };
          sharedObjs.set(file, o);
        }
        o.maps.push(m);
      } else privMaps.push(m);
    }
    objects.push({ mem: pm.private, shared: null, pid, maps: privMaps });
  }
  objects.push(...sharedObjs.values());
  let matches = 0;
  let bytesSearched = 0;
  const found = [];
  for (const obj of objects) {
    const { mem } = obj;
    const where = (at) => {
      if (!obj.shared) {
        const m = obj.maps.find((x) => x.vma.start <= at && at < x.vma.end) ?? null;
        return [{ pid: obj.pid, address: at, m }];
      }
      const out = [];
      for (const m of obj.maps) {
        const off = at - m.vma.pgoff;
        if (off >= 0 && off < m.vma.end - m.vma.start)
          out.push({ pid: m.pid, address: m.vma.start + off, m });
      }
      return out;
    };
    for (const [runStart, runEnd] of runsOf(mem)) {
      let pos = runStart;
      while (pos < runEnd) {
        const len = Math.min(chunk + overlap, runEnd - pos);
        const last = pos + len >= runEnd;
        mem.readIntoSync(buf.subarray(0, len), pos);
        const limit = last ? len : len - overlap;
        found.length = 0;
        findIn(pattern, buf, len, limit, found);
        for (let k = 0; k < found.length; k += 2) {
          const at = pos + found[k];
          const mlen = found[k + 1];
          const cs = Math.max(runStart, at - ctx);
          const ce = Math.min(runEnd, at + mlen + ctx);
          const context = new Uint8Array(ce - cs);
          mem.readIntoSync(context, cs);
          const layer = layerAt(mem, at);
          for (const w of where(at)) {
            matches++;
            opts.onMatch({
              pid: w.pid,
              address: w.address,
              length: mlen,
              vma: w.m ? { start: w.m.vma.start, end: w.m.vma.end, perms: perms(w.m.vma), name: w.m.name } : null,
              layer,
              layerName: mem.layerNames[layer] ?? "?",
              shared: obj.shared,
              contextStart: w.address - (at - cs),
              context
            });
          }
        }
        bytesSearched += limit;
        pos += limit;
      }
    }
  }
  return { matches, bytesSearched, objects: objects.length };
}

export {
  compilePattern,
  searchStack
};
