#!/usr/bin/env node
/**
 * The `pagestack` command. Each subcommand lives in its own file and registers itself here;
 * this file only wires them up and turns errors into one line on stderr and an exit status:
 * 0 ok, 1 bad input or a failed check, 2 usage.
 */
import { Command, CommanderError } from '@commander-js/extra-typings';
import { PagestackError } from '../image/errors.js';
import { registerDecode } from './decode.js';
import { registerDelta } from './delta.js';
import { registerDedup } from './dedup.js';
import { registerDiff } from './diff.js';
import { registerEncode } from './encode.js';
import { registerExport } from './export.js';
import { UsageError } from './errors.js';
import { registerSquash } from './squash.js';
import { registerMaps } from './maps.js';
import { registerRead } from './read.js';
import { registerShow } from './show.js';
import { registerVerify } from './verify.js';

export function buildProgram(): Command {
  const program = new Command()
    .name('pagestack')
    .description('Read, verify and maintain CRIU checkpoint images and incremental snapshot stacks')
    .version('0.1.0')
    .showHelpAfterError(false)
    .exitOverride();
  program.configureOutput({
    writeErr: (s) => process.stderr.write(s),
    outputError: (s, write) => write(s.startsWith('error:') ? `pagestack: ${s}` : s),
  });
  registerDecode(program);
  registerEncode(program);
  registerDelta(program);
  registerSquash(program);
  registerDedup(program);
  registerDiff(program);
  registerExport(program);
  registerShow(program);
  registerMaps(program);
  registerRead(program);
  registerVerify(program);
  return program;
}

/** Runs the CLI; returns the exit status. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return reportError(err);
  }
}

export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // help and version exit 0; commander already printed its message
    if (
      err.code === 'commander.helpDisplayed' ||
      err.code === 'commander.version' ||
      err.code === 'commander.help'
    ) {
      return 0;
    }
    return 2;
  }
  if (err instanceof UsageError) {
    process.stderr.write(`pagestack: ${err.message}\n`);
    return 2;
  }
  if (err instanceof PagestackError) {
    process.stderr.write(`pagestack: ${err.message}\n`);
    return 1;
  }
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && typeof e.code === 'string' && typeof e.message === 'string') {
    // fs errors: "ENOENT: no such file or directory, open 'x'"
    process.stderr.write(`pagestack: ${e.message}\n`);
    return 1;
  }
  if (e && e.code === 'EPIPE') return 0;
  process.stderr.write(`pagestack: internal error: ${String((err as Error)?.stack ?? err)}\n`);
  return 1;
}

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
