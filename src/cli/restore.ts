/**
 * `pagestack restore TARGET [--lazy] [--no-prefetch] [--record-seconds S] [-- CRIU_RESTORE_ARGS...]`:
 * CRIU restores TARGET's stack from a private temporary directory (src/ops/restore.ts); progress
 * lines on stderr, a summary on stdout. SIGINT/SIGTERM stop it: children killed, temporary
 * directory removed, exit 130/143.
 */
import type { Command } from '@commander-js/extra-typings';
import { RestoreError, UsageError } from '../errors.js';
import { formatBytes } from '../format.js';
import { type RestoreResult, restore } from '../ops/restore.js';
import { commas } from './format.js';
import { cliStreams } from './io.js';
import { parentOption } from './options.js';

export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description(
      'restore TARGET with CRIU (eagerly, or --lazy: pages served from the stack while the process runs)',
    )
    .argument('<target>', 'top layer of the stack (image directory or checkpoint archive)')
    .argument(
      '[criu-args...]',
      'after --: options for criu restore (-d, --shell-job, --tcp-established, ...)',
    )
    .addOption(parentOption('--parent', 'TARGET'))
    .option('--lazy', 'restore lazily: only the small images first, memory served while the process runs')
    .option('--no-prefetch', 'with --lazy: do not read the stored hot set before CRIU asks')
    .option(
      '--record-seconds <s>',
      'with --lazy: record the pages asked for in the first S seconds as the hot set (0: off)',
      '10',
    )
    .action(async (target, criuArgs, opts) => {
      const record = Number(opts.recordSeconds);
      if (!Number.isFinite(record) || record < 0)
        throw new UsageError(`--record-seconds '${opts.recordSeconds}': expected seconds >= 0`);
      if (!opts.lazy && opts.prefetch === false) throw new UsageError('--no-prefetch goes with --lazy');
      const err = (line: string) => cliStreams().stderr(`restore: ${line}\n`);
      const controller = new AbortController();
      const onInt = () => controller.abort('SIGINT');
      const onTerm = () => controller.abort('SIGTERM');
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
      let r: RestoreResult;
      try {
        r = await restore({
          target,
          parent: opts.parent,
          lazy: opts.lazy === true,
          prefetch: opts.prefetch !== false,
          recordSeconds: record,
          criuArgs,
          log: err,
          signal: controller.signal,
        });
      } catch (e) {
        if (e instanceof RestoreError && e.code === 'PAGESTACK_INTERRUPTED') {
          cliStreams().stderr(`pagestack: ${e.message}\n`);
          process.exitCode = controller.signal.reason === 'SIGTERM' ? 143 : 130;
          return;
        }
        throw e;
      } finally {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
      }
      cliStreams().stdout(`${summary(target, r)}\n`);
    });
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)} s`;
}

/** The summary lines: what was read before the process ran, what was served lazily, timings. */
export function summary(target: string, r: RestoreResult): string {
  const lines = [
    `${target}: restored ${r.mode === 'lazy' ? 'lazily' : 'eagerly'} by CRIU ${r.criu.version} (${r.layers} layers); ` +
      `${formatBytes(r.bytesBeforeRun)} read before the process ran (${commas(r.presentPages)} pages present` +
      `${r.mode === 'lazy' ? `, ${commas(r.lazyPages)} lazy` : ''}); running after ${seconds(r.resumeMs)}`,
  ];
  if (r.mode === 'lazy') {
    lines.push(
      `served lazily: ${commas(r.servedPages)} pages in ${commas(r.gets)} GETs (${r.servedFrom.map((l) => `${commas(l.pages)} from ${l.layer}`).join(', ') || 'none'}); every page in after ${seconds(r.allPagesMs ?? 0)}`,
    );
    if (r.prefetch)
      lines.push(
        `hot set prefetched: ${commas(r.prefetch.pages)} pages in ${r.prefetch.runs} runs (${seconds(r.prefetch.ms)})`,
      );
    if (r.hotSet && 'file' in r.hotSet)
      lines.push(
        `hot set recorded: ${commas(r.hotSet.faultPages)} fault pages (${r.faultGets} faults, ${r.hotSet.runs} GETs) -> ${r.hotSet.file}`,
      );
    else if (r.hotSet) lines.push(`hot set not recorded: ${r.hotSet.skipped}`);
  }
  return lines.join('\n');
}
