/**
 * `pagestack inspect TARGET [--parent P] [--ps-tree] [--files] [--sockets] [--mounts] [--stats]
 * [--all] [--json]`: what a checkpoint (archive or image directory) holds. Without section flags:
 * the container, the processes (one line each) and the layers. --json prints the whole report
 * (InspectReport in src/ops/inspect.ts) whatever the section flags say.
 */
import { statSync } from 'node:fs';
import type { Command } from '@commander-js/extra-typings';
import { UsageError } from '../errors.js';
import { formatBytes } from '../format.js';
import { type InspectImage, type InspectReport, inspectStack, type ProcessReport } from '../ops/inspect.js';
import { ArchiveLayerSource } from '../source/archive/index.js';
import { openTarget } from '../source/open.js';
import { commas, layerLegend, table, toJson } from './format.js';
import { cliStreams } from './io.js';
import { parentOption } from './options.js';

interface Sections {
  psTree: boolean;
  files: boolean;
  sockets: boolean;
  mounts: boolean;
  /** With mounts: CRIU's mount tree (mountpoints-*.img) instead of the OCI spec's mounts. */
  criu: boolean;
  stats: boolean;
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description(
      'show what a checkpoint holds: container, process tree, files, sockets, mounts, statistics, layers',
    )
    .argument(
      '<targets...>',
      'checkpoint archives (tar, .tar.gz, .tar.zst), image directories, or checkpoint images (oci://REGISTRY/REPO:TAG, OCI layout dir or tar): each is shown in turn',
    )
    .addOption(parentOption())
    .option('--ps-tree', 'the process tree with state, command line and environment (read from memory)')
    .option('--files', 'open files, cwd and root of each process')
    .option('--sockets', 'sockets of each process')
    .option(
      '--mounts',
      "the container's mounts from its OCI spec (type, source, destination, as checkpointctl); CRIU's mount tree for an image directory",
    )
    .option('--criu', "with --mounts: CRIU's mount tree of the root task (mountpoints-*.img)")
    .option('--stats', "CRIU's dump statistics")
    .option('--all', 'every section')
    .option('--json', 'the whole report as JSON (with several targets, an array of reports)')
    .action(async (targets, opts) => {
      if (opts.criu && !opts.mounts && !opts.all)
        throw new UsageError('--criu goes with --mounts (or --all)');
      if (opts.parent !== undefined && targets.length > 1) {
        throw new UsageError('--parent names the layer below one target: give one target with it');
      }
      const all = opts.all === true;
      const sections: Sections = {
        psTree: all || opts.psTree === true,
        files: all || opts.files === true,
        sockets: all || opts.sockets === true,
        mounts: all || opts.mounts === true,
        criu: opts.criu === true,
        stats: all || opts.stats === true,
      };
      const reports: InspectReport[] = [];
      for (const [i, target] of targets.entries()) {
        const stack = await openTarget(target, { parent: opts.parent });
        try {
          const archive = stack.top.source instanceof ArchiveLayerSource ? stack.top.source.archive : null;
          const report = await inspectStack(stack, target, {
            archive,
            archiveSize: archive ? fileSize(archive.path) : undefined,
            // a checkpoint image's layer (src/source/oci/image.ts) says which image it is
            image: (stack.top.source as { image?: InspectImage }).image ?? null,
          });
          // text goes out target by target; JSON once, as one report or an array of them
          if (opts.json) reports.push(report);
          else cliStreams().stdout(`${i > 0 ? '\n' : ''}${formatInspect(report, sections)}`);
        } finally {
          await stack.close();
        }
      }
      if (opts.json) cliStreams().stdout(`${toJson(targets.length === 1 ? reports[0] : reports)}\n`);
    });
}

function quote(args: readonly string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' ');
}

function treeLines(procs: readonly ProcessReport[], s: Sections): string[] {
  const byParent = new Map<number, ProcessReport[]>();
  const pids = new Set(procs.map((p) => p.pid));
  for (const p of procs) {
    const key = pids.has(p.ppid) ? p.ppid : -1;
    const list = byParent.get(key) ?? [];
    list.push(p);
    byParent.set(key, list);
  }
  const out: string[] = [];
  const walk = (p: ProcessReport, prefix: string, last: boolean, root: boolean): void => {
    const head = root ? '' : `${prefix}${last ? '└── ' : '├── '}`;
    const cmd = p.cmdline ? quote(p.cmdline) : `(${p.memoryNote ?? 'no command line'})`;
    out.push(
      `${head}${p.pid} ${p.comm ?? '?'} [${p.state}${p.threads.length > 1 ? `, ${p.threads.length} threads` : ''}] ${cmd}`,
    );
    const inner = root ? '' : `${prefix}${last ? '    ' : '│   '}`;
    if (s.psTree && p.environment) for (const e of p.environment) out.push(`${inner}    env ${e}`);
    if (s.files) {
      out.push(`${inner}    cwd ${p.cwd ?? '?'}  root ${p.root ?? '?'}  exe ${p.exe ?? '?'}`);
      for (const f of p.files) out.push(`${inner}    fd ${f.fd} ${f.type} ${f.path}`);
    }
    if (s.sockets) {
      if (p.sockets.length === 0) out.push(`${inner}    (no sockets)`);
      for (const k of p.sockets) {
        out.push(
          `${inner}    socket fd ${k.fd ?? '-'} ${k.family} type ${k.type} state ${k.state} ino ${k.ino} ${k.address}`,
        );
      }
    }
    const kids = byParent.get(p.pid) ?? [];
    for (const [i, k] of kids.entries()) walk(k, inner, i === kids.length - 1, false);
  };
  for (const r of byParent.get(-1) ?? []) walk(r, '', true, true);
  return out;
}

export function formatInspect(r: InspectReport, s: Sections): string {
  const out: string[] = [];
  out.push(`${r.target}`);
  if (r.archive) {
    out.push(
      `  engine       ${r.engine} (${r.archive.format} archive, ${r.archive.members} members, images in ${r.archive.imageDir || '.'}/)`,
    );
  } else out.push(`  engine       bare CRIU image directory`);
  const z = r.sizes;
  const sizes = [
    z.archive === null ? null : `archive ${formatBytes(z.archive)}`,
    `memory pages ${formatBytes(z.memoryPages)}`,
    z.rootfsDiff === null ? null : `root-fs diff ${formatBytes(z.rootfsDiff)}`,
  ].filter((x) => x !== null);
  out.push(`  sizes        ${sizes.join(', ')}`);
  if (r.image) {
    out.push(`  checkpoint image ${r.image.reference} (manifest ${r.image.digest})`);
    out.push(
      `    layer      ${r.image.layer.digest} (${r.image.layer.size} bytes, ${r.image.layer.mediaType})`,
    );
    const keys = Object.keys(r.image.annotations).sort();
    if (keys.length > 0) {
      out.push('    image annotations');
      for (const k of keys) out.push(`      ${k}=${r.image.annotations[k]}`);
    }
  }
  const c = r.container;
  if (c) {
    const rows: [string, string | null][] = [
      ['name', c.name],
      ['id', c.id],
      ['image', c.image && c.imageId ? `${c.image} (${c.imageId.slice(0, 12)})` : (c.image ?? c.imageId)],
      ['runtime', c.runtime],
      ['created', c.created],
      [
        'checkpointed',
        c.checkpointed === null
          ? null
          : `${c.checkpointed}${c.checkpointedSource === 'config.dump' ? '' : ` (${c.checkpointedSource === 'stats-dump' ? "time of stats-dump, CRIU's last file" : 'time of the image directory'})`}`,
      ],
      ['pod', c.pod],
      ['namespace', c.namespace],
      ['command', c.command ? quote(c.command) : null],
    ];
    for (const [k, v] of rows) if (v !== null) out.push(`  ${k.padEnd(12)} ${v}`);
    const ann = Object.entries(c.annotations);
    if (ann.length > 0) {
      out.push('  annotations');
      for (const [k, v] of ann) out.push(`    ${k}=${v}`);
    }
  }
  out.push('');
  out.push(`process tree (${r.processes.length} process${r.processes.length === 1 ? '' : 'es'}):`);
  for (const l of treeLines(r.processes, s)) out.push(`  ${l}`);
  if (s.mounts && r.ociMounts && !s.criu) {
    out.push('');
    out.push(
      `mounts (${r.ociMounts.length}, from spec.dump; --criu: CRIU's ${r.mounts.length} mountpoints):`,
    );
    const rows = [['destination', 'type', 'source']];
    for (const m of r.ociMounts) rows.push([m.destination, m.type, m.source]);
    out.push(table(rows, ['l', 'l', 'l'], '  '));
  } else if (s.mounts) {
    out.push('');
    out.push(`CRIU mount tree (${r.mounts.length} mountpoints of the root task):`);
    const rows = [['id', 'parent', 'mountpoint', 'type', 'source', 'root']];
    for (const m of r.mounts)
      rows.push([String(m.id), String(m.parent), m.mountpoint, fstypeText(m), m.source, m.root]);
    out.push(table(rows, ['r', 'r', 'l', 'l', 'l', 'l'], '  '));
    if (r.mounts.some((m) => m.fstypeCode === 0 && m.fstype === 'unsupported')) {
      out.push(
        "  host fs: CRIU's fstype 0 (UNSUPPORTED): a filesystem CRIU has no driver for (ext4, xfs, ... on the source device), which CRIU does not dump and restore bind-mounts from the same place: the container's root and the files the runtime mounts in",
      );
    }
  }
  if (s.stats) {
    out.push('');
    if (!r.stats) out.push('dump statistics: none (no stats-dump)');
    else {
      const st = r.stats;
      const ms = (k: string): string => `${((st[k] ?? 0) / 1000).toFixed(3)} ms`;
      out.push('dump statistics (stats-dump):');
      out.push(`  freezing time     ${ms('freezing_time')}`);
      out.push(`  frozen time       ${ms('frozen_time')}`);
      out.push(`  memory dump time  ${ms('memdump_time')}`);
      out.push(`  memory write time ${ms('memwrite_time')}`);
      out.push(`  pages scanned     ${commas(st['pages_scanned'] ?? 0)}`);
      out.push(`  pages written     ${commas(st['pages_written'] ?? 0)}`);
      out.push(`  skipped (parent)  ${commas(st['pages_skipped_parent'] ?? 0)}`);
      out.push(`  lazy              ${commas(st['pages_lazy'] ?? 0)}`);
    }
  }
  out.push('');
  out.push(`layers (${layerLegend(r.layers.length)}):`);
  const rows = [['#', 'directory', 'files', 'held', 'read from here', 'new files']];
  for (const l of r.layers) {
    rows.push([
      String(l.number),
      l.name,
      String(l.files),
      commas(l.pages),
      commas(l.pagesUsed),
      l.adds.join(' ') || '-',
    ]);
  }
  out.push(table(rows, ['r', 'l', 'r', 'r', 'r', 'l'], '  '));
  return `${out.join('\n')}\n`;
}

/** CRIU's fstype as a word: its name, or for fstype 0 what it is (a host filesystem, bind-mounted). */
function fstypeText(m: { fstype: string; fstypeCode: number }): string {
  return m.fstypeCode === 0 && m.fstype === 'unsupported' ? 'host fs' : m.fstype;
}

/** Bytes of a file, or undefined when it cannot be stat'ed (an archive inside an image). */
function fileSize(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}
