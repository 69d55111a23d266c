/** `pagestack encode FILE.json [-o OUT]`: crit-style JSON (plain or pretty) back to an image. */
import type { Command } from '@commander-js/extra-typings';
import { ImageJsonError } from '../image/errors.js';
import { encodeFromJsonText } from '../image/image.js';
import { cliStreams, readWholeFile, writeFileAtomic } from './io.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The JSON text of `bytes`; invalid UTF-8 is an error naming the first bad byte. */
function jsonText(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    // find the first offset where a prefix stops decoding (stream mode tolerates a cut sequence)
    let lo = 0;
    let hi = bytes.length;
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, mid), { stream: true });
        lo = mid;
      } catch {
        hi = mid;
      }
    }
    throw new ImageJsonError(`invalid UTF-8 at byte offset ${lo}, expected JSON text`, '$');
  }
}

export function registerEncode(program: Command): void {
  program
    .command('encode')
    .description('encode crit-style JSON (plain or --pretty form) back into a CRIU image')
    .argument('<file>', 'JSON file ("-" for stdin)')
    .option('-o, --output <out>', 'write the image here instead of stdout')
    .action(async (file, opts) => {
      const bytes = file === '-' ? await cliStreams().stdin() : await readWholeFile(file);
      let img: Uint8Array;
      try {
        img = encodeFromJsonText(jsonText(bytes));
      } catch (e) {
        if (e instanceof ImageJsonError) throw e.withFile(file === '-' ? '<stdin>' : file);
        throw e;
      }
      if (opts.output) writeFileAtomic(opts.output, img);
      else cliStreams().stdout(img);
    });
}
