#!/usr/bin/env node
/**
 * The `pagestack` command. Each subcommand lives in its own file and registers itself here;
 * this file only wires them up and turns errors into one line on stderr and an exit status:
 * 0 ok, 1 bad input or a failed check, 2 usage.
 *
 * It runs the CLI only when it is the program being run (node dist/cli/main.js, or the `pagestack`
 * bin link); imported, e.g. by tests, it only exports `runCli`, which runs it in-process.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from '@commander-js/extra-typings';
import { removeTempsOnSignals } from '../engine/fs.js';
import { PagestackError, UsageError } from '../errors.js';
import { setTlsVerifyDefault } from '../source/oci/settings.js';
import { cliMessage } from './errors.js';
import { examplesHelp } from './examples.js';
import { type CliStreams, cliStreams, processStreams, setCliStreams } from './io.js';

type Register = (program: Command) => void;

/**
 * The subcommands, in help order: name -> its module's register function. Modules are loaded
 * when needed: running one command loads only its own module (startup time counts for
 * `pagestack decode` on big images); help, unknown commands and the like load them all.
 */
const COMMANDS: readonly (readonly [string, () => Promise<Register>])[] = [
  ['decode', async () => (await import('./decode.js')).registerDecode],
  ['encode', async () => (await import('./encode.js')).registerEncode],
  ['dedup', async () => (await import('./dedup.js')).registerDedup],
  ['diff', async () => (await import('./diff.js')).registerDiff],
  ['export', async () => (await import('./export.js')).registerExport],
  ['delta', async () => (await import('./delta.js')).registerDelta],
  ['squash', async () => (await import('./squash.js')).registerSquash],
  ['show', async () => (await import('./show.js')).registerShow],
  ['maps', async () => (await import('./maps.js')).registerMaps],
  ['read', async () => (await import('./read.js')).registerRead],
  ['verify', async () => (await import('./verify.js')).registerVerify],
  ['inspect', async () => (await import('./inspect.js')).registerInspect],
  ['search', async () => (await import('./search.js')).registerSearch],
  ['page-server', async () => (await import('./page-server.js')).registerPageServer],
  ['add-images', async () => (await import('./add-images.js')).registerAddImages],
  ['lazy-images', async () => (await import('./lazy-images.js')).registerLazyImages],
  ['restore', async () => (await import('./restore.js')).registerRestore],
  ['ui', async () => (await import('./ui.js')).registerUi],
  ['push', async () => (await import('./push.js')).registerPush],
  ['pull', async () => (await import('./pull.js')).registerPull],
  ['ls', async () => (await import('./ls.js')).registerLs],
  ['rm', async () => (await import('./rm.js')).registerRm],
  ['gc', async () => (await import('./gc.js')).registerGc],
  ['completion', async () => (await import('./completion.js')).registerCompletion],
];

/** The program with every subcommand, or only `only` (a subcommand name) when that one is known. */
export async function buildProgram(only?: string): Promise<Command> {
  const program = baseProgram();
  // `--version` needs no command; anything else unknown (help, a typo) lists them all
  if (only === '--version' || only === '-V') return program;
  const one = COMMANDS.find(([name]) => name === only);
  for (const [, load] of one ? [one] : COMMANDS) (await load())(program);
  for (const cmd of program.commands) {
    const text = examplesHelp(cmd.name());
    if (text) cmd.addHelpText('after', text);
  }
  return program;
}

/** The version in package.json (one level above src/ and dist/, where this file is built to). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function baseProgram(): Command {
  const program = new Command()
    .name('pagestack')
    .description('Read, verify and maintain CRIU checkpoint images and incremental snapshot stacks')
    .version(packageVersion())
    .showHelpAfterError(false)
    .exitOverride();
  program.configureOutput({
    writeOut: (s) => cliStreams().stdout(s),
    writeErr: (s) => cliStreams().stderr(s),
    // one line: commander puts its "(Did you mean ...?)" suggestion on a line of its own
    outputError: (s, write) =>
      write(`${s.startsWith('error:') ? `pagestack: ${s}` : s}`.trimEnd().replace(/\n+/g, ' ') + '\n'),
  });
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
    argv = takeTlsVerify(argv);
    const program = await buildProgram(argv[0]);
    // an unknown command is an error even with --help after it (commander would show the
    // program's help and exit 0): parse the name alone, for commander's "unknown command" line
    const first = argv[0];
    const unknown =
      first !== undefined &&
      !first.startsWith('-') &&
      first !== 'help' &&
      !COMMANDS.some(([n]) => n === first);
    await program.parseAsync(unknown ? [first] : argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return reportError(err);
  } finally {
    setTlsVerifyDefault(true);
    setCliStreams(prevStreams);
    if (streams !== processStreams) process.exitCode = prevExit;
  }
}

/**
 * `--tls-verify=false` (podman's spelling; `--tls-verify`, `=true` too) anywhere on the line: how
 * every command reaches an oci:// registry (false: plain HTTP). Taken out before parsing.
 */
function takeTlsVerify(argv: string[]): string[] {
  const out: string[] = [];
  for (const [i, a] of argv.entries()) {
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const m = /^--tls-verify(?:=(true|false))?$/.exec(a);
    if (!m) {
      if (a.startsWith('--tls-verify='))
        throw new UsageError(`${a}: expected --tls-verify=true or --tls-verify=false`);
      out.push(a);
      continue;
    }
    setTlsVerifyDefault(m[1] !== 'false');
  }
  return out;
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
    stderr(cliMessage(err));
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
  // Ctrl-C or SIGTERM: remove this run's temporaries, exit 130 / 143 (servers stop their own way)
  removeTempsOnSignals();
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
