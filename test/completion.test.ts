/**
 * `pagestack completion bash|zsh` and the examples in every command's `--help`: the completion
 * script is run by a real bash and asked for completions; every example's command name exists.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { completionScript } from '../src/cli/completion.js';
import { EXAMPLES } from '../src/cli/examples.js';
import { buildProgram } from '../src/cli/main.js';
import { cli } from './helpers/cli.js';

function complete(script: string, words: string[]): string[] {
  const r = spawnSync(
    'bash',
    [
      '-c',
      `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _pagestack; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { encoding: 'utf8', cwd: import.meta.dirname },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

test('bash completion: command names, then that command options, then paths', async () => {
  const script = completionScript(await buildProgram(), 'bash');
  assert.deepEqual(complete(script, ['pagestack', 'sq']), ['squash']);
  assert.deepEqual(complete(script, ['pagestack', 'se']).sort(), ['search']);
  const exportOpts = complete(script, ['pagestack', 'export', '--f']).sort();
  assert.deepEqual(exportOpts, ['--force', '--format']);
  assert.ok(complete(script, ['pagestack', 'show', 'helpe']).includes('helpers'));
});

test('completion as a command: bash and zsh scripts, an unknown shell is a usage error', async () => {
  const bash = await cli(['completion', 'bash']);
  assert.equal(bash.code, 0);
  assert.match(bash.out, /complete -o filenames -F _pagestack pagestack/);
  const zsh = await cli(['completion', 'zsh']);
  assert.match(zsh.out, /bashcompinit/);
  const bad = await cli(['completion', 'fish']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /unknown shell 'fish'/);
});

test('every command --help ends with examples that name that command', async () => {
  const program = await buildProgram();
  for (const c of program.commands) {
    const ex = EXAMPLES[c.name()];
    assert.ok(ex && ex.length > 0, `${c.name()} has examples`);
    for (const line of ex) assert.match(line, new RegExp(`pagestack ${c.name()}\\b`), line);
    const help = await cli([c.name(), '--help']);
    assert.match(help.out, /Examples \(from the repository root\):/, c.name());
  }
});
