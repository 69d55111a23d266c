/** Running the pagestack CLI from tests: in-process (runCli with captured streams) or as a process. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.js';
import { ROOT } from './fixtures.js';

export interface CliRun {
  code: number;
  /** Standard output as UTF-8 text, and as bytes. */
  out: string;
  bytes: Buffer;
  err: string;
}

/** Runs the CLI in this process with `args` (no program name) and `stdin` as standard input. */
export async function cli(args: string[], stdin = new Uint8Array()): Promise<CliRun> {
  const chunks: Buffer[] = [];
  let err = '';
  const code = await runCli(args, {
    stdout: (d) => {
      chunks.push(Buffer.from(d));
    },
    stderr: (t) => {
      err += t;
    },
    stdin: async () => stdin,
  });
  const bytes = Buffer.concat(chunks);
  return { code, out: bytes.toString('utf8'), bytes, err };
}

export interface ProcessRun {
  /** Exit code, null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface ProcessOptions {
  /** Run the build, dist/cli/main.js, instead of src/cli/main.ts through tsx. */
  built?: boolean;
  /** SIGKILL the process this many ms after it started. */
  killAfterMs?: number | null;
  /** SIGKILL the process this many ms after its first output on stdout (0: at once). */
  killAfterOutputMs?: number | null;
}

/** Runs the CLI as a process of its own (`node [--import tsx] main args...`, in the repository root). */
export function cliProcess(args: string[], opts: ProcessOptions = {}): Promise<ProcessRun> {
  const main = opts.built
    ? [join(ROOT, 'dist', 'cli', 'main.js')]
    : ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts')];
  return new Promise((resolve, reject) => {
    // pipes, not 'ignore': that opens /dev/null in the child, and the shared machine has seen
    // /dev/null briefly missing (spawn then fails with ENOENT)
    const child = spawn(process.execPath, [...main, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const kill = () => child.kill('SIGKILL');
    let timer: NodeJS.Timeout | undefined;
    if (opts.killAfterMs != null) timer = setTimeout(kill, opts.killAfterMs);
    const afterOutput = opts.killAfterOutputMs;
    if (afterOutput != null) {
      child.stdout.once('data', () => {
        if (afterOutput === 0) kill();
        else timer = setTimeout(kill, afterOutput);
      });
    }
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}
