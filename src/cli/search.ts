/**
 * `pagestack search TARGET PATTERN [--pid N] [--hex] [--regex] [--utf16] [--context N] [--json]`:
 * find bytes in process memory through the stack (see src/ops/search.ts). Text output: one line
 * per match (pid, address, VMA, layer) and a hexdump of the context, row by row (never collapsed).
 * --json: one JSON object per line (JSON Lines), then a summary object.
 */
import type { Command } from '@commander-js/extra-typings';
import { UsageError } from '../errors.js';
import { hex as hex0x } from '../format.js';
import { compilePattern, type SearchMatch, searchStack } from '../ops/search.js';
import { openTarget } from '../source/open.js';
import { commas, hexdumpBytes, hexdumpWidth } from './format.js';
import { cliProgress, cliStreams } from './io.js';
import { parentOption, parseNumber, parsePid, salvageOption } from './options.js';
import { printSalvage } from './salvage.js';

export function registerSearch(program: Command): void {
  program
    .command('search')
    .description(
      'search process memory through the stack: text, hex bytes with ?? wildcards, or a regex on raw bytes',
    )
    .argument('<target>', 'checkpoint archive or image directory (the top layer)')
    .argument('<pattern>', 'text (default), hex bytes with --hex, a regular expression with --regex')
    .option('--pid <pid>', 'only this process (default: all; shared memory is searched once)')
    .option('--hex', "PATTERN is hex bytes, e.g. '48 8b ?? 24'")
    .option(
      '--regex',
      'PATTERN is a JavaScript regular expression over raw bytes (one latin1 character per byte)',
    )
    .option('--utf16', 'search the text as UTF-16LE')
    .option('--context <n>', 'bytes of context before and after each match', '16')
    .option('--max-match <n>', 'with --regex: the longest match found across chunk edges', '4096')
    .addOption(parentOption())
    .option('--json', 'one JSON object per match (JSON Lines), then a summary')
    .addOption(salvageOption())
    .action(async (target, text, opts) => {
      const context = parseNumber(opts.context, '--context');
      if (context > 1 << 20) throw new UsageError('--context: at most 1 MiB');
      let pattern: ReturnType<typeof compilePattern>;
      const maxMatch = parseNumber(opts.maxMatch, '--max-match');
      if (maxMatch < 1) throw new UsageError(`--max-match ${opts.maxMatch}: expected at least 1 (bytes)`);
      try {
        pattern = compilePattern(text, {
          hex: opts.hex === true,
          regex: opts.regex === true,
          utf16: opts.utf16 === true,
          maxMatch,
        });
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const pid = parsePid(opts.pid);
      const stack = await openTarget(target, { parent: opts.parent, salvage: opts.salvage === true });
      const out = cliStreams();
      try {
        const onMatch = opts.json
          ? (m: SearchMatch): void => out.stdout(`${JSON.stringify(matchJson(m))}\n`)
          : (m: SearchMatch): void => out.stdout(formatMatch(m));
        const s = await searchStack(stack, pattern, { pid, context, onMatch, progress: cliProgress() });
        if (opts.json) out.stdout(`${JSON.stringify({ summary: s })}\n`);
        else
          out.stdout(
            `${s.matches} match${s.matches === 1 ? '' : 'es'} in ${s.objects} memory object${s.objects === 1 ? '' : 's'} (${commas(s.bytesSearched)} bytes searched)\n`,
          );
        printSalvage(stack);
        if (s.matches === 0) process.exitCode = 1;
      } finally {
        await stack.close();
      }
    });
}

function matchJson(m: SearchMatch): unknown {
  return {
    pid: m.pid,
    address: hex0x(m.address),
    length: m.length,
    vma: m.vma
      ? { start: hex0x(m.vma.start), end: hex0x(m.vma.end), perms: m.vma.perms, name: m.vma.name }
      : null,
    layer: m.layer,
    number: m.number,
    layerName: m.layerName,
    shared: m.shared,
    contextStart: hex0x(m.contextStart),
    context: Buffer.from(m.context).toString('hex'),
  };
}

function formatMatch(m: SearchMatch): string {
  const v = m.vma;
  const head = `pid ${m.pid} ${hex0x(m.address)} len ${m.length}  vma ${v ? `${v.start.toString(16)}-${v.end.toString(16)} ${v.perms} ${v.name || 'anon'}` : '(none)'}  layer ${m.number} ${m.layerName}${m.shared ? `  shared ${m.shared}` : ''}\n`;
  // rows start at the context's own address (not aligned): every byte shown is a real one
  const dump = Buffer.from(
    hexdumpBytes(m.context, m.contextStart, hexdumpWidth(m.contextStart, m.context.length)),
  ).toString('latin1');
  return `${head}${dump}\n`;
}
