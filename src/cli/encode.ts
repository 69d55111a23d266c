/** `pagestack encode FILE.json [-o OUT]`: crit-style JSON (plain or pretty) back to an image. */
import type { Command } from '@commander-js/extra-typings';
import { writeFileAtomic } from '../engine/output.js';
import { ImageJsonError } from '../errors.js';
import { encodeFromJsonText } from '../image/image.js';
import { partitionPoint } from '../stack/search.js';
import { cliStreams, readWholeFile } from './io.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The JSON text of `bytes`; invalid UTF-8 is an error naming the first bad byte. */
function jsonText(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ImageJsonError(`invalid UTF-8 at byte offset ${badUtf8Offset(bytes)}, expected JSON text`, '$');
  }
}

/** Where the first invalid UTF-8 sequence of `bytes` starts. */
function badUtf8Offset(bytes: Uint8Array): number {
  // the longest prefix that decodes in stream mode (which leaves a cut sequence at the end pending)
  const decodes = (n: number): boolean => {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, n), { stream: true });
      return true;
    } catch {
      return false;
    }
  };
  // decodes(0) holds; lo = the longest prefix that does
  const lo = partitionPoint(1, bytes.length + 1, decodes) - 1;
  // byte `lo` breaks the text (or the text ends at `lo`); a sequence still unfinished there is the
  // bad one: step back over continuation bytes to its lead byte
  let k = lo - 1;
  while (k >= 0 && lo - k <= 3 && (bytes[k]! & 0xc0) === 0x80) k--;
  if (k < 0 || lo - k > 3) return lo;
  const lead = bytes[k]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return need > lo - k ? k : lo;
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
      if (opts.output) await writeFileAtomic(opts.output, img, { inputs: file === '-' ? [] : [file] });
      else cliStreams().stdout(img);
    });
}
