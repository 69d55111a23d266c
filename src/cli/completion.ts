/**
 * `pagestack completion bash|zsh`: prints a shell completion script. It completes command names,
 * each command's options (read from the commands themselves, so it never goes stale) and paths.
 * zsh runs the same function through its bash completion layer (bashcompinit).
 */
import type { Command } from '@commander-js/extra-typings';
import { UsageError } from '../errors.js';
import { cliStreams } from './io.js';

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (bash or zsh)')
    .argument('<shell>', 'bash or zsh')
    .action(async (shell) => {
      if (shell !== 'bash' && shell !== 'zsh')
        throw new UsageError(`completion: unknown shell '${shell}' (bash or zsh)`);
      // every command's options: the full program (this command alone was registered)
      const { buildProgram } = await import('./main.js');
      const full = await buildProgram();
      cliStreams().stdout(completionScript(full, shell));
    });
}

/** The script for `program`'s commands and options. */
export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  const cmds = program.commands.map((c) => c.name());
  const cases = program.commands
    .map((c) => {
      const flags = c.options.flatMap((o) => [o.short, o.long].filter((f): f is string => !!f));
      return `    ${c.name()}) opts="${[...flags, '--help'].join(' ')}" ;;`;
    })
    .join('\n');
  const fn = `_pagestack() {
  local cur cmd opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${cmds.join(' ')} --help --version" -- "$cur") )
    return
  fi
  cmd="\${COMP_WORDS[1]}"
  case "$cmd" in
${cases}
    *) opts="" ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
  else
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
}
complete -o filenames -F _pagestack pagestack
`;
  const head =
    shell === 'zsh'
      ? '# pagestack completion for zsh: source <(pagestack completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n'
      : '# pagestack completion for bash: source <(pagestack completion bash)\n';
  return head + fn;
}
