/**
 * Examples for each command's `--help`, kept in one place (added by src/cli/main.ts after the
 * command registers itself). Every example runs as written from the repository root, on the
 * fixtures shipped in test/fixtures/: a newcomer can paste them.
 */

const F = 'test/fixtures/criu-4.2';
const A = 'test/fixtures/archives';

export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  decode: [
    `pagestack decode ${F}/series-stack/3/pagemap-25238.img --pretty`,
    `pagestack decode ${A}/podman-series-step0.tar pstree.img`,
  ],
  encode: [`pagestack decode ${F}/single/mm-24588.img | pagestack encode - -o /tmp/mm-24588.img`],
  show: [`pagestack show ${F}/series-stack/3`, `pagestack show ${A}/podman-series-step0.tar --json`],
  maps: [`pagestack maps ${F}/series-stack/3`, `pagestack maps ${F}/tree --pid 25158`],
  read: [
    `pagestack read ${F}/series-stack/3 300000000000 64`,
    `pagestack read ${F}/series-stack/3 0x300000000000 4096 -o /tmp/page.bin`,
  ],
  export: [
    `pagestack export ${F}/series-stack/3 -o /tmp/core.elf`,
    `pagestack export ${F}/series-stack/3 --format raw --start 300000000000 --end 300000200000 -o /tmp/mem.raw`,
  ],
  verify: [`pagestack verify ${F}/series-stack/3`],
  delta: [`pagestack delta ${F}/series/1 ${F}/series/2 -o /tmp/stack-2`],
  squash: [`pagestack squash ${F}/series-stack/3 -o /tmp/flat`],
  dedup: [`cp -a ${F}/series-stack /tmp/stack && pagestack dedup /tmp/stack/3 --dry-run`],
  diff: [`pagestack diff ${F}/series/1 ${F}/series/2`],
  inspect: [`pagestack inspect ${A}/podman-series-step0.tar --all`],
  search: [
    `pagestack search ${A}/podman-series-step0.tar HOSTNAME=`,
    `pagestack search ${F}/series-stack/3 --hex '50 41 47 45'`,
  ],
  'page-server': [
    'pagestack page-server /tmp/stack --port 27200',
    'pagestack page-server /tmp/stack --lazy --port 27201',
  ],
  'add-images': ['pagestack add-images /tmp/stack/1 /tmp/dump1'],
  'lazy-images': [`pagestack lazy-images ${F}/series-stack/3 -o /tmp/restore-dir`],
  ui: [`pagestack ui ${F}/series-stack/3 --open`, `pagestack ui ${A}/podman-series-step0.tar --port 8080`],
  push: [
    `pagestack push ${F}/series-stack/3 s3://my-bucket/checkpoints/series --endpoint http://127.0.0.1:8080`,
    `pagestack push ${A}/podman-series-step0.tar oci://127.0.0.1:5000/checkpoints:series --tls-verify=false`,
  ],
  pull: [
    'pagestack pull s3://my-bucket/checkpoints/series /tmp/series',
    'pagestack pull s3://my-bucket/checkpoints/series@2 /tmp/series-2 --flat',
  ],
  ls: ['pagestack ls s3://my-bucket/checkpoints', 'pagestack ls s3://my-bucket/checkpoints/series'],
  rm: ['pagestack rm s3://my-bucket/checkpoints/series@3', 'pagestack rm s3://my-bucket/checkpoints/series'],
  gc: ['pagestack gc s3://my-bucket/checkpoints --dry-run'],
  restore: [
    `pagestack restore ${F}/series-stack/3 -- -d`,
    'pagestack restore s3://my-bucket/checkpoints/series --lazy -- -d',
  ],
  completion: [
    'pagestack completion bash > /etc/bash_completion.d/pagestack',
    'source <(pagestack completion zsh)',
  ],
};

/** The `--help` text that follows a command's options. */
export function examplesHelp(name: string): string | null {
  const lines = EXAMPLES[name];
  if (!lines) return null;
  return `\nExamples (from the repository root):\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}
