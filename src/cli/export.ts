/**
 * `pagestack export DIR [--pid N] -o OUT [--format elf|raw] [--start ADDR] [--end ADDR] [--force]`:
 * a process's memory, read through the stack of snapshots, as an ELF core file (for gdb) or a
 * sparse raw file (byte k = the byte at base + k). A regular file is written beside OUT and
 * renamed into place; a device or pipe (`-o /dev/null`, `-o -`) is written as a stream.
 */
import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { noProgress, type ProgressReporter, textProgressBar } from '../engine/progress.js';
import type { ExportSummary } from '../engine/runs.js';
import { UsageError } from '../errors.js';
import { formatBytes, hex } from '../format.js';
import { PAGE_SIZE } from '../image/pagemap.js';
import { exportElf } from '../ops/export-elf.js';
import { exportRaw, MAX_RAW_SPAN } from '../ops/export-raw.js';
import { openTarget } from '../source/open.js';
import type { Stack } from '../stack/stack.js';
import { cliStreams, refuseBinaryToTerminal, writeStdout } from './io.js';
import { parentOption, parseAddress, parsePid, salvageOption } from './options.js';
import { printSalvage } from './salvage.js';

/** One line: `exported pid 25238: 12 segments, 606 pages (2.4 MiB) from 3 layers to core.elf in 0.05 s`. */
export function formatSummary(s: ExportSummary): string {
  const what = s.format === 'elf' ? `${s.segments} segments` : `${s.segments} runs`;
  const layers = `${s.layersUsed} layer${s.layersUsed === 1 ? '' : 's'}`;
  let line = `exported pid ${s.pid}: ${what}, ${s.pages} pages (${formatBytes(s.bytes)}) from ${layers} to ${s.output}`;
  if (s.format === 'elf') line += ` (ELF core, ${s.threads} thread${s.threads === 1 ? '' : 's'})`;
  else line += ` (raw, byte 0 = ${hex(s.base ?? 0)}, ${formatBytes(s.fileSize)} sparse)`;
  line += ` in ${s.seconds.toFixed(2)} s`;
  if (s.lazyBytes > 0)
    line += `; ${s.lazyBytes / PAGE_SIZE} lazy pages left out (they are with the page server)`;
  return line;
}

/** Refuses to replace one of the stack's own files (the images being read). */
function checkDestination(out: string, stack: Stack): void {
  let st: ReturnType<typeof statSync> | undefined;
  try {
    st = statSync(out);
  } catch {}
  if (st?.isDirectory()) throw new UsageError(`${out}: is a directory, expected the file to write`);
  let dir: string;
  try {
    dir = realpathSync(dirname(resolve(out)));
  } catch {
    throw new UsageError(`${out}: no such directory: ${dirname(out)}`);
  }
  const name = basename(out);
  for (const layer of stack.layers) {
    if (layer.source.id === dir && layer.files.includes(name)) {
      throw new UsageError(
        `${out}: is a file of the image directory ${layer.source.name}; write the export elsewhere`,
      );
    }
  }
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('export a process memory as an ELF core file (for gdb) or a sparse raw file')
    .argument('<dir>', 'image directory or checkpoint archive (the top layer of a stack)')
    .addOption(parentOption())
    .addOption(salvageOption())
    .option(
      '-o, --output <file>',
      'the file to write (written beside it, then renamed into place); "-" for standard output (elf)',
    )
    .option('--pid <pid>', 'process to export (needed when the images hold several)')
    .option('--format <format>', 'elf (a core file) or raw (byte k = memory at base + k)', 'elf')
    .option(
      '--start <addr>',
      'export only addresses from here, hex with or without 0x (raw: byte 0; default the first VMA start)',
    )
    .option('--end <addr>', 'export only addresses below this (hex) (raw default: the last VMA end)')
    .option(
      '--sync',
      'fsync the result before renaming it into place (by default, as cp or gcore, it is left to the page cache)',
    )
    .option(
      '--force',
      `raw: write even when the span is above ${formatBytes(MAX_RAW_SPAN)} (the file is sparse, but huge)`,
    )
    .option(
      '--image <ref>',
      "push a checkpoint image of DIR's top (flattened) that podman and CRI-O restore: REGISTRY/REPOSITORY[:TAG]",
    )
    .option('--image-archive <file>', 'write that checkpoint image as an OCI layout tar (FILE.tar[:TAG])')
    .option(
      '--like <archive|image>',
      'with --image/--image-archive: take the metadata members (config.dump, spec.dump, ...) and annotations from this checkpoint archive or image (default: DIR itself)',
    )
    .option('--annotation <key=value...>', 'with --image/--image-archive: set an annotation of the image')
    .action(async (dir, opts) => {
      if (opts.image !== undefined || opts.imageArchive !== undefined) {
        if (opts.output !== undefined) throw new UsageError('--image/--image-archive write an image: no -o');
        const { exportToImage } = await import('./export-image.js');
        await exportToImage(dir, {
          image: opts.image,
          imageArchive: opts.imageArchive,
          like: opts.like,
          annotation: opts.annotation,
          parent: opts.parent,
        });
        return;
      }
      if (opts.output === undefined)
        throw new UsageError("required option '-o, --output <file>' not specified");
      if (opts.like !== undefined || opts.annotation !== undefined)
        throw new UsageError('--like and --annotation go with --image or --image-archive');
      const format = opts.format;
      if (format !== 'elf' && format !== 'raw') {
        throw new UsageError(`--format: expected elf or raw, got '${format}'`);
      }
      const pid = parsePid(opts.pid);
      const start = opts.start === undefined ? undefined : parseAddress(opts.start, '--start');
      const end = opts.end === undefined ? undefined : parseAddress(opts.end, '--end');
      if (start !== undefined && end !== undefined && end <= start) {
        throw new UsageError(`--end ${opts.end} must be above --start ${opts.start}`);
      }
      // `-o -`: the core as a stream on standard output (the summary goes to stderr then)
      const toStdout = opts.output === '-';
      if (toStdout && format === 'raw') {
        throw new UsageError('-o -: a raw export is a sparse file with holes; name a file');
      }
      if (toStdout) refuseBinaryToTerminal('export -o -');
      const dest = toStdout ? '<stdout>' : opts.output;
      const stack = await openTarget(dir, { parent: opts.parent, salvage: opts.salvage === true });
      try {
        if (!toStdout) checkDestination(dest, stack);
        // a bar only for a person watching: the process's own stderr, a terminal
        const streams = cliStreams();
        const bar = streams.progressSink?.() ?? null;
        const progress: ProgressReporter = bar ? textProgressBar(bar) : noProgress;
        const common = {
          pid,
          start,
          end,
          progress,
          stream: toStdout ? writeStdout : undefined,
          sync: opts.sync === true,
        };
        const summary =
          format === 'elf'
            ? await exportElf(stack, dest, common)
            : await exportRaw(stack, dest, { ...common, force: opts.force === true });
        const line = `${formatSummary(summary)}\n`;
        if (toStdout) streams.stderr(line);
        else streams.stdout(line);
        printSalvage(stack);
      } finally {
        await stack.close();
      }
    });
}
