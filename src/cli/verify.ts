/**
 * `pagestack verify DIR [--json]`: checks every invariant of the stack whose top layer is DIR and
 * prints each problem on one line (`error: ...`, `warning: ...`, `note: ...`); exits 1 when there
 * is an error. A clean stack prints one `ok: ...` line.
 */
import { existsSync } from 'node:fs';
import type { Command } from '@commander-js/extra-typings';
import { PagestackError, UsageError } from '../errors.js';
import { type VerifyReport, verifyStack } from '../ops/verify.js';
import { openSource } from '../source/open.js';
import { commas, toJson } from './format.js';
import { cliStreams } from './io.js';
import { parentOption } from './options.js';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('check every image, pagemap, pages file and parent link of a stack; exit 1 on problems')
    .argument('<dir>', 'image directory or checkpoint archive (the top layer of a stack)')
    .addOption(parentOption())
    .option('--json', 'print the report as JSON')
    .action(async (dir, opts) => {
      let report: VerifyReport;
      try {
        report = await verifyStack(await openSource(dir, { parent: opts.parent }));
      } catch (e) {
        // an existing target that cannot even be opened (a truncated or corrupt archive) is a
        // finding like any other: reported in verify's own format (a missing one is a usage slip)
        if (!(e instanceof PagestackError) || e instanceof UsageError || !existsSync(dir)) throw e;
        report = {
          top: dir,
          layers: [],
          processes: 0,
          imagesDecoded: 0,
          pagemaps: 0,
          dumpedPages: 0,
          lazyPages: 0,
          problems: [{ severity: 'error', message: e.message }],
          ok: false,
        };
      }
      cliStreams().stdout(opts.json ? `${toJson(report)}\n` : formatVerify(report));
      if (!report.ok) process.exitCode = 1;
    });
}

export function formatVerify(r: VerifyReport): string {
  const lines = r.problems.map((p) => `${p.severity}: ${p.message}`);
  if (r.ok) {
    const warnings = r.problems.filter((p) => p.severity === 'warning').length;
    lines.push(
      `ok: ${r.layers.length} layer${r.layers.length === 1 ? '' : 's'}, ${r.processes} process${r.processes === 1 ? '' : 'es'}, ${r.pagemaps} pagemap${r.pagemaps === 1 ? '' : 's'}, ${commas(r.imagesDecoded)} images decoded, ${commas(r.dumpedPages)} pages dumped, ${commas(r.lazyPages)} lazy${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}`,
    );
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}
