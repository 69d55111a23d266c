/**
 * Runs the benchmarks one after another, each in its own process: `npm run bench`
 * (= `node --import tsx bench/run.ts [NAME...]`, e.g. `npm run bench -- stack` for one of them).
 *
 * The benchmarks are bench/decode.ts, bench/delta.ts, bench/stack.ts and bench/scaling.ts, in that order; one that
 * does not exist (yet) is skipped. Helpers in bench/ (gen.ts, ...) are not benchmarks. Some parts
 * of the benchmarks run the built CLI: `npm run build` first. Exits 1 if any benchmark failed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const BENCHES = ['commands', 'decode', 'delta', 'stack', 'scaling', 'search', 'page-server'];

function main(): number {
  const wanted = process.argv.slice(2).map((a) => a.replace(/^bench\//, '').replace(/\.ts$/, ''));
  for (const w of wanted) {
    if (!BENCHES.includes(w)) {
      process.stderr.write(`bench/run: unknown benchmark '${w}'; the benchmarks are ${BENCHES.join(', ')}\n`);
      return 2;
    }
  }
  const failed: string[] = [];
  let ran = 0;
  for (const name of wanted.length > 0 ? wanted : BENCHES) {
    const file = join(BENCH_DIR, `${name}.ts`);
    if (!existsSync(file)) {
      process.stdout.write(`\n##### bench/${name}.ts: not there, skipped\n`);
      continue;
    }
    process.stdout.write(`\n##### bench/${name}.ts\n`);
    const t0 = performance.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { stdio: 'inherit' });
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    ran++;
    if (r.status !== 0) {
      failed.push(name);
      process.stdout.write(
        `##### bench/${name}.ts failed (${r.signal ? `signal ${r.signal}` : `exit status ${r.status}`}) after ${secs} s\n`,
      );
      // a Ctrl-C reaches the child too: stop rather than start the next benchmark
      if (r.signal === 'SIGINT' || r.status === 130) break;
    } else {
      process.stdout.write(`##### bench/${name}.ts done in ${secs} s\n`);
    }
  }
  process.stdout.write(
    `\n${ran} benchmark(s) run${failed.length > 0 ? `; failed: ${failed.join(', ')}` : ', all finished'}\n`,
  );
  return failed.length > 0 ? 1 : 0;
}

// Ctrl-C goes to the running benchmark too, which cleans up and exits 130; then this stops
process.on('SIGINT', () => {});
process.exitCode = main();
