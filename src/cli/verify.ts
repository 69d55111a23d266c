/**
 * `pagestack verify DIR [--json]`: checks every invariant of the stack whose top layer is DIR and
 * prints each problem on one line (`error: ...`, `warning: ...`, `note: ...`); exits 1 when there
 * is an error. A clean stack prints one `ok: ...` line.
 */
import type { Command } from '@commander-js/extra-typings';
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
      const report = await verifyStack(await openSource(dir, { parent: opts.parent }));
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
