/** `pagestack encode FILE.json [-o OUT]`: crit-style JSON (plain or pretty) back to an image. */
import type { Command } from '@commander-js/extra-typings';
import { ImageJsonError } from '../image/errors.js';
import { encodeFromJsonText } from '../image/image.js';
import { readWholeFile, writeFileAtomic } from './io.js';

export function registerEncode(program: Command): void {
  program
    .command('encode')
    .description('encode crit-style JSON (plain or --pretty form) back into a CRIU image')
    .argument('<file>', 'JSON file ("-" for stdin)')
    .option('-o, --output <out>', 'write the image here instead of stdout')
    .action(async (file, opts) => {
      const bytes = file === '-' ? new Uint8Array(await readStdin()) : await readWholeFile(file);
      let img: Uint8Array;
      try {
        img = encodeFromJsonText(new TextDecoder().decode(bytes));
      } catch (e) {
        if (e instanceof ImageJsonError) throw e.withFile(file === '-' ? '<stdin>' : file);
        throw e;
      }
      if (opts.output) writeFileAtomic(opts.output, img);
      else process.stdout.write(img);
    });
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
