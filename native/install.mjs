/**
 * The install script (package.json "install"): builds the copy_file_range addon (copy-range.c)
 * with node-gyp, quietly. Optional: without a compiler, headers or node-gyp, the build fails and
 * this prints one line; pagestack then copies with its JavaScript loop (src/engine/copy-range.ts).
 * Never fails the install.
 *
 * node-gyp runs in native/ (its build/ directory is native/build/, not the repository's build/,
 * which holds build scripts). Node's headers: those installed beside the running node when they
 * are there (no download), else node-gyp's own cache or download.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  // npm's bundled node-gyp, beside the npm that runs this
  const npmCli = process.env.npm_execpath;
  if (npmCli) {
    const p = join(dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (existsSync(p)) return p;
  }
  // the npm installed beside this node (running this script by hand)
  const beside = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(beside)) return beside;
  try {
    return createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return null;
  }
}

if (process.platform !== 'linux') {
  // copy_file_range is Linux's: nothing to build, the JavaScript loop is used
  process.exit(0);
}
const gyp = nodeGyp();
const args = ['rebuild', '--directory', here, '--loglevel', 'silent'];
const nodeDir = resolve(dirname(process.execPath), '..');
if (existsSync(join(nodeDir, 'include', 'node', 'common.gypi'))) args.push(`--nodedir=${nodeDir}`);
const r = gyp
  ? spawnSync(process.execPath, [gyp, ...args], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' })
  : null;
if (!r || r.status !== 0 || !existsSync(join(here, 'build', 'Release', 'copy_range.node'))) {
  const why = !gyp ? 'node-gyp not found' : r?.error ? r.error.message : 'the build failed';
  process.stderr.write(
    `pagestack: copy_file_range addon not built (${why}); exports use the JavaScript copy loop\n`,
  );
}
