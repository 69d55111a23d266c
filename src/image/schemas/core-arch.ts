/**
 * core-{arm,aarch64,ppc64,s390,mips,loongarch64,riscv64}.proto: the other architectures'
 * `core_entry.ti_*` register sets.
 */
import { message } from '../schema.js';
import { enumOf, HEX, opt, rep, req, seq } from './dsl.js';

const numbered = (prefix: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}${i}`);

// core-arm.proto
export const userArmRegsEntry = message('user_arm_regs_entry', [
  ...seq(1, 'uint32', [...numbered('r', 11), 'fp', 'ip', 'sp', 'lr', 'pc', 'cpsr', 'orig_r0']),
]);

export const userArmVfpstateEntry = message('user_arm_vfpstate_entry', [
  rep(1, 'vfp_regs', 'uint64'),
  req(2, 'fpscr', 'uint32'),
  req(3, 'fpexc', 'uint32'),
  req(4, 'fpinst', 'uint32'),
  req(5, 'fpinst2', 'uint32'),
]);

export const threadInfoArm = message('thread_info_arm', [
  req(1, 'clear_tid_addr', 'uint64', HEX),
  req(2, 'tls', 'uint32'),
  req(3, 'gpregs', () => userArmRegsEntry, HEX),
  req(4, 'fpstate', () => userArmVfpstateEntry),
]);

// core-aarch64.proto
export const userAarch64RegsEntry = message('user_aarch64_regs_entry', [
  rep(1, 'regs', 'uint64'),
  req(2, 'sp', 'uint64'),
  req(3, 'pc', 'uint64'),
  req(4, 'pstate', 'uint64'),
]);

export const userAarch64FpsimdContextEntry = message('user_aarch64_fpsimd_context_entry', [
  rep(1, 'vregs', 'uint64'),
  req(2, 'fpsr', 'uint32'),
  req(3, 'fpcr', 'uint32'),
]);

export const pacAddressKeys = message('pac_address_keys', [
  ...seq(1, 'uint64', [
    'apiakey_lo',
    'apiakey_hi',
    'apibkey_lo',
    'apibkey_hi',
    'apdakey_lo',
    'apdakey_hi',
    'apdbkey_lo',
    'apdbkey_hi',
    'pac_enabled_key',
  ]),
]);

export const pacGenericKeys = message('pac_generic_keys', [
  ...seq(1, 'uint64', ['apgakey_lo', 'apgakey_hi']),
]);

export const pacKeys = message('pac_keys', [
  opt(6, 'pac_address_keys', () => pacAddressKeys),
  opt(7, 'pac_generic_keys', () => pacGenericKeys),
]);

export const threadInfoAarch64 = message('thread_info_aarch64', [
  req(1, 'clear_tid_addr', 'uint64', HEX),
  req(2, 'tls', 'uint64'),
  req(3, 'gpregs', () => userAarch64RegsEntry, HEX),
  req(4, 'fpsimd', () => userAarch64FpsimdContextEntry),
  opt(5, 'pac_keys', () => pacKeys),
]);

// core-ppc64.proto
export const userPpc64RegsEntry = message('user_ppc64_regs_entry', [
  rep(1, 'gpr', 'uint64'),
  ...seq(2, 'uint64', ['nip', 'msr', 'orig_gpr3', 'ctr', 'link', 'xer', 'ccr', 'trap']),
  opt(10, 'texasr', 'uint64'),
  opt(11, 'tfhar', 'uint64'),
  opt(12, 'tfiar', 'uint64'),
]);

export const userPpc64FpstateEntry = message('user_ppc64_fpstate_entry', [rep(1, 'fpregs', 'uint64')]);

export const userPpc64VrstateEntry = message('user_ppc64_vrstate_entry', [
  rep(1, 'vrregs', 'uint64'),
  req(2, 'vrsave', 'uint32'),
]);

export const userPpc64VsxstateEntry = message('user_ppc64_vsxstate_entry', [rep(1, 'vsxregs', 'uint64')]);

export const userPpc64TmRegsEntry = message('user_ppc64_tm_regs_entry', [
  req(1, 'gpregs', () => userPpc64RegsEntry),
  opt(2, 'fpstate', () => userPpc64FpstateEntry),
  opt(3, 'vrstate', () => userPpc64VrstateEntry),
  opt(4, 'vsxstate', () => userPpc64VsxstateEntry),
]);

export const threadInfoPpc64 = message('thread_info_ppc64', [
  req(1, 'clear_tid_addr', 'uint64', HEX),
  req(2, 'gpregs', () => userPpc64RegsEntry, HEX),
  opt(3, 'fpstate', () => userPpc64FpstateEntry),
  opt(4, 'vrstate', () => userPpc64VrstateEntry),
  opt(5, 'vsxstate', () => userPpc64VsxstateEntry),
  opt(6, 'tmstate', () => userPpc64TmRegsEntry),
]);

// core-s390.proto
export const userS390RegsEntry = message('user_s390_regs_entry', [
  req(1, 'psw_mask', 'uint64'),
  req(2, 'psw_addr', 'uint64'),
  rep(3, 'gprs', 'uint64'),
  rep(4, 'acrs', 'uint32'),
  req(5, 'orig_gpr2', 'uint64'),
  req(6, 'system_call', 'uint32'),
]);

export const userS390VxrsLowEntry = message('user_s390_vxrs_low_entry', [rep(1, 'regs', 'uint64')]);

export const userS390VxrsHighEntry = message('user_s390_vxrs_high_entry', [rep(1, 'regs', 'uint64')]);

export const userS390FpregsEntry = message('user_s390_fpregs_entry', [
  req(1, 'fpc', 'uint32'),
  rep(2, 'fprs', 'uint64'),
]);

export const userS390GsCbEntry = message('user_s390_gs_cb_entry', [rep(1, 'regs', 'uint64')]);

export const userS390RiEntry = message('user_s390_ri_entry', [
  req(1, 'ri_on', 'uint32'),
  rep(2, 'regs', 'uint64'),
]);

export const threadInfoS390 = message('thread_info_s390', [
  req(1, 'clear_tid_addr', 'uint64', HEX),
  req(2, 'gpregs', () => userS390RegsEntry, HEX),
  req(3, 'fpregs', () => userS390FpregsEntry, HEX),
  opt(4, 'vxrs_low', () => userS390VxrsLowEntry, HEX),
  opt(5, 'vxrs_high', () => userS390VxrsHighEntry, HEX),
  opt(6, 'gs_cb', () => userS390GsCbEntry, HEX),
  opt(7, 'gs_bc', () => userS390GsCbEntry, HEX),
  opt(8, 'ri_cb', () => userS390RiEntry, HEX),
]);

// core-mips.proto
export const userMipsRegsEntry = message('user_mips_regs_entry', [
  ...seq(1, 'uint64', [
    ...numbered('r', 32),
    'lo',
    'hi',
    'cp0_epc',
    'cp0_badvaddr',
    'cp0_status',
    'cp0_cause',
  ]),
]);

export const userMipsFpregsEntry = message('user_mips_fpregs_entry', [
  ...seq(1, 'uint64', [...numbered('r', 32), 'lo', 'hi']),
  req(35, 'fpu_fcr31', 'uint32'),
  req(36, 'fpu_id', 'uint32'),
]);

export const threadInfoMips = message('thread_info_mips', [
  req(1, 'clear_tid_addr', 'uint64', HEX),
  req(2, 'tls', 'uint64'),
  req(3, 'gpregs', () => userMipsRegsEntry, HEX),
  req(4, 'fpregs', () => userMipsFpregsEntry, HEX),
]);

// core-loongarch64.proto
export const userLoongarch64GpregsEntry = message('user_loongarch64_gpregs_entry', [
  rep(1, 'regs', 'uint64'),
  req(2, 'pc', 'uint64'),
]);

export const userLoongarch64FpregsEntry = message('user_loongarch64_fpregs_entry', [
  rep(1, 'regs', 'uint64'),
  req(2, 'fcc', 'uint64'),
  req(3, 'fcsr', 'uint32'),
]);

export const threadInfoLoongarch64 = message('thread_info_loongarch64', [
  req(1, 'clear_tid_addr', 'uint64', HEX),
  req(2, 'tls', 'uint64'),
  req(3, 'gpregs', () => userLoongarch64GpregsEntry, HEX),
  req(4, 'fpregs', () => userLoongarch64FpregsEntry, HEX),
]);

// core-riscv64.proto
export const userRiscv64RegsEntry = message('user_riscv64_regs_entry', [
  ...seq(1, 'uint64', [
    'pc',
    'ra',
    'sp',
    'gp',
    'tp',
    't0',
    't1',
    't2',
    's0',
    's1',
    'a0',
    'a1',
    'a2',
    'a3',
    'a4',
    'a5',
    'a6',
    'a7',
    's2',
    's3',
    's4',
    's5',
    's6',
    's7',
    's8',
    's9',
    's10',
    's11',
    't3',
    't4',
    't5',
    't6',
  ]),
]);

export const userRiscv64DExtEntry = message('user_riscv64_d_ext_entry', [
  rep(1, 'f', 'uint64'),
  req(2, 'fcsr', 'uint32'),
]);

export const threadInfoRiscv64 = message('thread_info_riscv64', [
  req(1, 'clear_tid_addr', 'uint64', HEX),
  req(2, 'tls', 'uint64'),
  req(3, 'gpregs', () => userRiscv64RegsEntry, HEX),
  req(4, 'fpsimd', () => userRiscv64DExtEntry),
]);

// cpuinfo.proto
export const cpuinfoX86Vendor = enumOf('vendor', { UNKNOWN: 0, INTEL: 1, AMD: 2 });

export const cpuinfoX86Entry = message('cpuinfo_x86_entry', [
  req(1, 'vendor_id', cpuinfoX86Vendor),
  req(2, 'cpu_family', 'uint32'),
  req(3, 'model', 'uint32'),
  req(4, 'stepping', 'uint32'),
  req(5, 'capability_ver', 'uint32'),
  rep(6, 'capability', 'uint32'),
  opt(7, 'model_id', 'string'),
  opt(8, 'xfeatures_mask', 'uint64'),
  opt(9, 'xsave_size', 'uint32'),
  opt(10, 'xsave_size_max', 'uint32'),
]);

export const cpuinfoPpc64Endianness = enumOf('endianness', { BIGENDIAN: 0, LITTLEENDIAN: 1 });

export const cpuinfoPpc64Entry = message('cpuinfo_ppc64_entry', [
  req(1, 'endian', cpuinfoPpc64Endianness),
  rep(2, 'hwcap', 'uint64'),
]);

export const cpuinfoS390Entry = message('cpuinfo_s390_entry', [rep(2, 'hwcap', 'uint64')]);

export const cpuinfoEntry = message('cpuinfo_entry', [
  rep(1, 'x86_entry', () => cpuinfoX86Entry),
  rep(2, 'ppc64_entry', () => cpuinfoPpc64Entry),
  rep(3, 's390_entry', () => cpuinfoS390Entry),
]);
