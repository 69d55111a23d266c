/**
 * What a checkpoint holds, as checkpointctl's `inspect` shows it and more: the container (from an
 * archive's metadata members), the process tree with state, command line and environment READ
 * FROM MEMORY through the stack (the mm image's mm_arg_* / mm_env_* ranges), open files, cwd and
 * root, sockets, mounts, CRIU's dump statistics, and per layer what it adds.
 *
 * The report (InspectReport) is the stable JSON of `pagestack inspect --json`: fields are only
 * ever added; absent information is null, never a guess.
 */

import { ImageFormatError, MemoryAccessError } from '../errors.js';
import { decodeImage } from '../image/image.js';
import type { Message } from '../image/schema.js';
import type { Stack } from '../stack/stack.js';

/** What inspect needs from a checkpoint archive (src/source/archive's Archive fits). */
export interface InspectArchive {
  readonly path: string;
  readonly format: string;
  readonly engine: string;
  readonly imageDir: string;
  readonly index: { readonly members: readonly { name: string; size: number; mtime: number }[] };
  readText(name: string): Promise<string | null>;
  readMember(name: string): Promise<Uint8Array | null>;
}

export interface ContainerInfo {
  id: string | null;
  name: string | null;
  image: string | null;
  imageId: string | null;
  runtime: string | null;
  created: string | null;
  /**
   * When the checkpoint was taken, ISO 8601. From `checkpointedSource`: config.dump's
   * checkpointedTime where the engine writes one (CRI-O, containerd: podman's checkpointedTime
   * lives only in its own database, podman 4.3.1 exports none); else the tar time of stats-dump,
   * which CRIU writes as the last file of a dump (after the tasks are dumped, so at most seconds
   * after the freeze; podman notes its own time right after it); else the time of the image
   * directory member. Tar times are whole seconds.
   */
  checkpointed: string | null;
  checkpointedSource: 'config.dump' | 'stats-dump' | 'image-dir' | null;
  pod: string | null;
  namespace: string | null;
  command: string[] | null;
  annotations: Record<string, string>;
}

export interface FileInfo {
  fd: number;
  type: string;
  /** Path for files, "pipe:[ino]" / "socket:[ino]" / the kind for others. */
  path: string;
}

export interface SocketInfo {
  fd: number | null;
  family: string;
  type: number;
  state: number;
  ino: number;
  /** unix: the socket's name; inet: "src:port -> dst:port". */
  address: string;
}

export interface ProcessReport {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  threads: number[];
  comm: string | null;
  /** CRIU's task_state: 1 alive, 2 dead, 3 stopped, 6 zombie. */
  state: string;
  cmdline: string[] | null;
  environment: string[] | null;
  /** Why cmdline/environment are null, when they are. */
  memoryNote: string | null;
  exe: string | null;
  cwd: string | null;
  root: string | null;
  files: FileInfo[];
  sockets: SocketInfo[];
}

export interface MountInfo {
  id: number;
  parent: number;
  mountpoint: string;
  fstype: string;
  /** CRIU's fstype number (mnt.proto): 0 = UNSUPPORTED, a filesystem CRIU has no driver for. */
  fstypeCode: number;
  source: string;
  root: string;
  options: string;
}

/** A mount of the container's OCI spec (spec.dump): what checkpointctl shows. */
export interface OciMount {
  destination: string;
  type: string;
  /** Host source (a path, or the filesystem name for proc, tmpfs, ...). */
  source: string;
  options: string[];
}

/** Sizes checkpointctl shows, in bytes (null where not known). */
export interface InspectSizes {
  /** The archive file (null for an image directory). */
  archive: number | null;
  /** Memory: the pages files of every layer. */
  memoryPages: number;
  /** The container's root-fs changes (rootfs-diff.tar in the archive), or null. */
  rootfsDiff: number | null;
}

export interface LayerReport {
  /** Position from the top (0 = top). */
  index: number;
  /** The layer's number: 1 = the bottom (the first dump), N = the top. */
  number: number;
  name: string;
  files: number;
  /** Pages this layer holds, over all pagemaps (what it adds to the stack). */
  pages: number;
  /** Of those, pages the stack reads from this layer (not hidden by a layer above). */
  pagesUsed: number;
  /** Image files only this layer has (not in the layer above). */
  adds: string[];
}

export interface InspectReport {
  target: string;
  engine: string;
  archive: { path: string; format: string; imageDir: string; members: number } | null;
  container: ContainerInfo | null;
  processes: ProcessReport[];
  mounts: MountInfo[];
  stats: Record<string, number> | null;
  layers: LayerReport[];
  /** The checkpoint image the archive came from (an oci:// reference or an OCI layout), or null. */
  image: InspectImage | null;
  sizes: InspectSizes;
  /** The container's mounts from spec.dump (null without one). */
  ociMounts: OciMount[] | null;
}

const TASK_STATES: Record<number, string> = { 1: 'alive', 2: 'dead', 3: 'stopped', 6: 'zombie' };
const FSTYPES: Record<number, string> = {
  0: 'unsupported',
  1: 'proc',
  2: 'sysfs',
  3: 'devtmpfs',
  4: 'binfmt_misc',
  5: 'tmpfs',
  6: 'devpts',
  7: 'simfs',
  8: 'pstore',
  9: 'securityfs',
  10: 'fusectl',
  11: 'debugfs',
  12: 'cgroup',
  13: 'aufs',
  14: 'mqueue',
  15: 'fuse',
  16: 'auto',
  17: 'overlayfs',
  18: 'autofs',
  19: 'tracefs',
  23: 'cgroup2',
};
/** files.img: which sub-message a file entry carries -> its kind. */
const FILE_KINDS: [string, string][] = [
  ['reg', 'REG'],
  ['pipe', 'PIPE'],
  ['fifo', 'FIFO'],
  ['isk', 'INETSK'],
  ['usk', 'UNIXSK'],
  ['psk', 'PACKETSK'],
  ['nlsk', 'NETLINKSK'],
  ['efd', 'EVENTFD'],
  ['epfd', 'EVENTPOLL'],
  ['sgfd', 'SIGNALFD'],
  ['tunf', 'TUNF'],
  ['tfd', 'TIMERFD'],
  ['ffd', 'FANOTIFY'],
  ['ifd', 'INOTIFY'],
  ['ext', 'EXT'],
  ['tty', 'TTY'],
  ['memfd', 'MEMFD'],
  ['bpf', 'BPFMAP'],
  ['pidfd', 'PIDFD'],
  ['nsf', 'NS'],
];

const num = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : 0);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function fileKind(e: Message): [string, Message | undefined] {
  for (const [k, kind] of FILE_KINDS) if (e[k] !== undefined) return [kind, e[k] as Message];
  return ['UND', undefined];
}

function describeFile(kind: string, sub: Message | undefined): string {
  if (!sub) return kind.toLowerCase();
  if (kind === 'REG' || kind === 'FIFO') return str(sub['name']) ?? '?';
  if (kind === 'PIPE') return `pipe:[${num(sub['pipe_id'])}]`;
  if (kind === 'MEMFD') return `memfd:${str(sub['name']) ?? ''}`;
  if (kind.endsWith('SK')) return `socket:[${num(sub['ino'])}]`;
  return kind.toLowerCase();
}

function ip(v: unknown): string {
  const a = Array.isArray(v) ? (v as number[]).map(num) : [];
  if (a.length === 1)
    return [24, 16, 8, 0]
      .map((s) => (a[0]! >>> 0) >>> s)
      .map((x, i) => (i === 0 ? x : x & 255) & 255)
      .reverse()
      .join('.');
  if (a.length === 4) return a.map((w) => (w >>> 0).toString(16)).join(':');
  return '?';
}

function socketOf(kind: string, sub: Message, fd: number | null): SocketInfo {
  if (kind === 'UNIXSK') {
    const name = sub['name'];
    const text = name instanceof Uint8Array ? new TextDecoder().decode(name).replace(/\0/g, '@') : '';
    return {
      fd,
      family: 'unix',
      type: num(sub['type']),
      state: num(sub['state']),
      ino: num(sub['ino']),
      address: text,
    };
  }
  if (kind === 'INETSK') {
    return {
      fd,
      family: num(sub['family']) === 10 ? 'inet6' : 'inet',
      type: num(sub['type']),
      state: num(sub['state']),
      ino: num(sub['ino']),
      address: `${ip(sub['src_addr'])}:${num(sub['src_port'])} -> ${ip(sub['dst_addr'])}:${num(sub['dst_port'])}`,
    };
  }
  return {
    fd,
    family: kind.replace(/SK$/, '').toLowerCase(),
    type: num(sub['type']),
    state: 0,
    ino: num(sub['ino']),
    address: '',
  };
}

/** NUL-separated strings (argv / envp as the kernel lays them out). */
function splitNul(b: Uint8Array): string[] {
  const s = new TextDecoder().decode(b);
  const parts = s.split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

async function containerInfo(a: InspectArchive): Promise<ContainerInfo | null> {
  const parse = async (name: string): Promise<Record<string, unknown> | null> => {
    const t = await a.readText(name);
    if (t === null) return null;
    try {
      const v = JSON.parse(t) as unknown;
      return v && typeof v === 'object' ? (v as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  };
  const config = await parse('config.dump');
  const spec = await parse('spec.dump');
  if (!config && !spec) return null;
  const ann: Record<string, string> = {};
  const rawAnn = spec?.['annotations'];
  if (rawAnn && typeof rawAnn === 'object') {
    for (const [k, v] of Object.entries(rawAnn as Record<string, unknown>))
      if (typeof v === 'string') ann[k] = v;
  }
  const cp = a.index.members.find((m) => m.name === (a.imageDir || 'checkpoint'));
  const proc = spec?.['process'] as Record<string, unknown> | undefined;
  const args = Array.isArray(proc?.['args'])
    ? (proc['args'] as unknown[]).filter((x) => typeof x === 'string')
    : null;
  const cmd = Array.isArray(config?.['command'])
    ? (config['command'] as unknown[]).filter((x) => typeof x === 'string')
    : args;
  return {
    id: str(config?.['id']) ?? ann['io.kubernetes.cri-o.ContainerID'] ?? null,
    name:
      ann['io.kubernetes.container.name'] ?? str(config?.['name']) ?? ann['io.kubernetes.cri-o.Name'] ?? null,
    image: str(config?.['rootfsImageName']) ?? ann['io.kubernetes.cri-o.ImageName'] ?? null,
    imageId: str(config?.['rootfsImageID']) ?? str(config?.['rootfsImageRef']) ?? null,
    runtime: str(config?.['runtime']) ?? str(config?.['OCIRuntime']) ?? null,
    created: str(config?.['createdTime']) ?? ann['io.kubernetes.cri-o.Created'] ?? null,
    ...checkpointedTime(config, a, cp),
    pod: ann['io.kubernetes.pod.name'] ?? str(config?.['pod']) ?? null,
    namespace: ann['io.kubernetes.pod.namespace'] ?? null,
    command: cmd as string[] | null,
    annotations: ann,
  };
}

function checkpointedTime(
  config: Record<string, unknown> | null | undefined,
  a: InspectArchive,
  imageDir: { mtime: number } | undefined,
): Pick<ContainerInfo, 'checkpointed' | 'checkpointedSource'> {
  const fromConfig = str(config?.['checkpointedTime']);
  if (fromConfig) return { checkpointed: fromConfig, checkpointedSource: 'config.dump' };
  const stats =
    a.index.members.find((m) => m.name === 'stats-dump') ??
    a.index.members.find((m) => m.name === (a.imageDir ? `${a.imageDir}/stats-dump` : 'stats-dump'));
  const at = (m: { mtime: number }): string => new Date(m.mtime * 1000).toISOString();
  if (stats && stats.mtime > 0) return { checkpointed: at(stats), checkpointedSource: 'stats-dump' };
  if (imageDir && imageDir.mtime > 0) return { checkpointed: at(imageDir), checkpointedSource: 'image-dir' };
  return { checkpointed: null, checkpointedSource: null };
}

/** A checkpoint image's identity: where it was read, its manifest, layer and annotations. */
export interface InspectImage {
  reference: string;
  digest: string;
  mediaType: string;
  layer: { mediaType: string; digest: string; size: number };
  annotations: Record<string, string>;
}

export interface InspectOptions {
  /** The checkpoint image the archive is the layer of. */
  image?: InspectImage | null;
  /** The archive the stack comes from, for container metadata. */
  archive?: InspectArchive | null;
  /** Most bytes read for one process's cmdline or environment. */
  maxArgBytes?: number;
  /** Bytes of the archive file, when the target is one. */
  archiveSize?: number;
}

export async function inspectStack(
  stack: Stack,
  target: string,
  opts: InspectOptions = {},
): Promise<InspectReport> {
  const a = opts.archive ?? null;
  const maxArg = opts.maxArgBytes ?? 1 << 20;
  const files = await stack.image('files.img');
  const fileById = new Map<number, Message>();
  for (const e of files?.entries ?? []) fileById.set(num(e['id']), e);
  const pathOf = (id: number): string | null => {
    const e = fileById.get(id);
    if (!e) return null;
    const [kind, sub] = fileKind(e);
    return describeFile(kind, sub);
  };
  const processes: ProcessReport[] = [];
  for (const p of await stack.processes()) {
    const core = await stack.image(`core-${p.pid}.img`);
    const tc = core?.entries[0]?.['tc'] as Message | undefined;
    const mm = (await stack.image(`mm-${p.pid}.img`))?.entries[0];
    const fs = (await stack.image(`fs-${p.pid}.img`))?.entries[0];
    const ids = (await stack.image(`ids-${p.pid}.img`))?.entries[0];
    let cmdline: string[] | null = null;
    let environment: string[] | null = null;
    let memoryNote: string | null = null;
    if (mm && stack.top.files.includes(`pagemap-${p.pid}.img`)) {
      try {
        const mem = await stack.process(p.pid);
        const range = async (s: unknown, e: unknown): Promise<string[]> => {
          const start = num(s);
          const len = Math.min(Math.max(0, num(e) - start), maxArg);
          return len === 0 ? [] : splitNul(await mem.read(start, len));
        };
        cmdline = await range(mm['mm_arg_start'], mm['mm_arg_end']);
        environment = await range(mm['mm_env_start'], mm['mm_env_end']);
      } catch (e) {
        if (!(e instanceof MemoryAccessError)) throw e;
        memoryNote = `argument/environment memory not readable: ${e.message}`;
      }
    } else memoryNote = 'no memory dumped for this process';
    const fdinfo = ids ? await stack.image(`fdinfo-${num(ids['files_id'])}.img`) : null;
    const pfiles: FileInfo[] = [];
    const sockets: SocketInfo[] = [];
    for (const fe of fdinfo?.entries ?? []) {
      const fd = num(fe['fd']);
      const e = fileById.get(num(fe['id']));
      const [kind, sub] = e ? fileKind(e) : ['UND', undefined];
      pfiles.push({ fd, type: kind, path: describeFile(kind, sub) });
      if (kind.endsWith('SK') && sub) sockets.push(socketOf(kind, sub, fd));
    }
    processes.push({
      pid: p.pid,
      ppid: p.ppid,
      pgid: p.pgid,
      sid: p.sid,
      threads: [...p.threads],
      comm: str(tc?.['comm']),
      state: TASK_STATES[num(tc?.['task_state'])] ?? `state ${num(tc?.['task_state'])}`,
      cmdline,
      environment,
      memoryNote,
      exe: mm ? pathOf(num(mm['exe_file_id'])) : null,
      cwd: fs ? pathOf(num(fs['cwd_id'])) : null,
      root: fs ? pathOf(num(fs['root_id'])) : null,
      files: pfiles,
      sockets,
    });
  }
  // mounts: the mount namespace of the root task
  const mounts: MountInfo[] = [];
  const rootIds = processes[0] ? (await stack.image(`ids-${processes[0].pid}.img`))?.entries[0] : undefined;
  const mnt = rootIds ? await stack.image(`mountpoints-${num(rootIds['mnt_ns_id'])}.img`) : null;
  for (const m of mnt?.entries ?? []) {
    mounts.push({
      id: num(m['mnt_id']),
      parent: num(m['parent_mnt_id']),
      mountpoint: str(m['mountpoint']) ?? '?',
      fstype: str(m['fsname']) ?? FSTYPES[num(m['fstype'])] ?? `fstype ${num(m['fstype'])}`,
      fstypeCode: num(m['fstype']),
      source: str(m['source']) ?? '',
      root: str(m['root']) ?? '',
      options: str(m['options']) ?? '',
    });
  }
  mounts.sort((x, y) => (x.mountpoint < y.mountpoint ? -1 : x.mountpoint > y.mountpoint ? 1 : x.id - y.id));
  // stats: the image directory's stats-dump, else podman's copy beside checkpoint/ at the root
  let statsImg = await stack.image('stats-dump');
  if (!statsImg && a) {
    const raw = await a.readMember('stats-dump');
    if (raw) {
      try {
        statsImg = decodeImage(raw);
      } catch (e) {
        if (e instanceof ImageFormatError) throw e.withFile(`${a.path}:stats-dump`);
        throw e;
      }
    }
  }
  let stats: Record<string, number> | null = null;
  const dump = statsImg?.entries[0]?.['dump'] as Message | undefined;
  if (dump) {
    stats = {};
    for (const [k, v] of Object.entries(dump)) stats[k] = num(v);
  }
  // layers
  const layers: LayerReport[] = [];
  const held = new Map<number, { pages: number; used: number }>();
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
    const above = l.index > 0 ? new Set(stack.layers[l.index - 1]!.files) : null;
    layers.push({
      index: l.index,
      number: stack.layers.length - l.index,
      name: l.source.name,
      files: l.files.length,
      pages: held.get(l.index)!.pages,
      pagesUsed: held.get(l.index)!.used,
      adds: above ? l.files.filter((f) => !above.has(f)) : [],
    });
  }
  return {
    target,
    engine: a ? a.engine : 'criu',
    archive: a
      ? { path: a.path, format: a.format, imageDir: a.imageDir, members: a.index.members.length }
      : null,
    container: a ? await containerInfo(a) : null,
    processes,
    mounts,
    stats,
    layers,
    image: opts.image
      ? {
          reference: opts.image.reference,
          digest: opts.image.digest,
          mediaType: opts.image.mediaType,
          layer: {
            mediaType: opts.image.layer.mediaType,
            digest: opts.image.layer.digest,
            size: opts.image.layer.size,
          },
          annotations: opts.image.annotations,
        }
      : null,
    sizes: await sizesOf(stack, a, opts.archiveSize ?? null),
    ociMounts: a ? await ociMounts(a) : null,
  };
}

const PAGES_FILE = /^pages-\d+\.img$/;

async function sizesOf(
  stack: Stack,
  a: InspectArchive | null,
  archive: number | null,
): Promise<InspectSizes> {
  let memoryPages = 0;
  for (const l of stack.layers) {
    for (const f of l.files.filter((x) => PAGES_FILE.test(x))) {
      const h = await l.source.open(f);
      if (!h) continue;
      memoryPages += h.size;
      await h.close();
    }
  }
  const diff = a?.index.members.find((m) => m.name === 'rootfs-diff.tar');
  return { archive, memoryPages, rootfsDiff: diff ? diff.size : null };
}

async function ociMounts(a: InspectArchive): Promise<OciMount[] | null> {
  const t = await a.readText('spec.dump');
  if (t === null) return null;
  let spec: unknown;
  try {
    spec = JSON.parse(t);
  } catch {
    return null;
  }
  const list = (spec as { mounts?: unknown } | null)?.mounts;
  if (!Array.isArray(list)) return null;
  return list
    .filter((m): m is Record<string, unknown> => !!m && typeof m === 'object')
    .map((m) => ({
      destination: typeof m['destination'] === 'string' ? m['destination'] : '?',
      type: typeof m['type'] === 'string' ? m['type'] : '',
      source: typeof m['source'] === 'string' ? m['source'] : '',
      options: Array.isArray(m['options']) ? m['options'].filter((o) => typeof o === 'string') : [],
    }));
}
