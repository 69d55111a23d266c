#!/usr/bin/env node
/**
 * The `pagestack` command. Each subcommand lives in its own file and registers itself here;
 * this file only wires them up and turns errors into one line on stderr and an exit status:
 * 0 ok, 1 bad input or a failed check, 2 usage.
 *
 * It runs the CLI only when it is the program being run (node dist/cli/main.js, or the `pagestack`
 * bin link); imported, e.g. by tests, it only exports `runCli`, which runs it in-process.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from '@commander-js/extra-typings';
import { PagestackError } from '../image/errors.js';
import { registerDecode } from './decode.js';
import { registerDedup } from './dedup.js';
import { registerDelta } from './delta.js';
import { registerDiff } from './diff.js';
import { registerEncode } from './encode.js';
import { UsageError } from './errors.js';
import { registerExport } from './export.js';
import { type CliStreams, cliStreams, processStreams, setCliStreams } from './io.js';
import { registerMaps } from './maps.js';
import { registerRead } from './read.js';
import { registerShow } from './show.js';
import { registerSquash } from './squash.js';
import { registerVerify } from './verify.js';

export function buildProgram(): Command {
  const program = new Command()
    .name('pagestack')
    .description('Read, verify and maintain CRIU checkpoint images and incremental snapshot stacks')
    .version('0.1.0')
    .showHelpAfterError(false)
    .exitOverride();
  program.configureOutput({
    writeOut: (s) => cliStreams().stdout(s),
    writeErr: (s) => cliStreams().stderr(s),
    // one line: commander puts its "(Did you mean ...?)" suggestion on a line of its own
    outputError: (s, write) =>
      write(`${s.startsWith('error:') ? `pagestack: ${s}` : s}`.trimEnd().replace(/\n+/g, ' ') + '\n'),
  });
  registerDecode(program);
  registerEncode(program);
  registerDedup(program);
  registerDiff(program);
  registerExport(program);
  registerDelta(program);
  registerSquash(program);
  registerShow(program);
  registerMaps(program);
  registerRead(program);
  registerVerify(program);
  return program;
}

/**
 * Runs the CLI on `argv` (the arguments after the program name); returns the exit status. Output
 * goes to `streams` (the process's own by default), so tests can run it in-process.
 */
export async function runCli(argv: string[], streams: CliStreams = processStreams): Promise<number> {
  const prevStreams = setCliStreams(streams);
  // commands report a failed check by setting process.exitCode; keep runs apart
  const prevExit = process.exitCode;
  process.exitCode = undefined;
  try {
    const program = buildProgram();
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return reportError(err);
  } finally {
    setCliStreams(prevStreams);
    if (streams !== processStreams) process.exitCode = prevExit;
  }
}

export function reportError(err: unknown): number {
  const stderr = (line: string): void => cliStreams().stderr(`pagestack: ${oneLine(line)}\n`);
  if (err instanceof CommanderError) {
    // help and version exit 0 (help shown because of missing arguments: 2); commander already
    // printed its message
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    if (err.code === 'commander.help') return err.exitCode === 0 ? 0 : 2;
    return 2;
  }
  if (err instanceof UsageError) {
    stderr(err.message);
    return 2;
  }
  if (err instanceof PagestackError) {
    stderr(err.message);
    return 1;
  }
  const e = err as NodeJS.ErrnoException;
  if (e && e.code === 'EPIPE') return 0;
  if (e && typeof e === 'object' && typeof e.code === 'string' && typeof e.message === 'string') {
    // fs errors: "ENOENT: no such file or directory, open 'x'"
    stderr(e.message);
    return 1;
  }
  if (err instanceof RangeError && /string length|allocation|buffer/i.test(err.message)) {
    stderr(`out of memory: ${err.message}`);
    return 1;
  }
  // a bug: say so in one line; PAGESTACK_DEBUG=1 prints the stack trace
  if (process.env['PAGESTACK_DEBUG']) cliStreams().stderr(`${String((err as Error)?.stack ?? err)}\n`);
  stderr(`internal error: ${String((err as Error)?.message ?? err)} (set PAGESTACK_DEBUG=1 for details)`);
  return 1;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** Is this module the program node was started with (not imported)? */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
  });

  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.exitCode = reportError(err);
    },
  );
}
