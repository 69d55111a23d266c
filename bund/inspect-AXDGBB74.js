import {
  commas,
  table,
  toJson
} from "./chunk-ODFIKAPB.js";
import {
  parentOption
} from "./chunk-XLDVULSI.js";
import "./chunk-524M245C.js";
import {
  openTarget
} from "./chunk-GSAO6ZCS.js";
import "./chunk-NB7SHFDT.js";
import {
  ArchiveLayerSource
} from "./chunk-IJRLALQZ.js";
import "./chunk-5LGPV2OV.js";
import {
  decodeImage
} from "./chunk-5F5SDADC.js";
import {
  cliStreams
} from "./chunk-KQHSUXQF.js";
import {
  ImageFormatError,
  MemoryAccessError
} from "./chunk-XLWXTOJZ.js";

// src/ops/inspect.ts
var TASK_STATES = { 1: "alive", 2: "dead", 3: "stopped", 6: "zombie" };
var FSTYPES = {
  0: "unsupported",
  1: "proc",
  2: "sysfs",
  3: "devtmpfs",
  4: "binfmt_misc",
  5: "tmpfs",
  6: "devpts",
  7: "simfs",
  8: "pstore",
  9: "securityfs",
  10: "fusectl",
  11: "debugfs",
  12: "cgroup",
  13: "aufs",
  14: "mqueue",
  15: "fuse",
  16: "auto",
  17: "overlayfs",
  18: "autofs",
  19: "tracefs",
  23: "cgroup2"
};
var FILE_KINDS = [
  ["reg", "REG"],
  ["pipe", "PIPE"],
  ["fifo", "FIFO"],
  ["isk", "INETSK"],
  ["usk", "UNIXSK"],
  ["psk", "PACKETSK"],
  ["nlsk", "NETLINKSK"],
  ["efd", "EVENTFD"],
  ["epfd", "EVENTPOLL"],
  ["sgfd", "SIGNALFD"],
  ["tunf", "TUNF"],
  ["tfd", "TIMERFD"],
  ["ffd", "FANOTIFY"],
  ["ifd", "INOTIFY"],
  ["ext", "EXT"],
  ["tty", "TTY"],
  ["memfd", "MEMFD"],
  ["bpf", "BPFMAP"],
  ["pidfd", "PIDFD"],
  ["nsf", "NS"]
];
var num = (v) => typeof v === "bigint" ? Number(v) : typeof v === "number" ? v : 0;
var str = (v) => typeof v === "string" ? v : null;
function fileKind(e) {
  for (const [k, kind] of FILE_KINDS) if (e[k] !== void 0) return [kind, e[k]];
  return ["UND", void 0];
}
function describeFile(kind, sub) {
  if (!sub) return kind.toLowerCase();
  if (kind === "REG" || kind === "FIFO") return str(sub["name"]) ?? "?";
  if (kind === "PIPE") return `pipe:[${num(sub["pipe_id"])}]`;
  if (kind === "MEMFD") return `memfd:${str(sub["name"]) ?? ""}`;
  if (kind.endsWith("SK")) return `socket:[${num(sub["ino"])}]`;
  return kind.toLowerCase();
}
function ip(v) {
  const a = Array.isArray(v) ? v.map(num) : [];
  if (a.length === 1)
    return [24, 16, 8, 0].map((s) => a[0] >>> 0 >>> s).map((x, i) => (i === 0 ? x : x & 255) & 255).reverse().join(".");
  if (a.length === 4) return a.map((w) => (w >>> 0).toString(16)).join(":");
  return "?";
}
function socketOf(kind, sub, fd) {
  if (kind === "UNIXSK") {
    const name = sub["name"];
    const text = name instanceof Uint8Array ? new TextDecoder().decode(name).replace(/\0/g, "@") : "";
    return {
      fd,
      family: "unix",
      type: num(sub["type"]),
      state: num(sub["state"]),
      ino: num(sub["ino"]),
      address: text
    };
  }
  if (kind === "INETSK") {
    return {
      fd,
      family: num(sub["family"]) === 10 ? "inet6" : "inet",
      type: num(sub["type"]),
      state: num(sub["state"]),
      ino: num(sub["ino"]),
      address: `${ip(sub["src_addr"])}:${num(sub["src_port"])} -> ${ip(sub["dst_addr"])}:${num(sub["dst_port"])}`
    };
  }
  return {
    fd,
    family: kind.replace(/SK$/, "").toLowerCase(),
    type: num(sub["type"]),
    state: 0,
    ino: num(sub["ino"]),
    address: ""
  };
}
function splitNul(b) {
  const s = new TextDecoder().decode(b);
  const parts = s.split("\0");
  if (parts[parts.length - 1] === "") parts.pop();
  return parts;
}
async function containerInfo(a) {
  const parse = async (name) => {
    const t = await a.readText(name);
    if (t === null) return null;
    try {
      const v = JSON.parse(t);
      return v && typeof v === "object" ? v : null;
    } catch {
      return null;
    }
  };
  const config = await parse("config.dump");
  const spec = await parse("spec.dump");
  if (!config && !spec) return null;
  const ann = {};
  const rawAnn = spec?.["annotations"];
  if (rawAnn && typeof rawAnn === "object") {
    for (const [k, v] of Object.entries(rawAnn))
      if (typeof v === "string") ann[k] = v;
  }
  const cp = a.index.members.find((m) => m.name === (a.imageDir || "checkpoint"));
  const proc = spec?.["process"];
  const args = Array.isArray(proc?.["args"]) ? proc["args"].filter((x) => typeof x === "string") : null;
  const cmd = Array.isArray(config?.["command"]) ? config["command"].filter((x) => typeof x === "string") : args;
  return {
    id: str(config?.["id"]) ?? ann["io.kubernetes.cri-o.ContainerID"] ?? null,
    name: ann["io.kubernetes.container.name"] ?? str(config?.["name"]) ?? ann["io.kubernetes.cri-o.Name"] ?? null,
    image: str(config?.["rootfsImageName"]) ?? ann["io.kubernetes.cri-o.ImageName"] ?? null,
    imageId: str(config?.["rootfsImageID"]) ?? str(config?.["rootfsImageRef"]) ?? null,
    runtime: str(config?.["runtime"]) ?? str(config?.["OCIRuntime"]) ?? null,
    created: str(config?.["createdTime"]) ?? ann["io.kubernetes.cri-o.Created"] ?? null,
    ...checkpointedTime(config, a, cp),
    pod: ann["io.kubernetes.pod.name"] ?? str(config?.["pod"]) ?? null,
    namespace: ann["io.kubernetes.pod.namespace"] ?? null,
    command: cmd,
    annotations: ann
  };
}
function checkpointedTime(config, a, imageDir) {
  const fromConfig = str(config?.["checkpointedTime"]);
  if (fromConfig) return { checkpointed: fromConfig, checkpointedSource: "config.dump" };
  const stats = a.index.members.find((m) => m.name === "stats-dump") ?? a.index.members.find((m) => m.name === (a.imageDir ? `${a.imageDir}/stats-dump` : "stats-dump"));
  const at = (m) => new Date(m.mtime * 1e3).toISOString();
  if (stats && stats.mtime > 0) return { checkpointed: at(stats), checkpointedSource: "stats-dump" };
  if (imageDir && imageDir.mtime > 0) return { checkpointed: at(imageDir), checkpointedSource: "image-dir" };
  return { checkpointed: null, checkpointedSource: null };
}
async function inspectStack(stack, target, opts = {}) {
  const a = opts.archive ?? null;
  const maxArg = opts.maxArgBytes ?? 1 << 20;
  const files = await stack.image("files.img");
  const fileById = /* @__PURE__ */ new Map();
  for (const e of files?.entries ?? []) fileById.set(num(e["id"]), e);
  const pathOf = (id) => {
    const e = fileById.get(id);
    if (!e) return null;
    const [kind, sub] = fileKind(e);
    return describeFile(kind, sub);
  };
  const processes = [];
  for (const p of await stack.processes()) {
    const core = await stack.image(`core-${p.pid}.img`);
    const tc = core?.entries[0]?.["tc"];
    const mm = (await stack.image(`mm-${p.pid}.img`))?.entries[0];
    const fs = (await stack.image(`fs-${p.pid}.img`))?.entries[0];
    const ids = (await stack.image(`ids-${p.pid}.img`))?.entries[0];
    let cmdline = null;
    let environment = null;
    let memoryNote = null;
    if (mm && stack.top.files.includes(`pagemap-${p.pid}.img`)) {
      try {
        const mem = await stack.process(p.pid);
        const range = async (s, e) => {
          const start = num(s);
          const len = Math.min(Math.max(0, num(e) - start), maxArg);
          return len === 0 ? [] : splitNul(await mem.read(start, len));
        };
        cmdline = await range(mm["mm_arg_start"], mm["mm_arg_end"]);
        environment = await range(mm["mm_env_start"], mm["mm_env_end"]);
      } catch (e) {
        if (!(e instanceof MemoryAccessError)) throw e;
        memoryNote = `argument/environment memory not readable: ${e.message}`;
      }
    } else memoryNote = "no memory dumped for this process";
    const fdinfo = ids ? await stack.image(`fdinfo-${num(ids["files_id"])}.img`) : null;
    const pfiles = [];
    const sockets = [];
    for (const fe of fdinfo?.entries ?? []) {
      const fd = num(fe["fd"]);
      const e = fileById.get(num(fe["id"]));
      const [kind, sub] = e ? fileKind(e) : ["UND", void 0];
      pfiles.push({ fd, type: kind, path: describeFile(kind, sub) });
      if (kind.endsWith("SK") && sub) sockets.push(socketOf(kind, sub, fd));
    }
    processes.push({
      pid: p.pid,
      ppid: p.ppid,
      pgid: p.pgid,
      sid: p.sid,
      threads: [...p.threads],
      comm: str(tc?.["comm"]),
      state: TASK_STATES[num(tc?.["task_state"])] ?? `state ${num(tc?.["task_state"])}`,
      cmdline,
      environment,
      memoryNote,
      exe: mm ? pathOf(num(mm["exe_file_id"])) : null,
      cwd: fs ? pathOf(num(fs["cwd_id"])) : null,
      root: fs ? pathOf(num(fs["root_id"])) : null,
      files: pfiles,
      sockets
    });
  }
  const mounts = [];
  const rootIds = processes[0] ? (await stack.image(`ids-${processes[0].pid}.img`))?.entries[0] : void 0;
  const mnt = rootIds ? await stack.image(`mountpoints-${num(rootIds["mnt_ns_id"])}.img`) : null;
  for (const m of mnt?.entries ?? []) {
    mounts.push({
      id: num(m["mnt_id"]),
      parent: num(m["parent_mnt_id"]),
      mountpoint: str(m["mountpoint"]) ?? "?",
      fstype: str(m["fsname"]) ?? FSTYPES[num(m["fstype"])] ?? `fstype ${num(m["fstype"])}`,
      source: str(m["source"]) ?? "",
      root: str(m["root"]) ?? "",
      options: str(m["options"]) ?? ""
    });
  }
  mounts.sort((x, y) => x.mountpoint < y.mountpoint ? -1 : x.mountpoint > y.mountpoint ? 1 : x.id - y.id);
  let statsImg = await stack.image("stats-dump");
  if (!statsImg && a) {
    const raw = await a.readMember("stats-dump");
    if (raw) {
      try {
        statsImg = decodeImage(raw);
      } catch (e) {
        if (e instanceof ImageFormatError) throw e.withFile(`${a.path}:stats-dump`);
        throw e;
      }
    }
  }
  let stats = null;
  const dump = statsImg?.entries[0]?.["dump"];
  if (dump) {
    stats = {};
    for (const [k, v] of Object.entries(dump)) stats[k] = num(v);
  }
  const layers = [];
  const held = /* @__PURE__ */ new Map();
  for (const l of stack.layers) held.set(l.index, { pages: 0, used: 0 });
  for (const f of stack.top.files.filter((x) => /^pagemap-.*\.img$/.test(x))) {
    const r = await stack.resolve(f);
    for (const [i, pl] of r.perLayer.entries()) {
      const h = held.get(i);
      if (!h) continue;
      h.pages += pl.presentPages;
      h.used += pl.resolvedPages;
    }
  }
  for (const l of stack.layers) {
    const above = l.index > 0 ? new Set(stack.layers[l.index - 1].files) : null;
    layers.push({
      index: l.index,
      name: l.source.name,
      files: l.files.length,
      pages: held.get(l.index).pages,
      pagesUsed: held.get(l.index).used,
      adds: above ? l.files.filter((f) => !above.has(f)) : []
    });
  }
  return {
    target,
    engine: a ? a.engine : "criu",
    archive: a ? { path: a.path, format: a.format, imageDir: a.imageDir, members: a.index.members.length } : null,
    container: a ? await containerInfo(a) : null,
    processes,
    mounts,
    stats,
    layers
  };
}

// src/cli/inspect.ts
function registerInspect(program) {
  program.command("inspect").description(
    "show what a checkpoint holds: container, process tree, files, sockets, mounts, statistics, layers"
  ).argument("<target>", "checkpoint archive (tar, .tar.gz, .tar.zst) or image directory").addOption(parentOption()).option("--ps-tree", "the process tree with state, command line and environment (read from memory)").option("--files", "open files, cwd and root of each process").option("--sockets", "sockets of each process").option("--mounts", "mounts of the root task").option("--stats", "CRIU's dump statistics").option("--all", "every section").option("--json", "the whole report as JSON").action(async (target, opts) => {
    const stack = await openTarget(target, { parent: opts.parent });
    try {
      const report = await inspectStack(stack, target, {
        archive: stack.top.source instanceof ArchiveLayerSource ? stack.top.source.archive : null
      });
      if (opts.json) {
        cliStreams().stdout(`${toJson(report)}
`);
        return;
      }
      const all = opts.all === true;
      cliStreams().stdout(
        formatInspect(report, {
          psTree: all || opts.psTree === true,
          files: all || opts.files === true,
          sockets: all || opts.sockets === true,
          mounts: all || opts.mounts === true,
          stats: all || opts.stats === true
        })
      );
    } finally {
      await stack.close();
    }
  });
}
function quote(args) {
  return args.map((a) => /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`).join(" ");
}
function treeLines(procs, s) {
  const byParent = /* @__PURE__ */ new Map();
  const pids = new Set(procs.map((p) => p.pid));
  for (const p of procs) {
    const key = pids.has(p.ppid) ? p.ppid : -1;
    const list = byParent.get(key) ?? [];
    list.push(p);
    byParent.set(key, list);
  }
  const out = [];
  const walk = (p, prefix, last, root) => {
    const head = root ? "" : `${prefix}${last ? "\u2514\u2500\u2500 " : "\u251C\u2500\u2500 "}`;
    const cmd = p.cmdline ? quote(p.cmdline) : `(${p.memoryNote ?? "no command line"})`;
    out.push(
      `${head}${p.pid} ${p.comm ?? "?"} [${p.state}${p.threads.length > 1 ? `, ${p.threads.length} threads` : ""}] ${cmd}`
    );
    const inner = root ? "" : `${prefix}${last ? "    " : "\u2502   "}`;
    if (s.psTree && p.environment) for (const e of p.environment) out.push(`${inner}    env ${e}`);
    if (s.files) {
      out.push(`${inner}    cwd ${p.cwd ?? "?"}  root ${p.root ?? "?"}  exe ${p.exe ?? "?"}`);
      for (const f of p.files) out.push(`${inner}    fd ${f.fd} ${f.type} ${f.path}`);
    }
    if (s.sockets) {
      if (p.sockets.length === 0) out.push(`${inner}    (no sockets)`);
      for (const k of p.sockets) {
        out.push(
          `${inner}    socket fd ${k.fd ?? "-"} ${k.family} type ${k.type} state ${k.state} ino ${k.ino} ${k.address}`
        );
      }
    }
    const kids = byParent.get(p.pid) ?? [];
    for (const [i, k] of kids.entries()) walk(k, inner, i === kids.length - 1, false);
  };
  for (const r of byParent.get(-1) ?? []) walk(r, "", true, true);
  return out;
}
function formatInspect(r, s) {
  const out = [];
  out.push(`${r.target}`);
  if (r.archive) {
    out.push(
      `  engine       ${r.engine} (${r.archive.format} archive, ${r.archive.members} members, images in ${r.archive.imageDir || "."}/)`
    );
  } else out.push(`  engine       bare CRIU image directory`);
  const c = r.container;
  if (c) {
    const rows2 = [
      ["name", c.name],
      ["id", c.id],
      ["image", c.image && c.imageId ? `${c.image} (${c.imageId.slice(0, 12)})` : c.image ?? c.imageId],
      ["runtime", c.runtime],
      ["created", c.created],
      [
        "checkpointed",
        c.checkpointed === null ? null : `${c.checkpointed}${c.checkpointedSource === "config.dump" ? "" : ` (${c.checkpointedSource === "stats-dump" ? "time of stats-dump, CRIU's last file" : "time of the image directory"})`}`
      ],
      ["pod", c.pod],
      ["namespace", c.namespace],
      ["command", c.command ? quote(c.command) : null]
    ];
    for (const [k, v] of rows2) if (v !== null) out.push(`  ${k.padEnd(12)} ${v}`);
    const ann = Object.entries(c.annotations);
    if (ann.length > 0) {
      out.push("  annotations");
      for (const [k, v] of ann) out.push(`    ${k}=${v}`);
    }
  }
  out.push("");
  out.push(`process tree (${r.processes.length} process${r.processes.length === 1 ? "" : "es"}):`);
  for (const l of treeLines(r.processes, s)) out.push(`  ${l}`);
  if (s.mounts) {
    out.push("");
    out.push(`mounts (${r.mounts.length}):`);
    const rows2 = [["id", "parent", "mountpoint", "type", "source", "root"]];
    for (const m of r.mounts)
      rows2.push([String(m.id), String(m.parent), m.mountpoint, m.fstype, m.source, m.root]);
    out.push(table(rows2, ["r", "r", "l", "l", "l", "l"], "  "));
  }
  if (s.stats) {
    out.push("");
    if (!r.stats) out.push("dump statistics: none (no stats-dump)");
    else {
      const st = r.stats;
      const ms = (k) => `${((st[k] ?? 0) / 1e3).toFixed(3)} ms`;
      out.push("dump statistics (stats-dump):");
      out.push(`  freezing time     ${ms("freezing_time")}`);
      out.push(`  frozen time       ${ms("frozen_time")}`);
      out.push(`  memory dump time  ${ms("memdump_time")}`);
      out.push(`  memory write time ${ms("memwrite_time")}`);
      out.push(`  pages scanned     ${commas(st["pages_scanned"] ?? 0)}`);
      out.push(`  pages written     ${commas(st["pages_written"] ?? 0)}`);
      out.push(`  skipped (parent)  ${commas(st["pages_skipped_parent"] ?? 0)}`);
      out.push(`  lazy              ${commas(st["pages_lazy"] ?? 0)}`);
    }
  }
  out.push("");
  out.push("layers (0 = top):");
  const rows = [["#", "layer", "files", "pages held", "pages used", "adds"]];
  for (const l of r.layers) {
    rows.push([
      String(l.index),
      l.name,
      String(l.files),
      commas(l.pages),
      commas(l.pagesUsed),
      l.adds.join(" ") || "-"
    ]);
  }
  out.push(table(rows, ["r", "l", "r", "r", "r", "l"], "  "));
  return `${out.join("\n")}
`;
}
export {
  formatInspect,
  registerInspect
};
