/**
 * The PT_LOAD segments of an ELF64 little-endian core, read here independently of the exporter
 * (the ELF header and program headers only; PN_XNUM through section 0 as the gABI says).
 */

/** One PT_LOAD: `filesz` bytes of the file at `offset` are memory at `vaddr`. */
export interface Load {
  vaddr: number;
  offset: number;
  filesz: number;
  memsz: number;
}

export function elfLoads(bytes: Uint8Array): Load[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, false) !== 0x7f454c46 || bytes[4] !== 2 || bytes[5] !== 1) {
    throw new Error('not an ELF64 little-endian file');
  }
  if (dv.getUint16(16, true) !== 4) throw new Error(`e_type ${dv.getUint16(16, true)}, expected ET_CORE (4)`);
  const phoff = Number(dv.getBigUint64(32, true));
  const phentsize = dv.getUint16(54, true);
  let phnum = dv.getUint16(56, true);
  if (phnum === 0xffff) phnum = dv.getUint32(Number(dv.getBigUint64(40, true)) + 44, true);
  const out: Load[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (dv.getUint32(p, true) !== 1) continue;
    out.push({
      offset: Number(dv.getBigUint64(p + 8, true)),
      vaddr: Number(dv.getBigUint64(p + 16, true)),
      filesz: Number(dv.getBigUint64(p + 32, true)),
      memsz: Number(dv.getBigUint64(p + 40, true)),
    });
  }
  return out.sort((a, b) => a.vaddr - b.vaddr);
}

/** The bytes of [addr, addr+len) in the core, or null where no PT_LOAD holds all of them. */
export function coreBytes(
  bytes: Uint8Array,
  loads: readonly Load[],
  addr: number,
  len: number,
): Uint8Array | null {
  const l = loads.find((x) => x.vaddr <= addr && addr + len <= x.vaddr + x.filesz);
  if (!l) return null;
  const at = l.offset + (addr - l.vaddr);
  return bytes.subarray(at, at + len);
}
