/** core-x86.proto: x86_64 (and ia32 compat) registers of `core_entry.thread_info`. */
import { message } from '../schema.js';
import { enumOf, HEX, opt, rep, req, seq } from './dsl.js';

export const userX86RegsMode = enumOf('user_x86_regs_mode', { NATIVE: 1, COMPAT: 2 });

/**
 * The general-purpose registers of user_x86_regs_entry, fields 1..27 in this order, which is the
 * order of the kernel's struct user_regs_struct on x86_64 (elf_gregset_t, as in NT_PRSTATUS).
 */
export const USER_X86_REGS = [
  'r15',
  'r14',
  'r13',
  'r12',
  'bp',
  'bx',
  'r11',
  'r10',
  'r9',
  'r8',
  'ax',
  'cx',
  'dx',
  'si',
  'di',
  'orig_ax',
  'ip',
  'cs',
  'flags',
  'sp',
  'ss',
  'fs_base',
  'gs_base',
  'ds',
  'es',
  'fs',
  'gs',
] as const;

/** Used for both 64- and 32-bit register sets. */
export const userX86RegsEntry = message('user_x86_regs_entry', [
  ...seq(1, 'uint64', USER_X86_REGS),
  opt(28, 'mode', userX86RegsMode),
]);

export const userX86CetEntry = message('user_x86_cet_entry', [
  req(1, 'cet', 'uint64', HEX),
  req(2, 'ssp', 'uint64', HEX),
]);

export const userX86XsaveEntry = message('user_x86_xsave_entry', [
  req(1, 'xstate_bv', 'uint64'),
  rep(2, 'ymmh_space', 'uint32'),
  rep(3, 'bndreg_state', 'uint64'),
  rep(4, 'bndcsr_state', 'uint64'),
  rep(5, 'opmask_reg', 'uint64'),
  rep(6, 'zmm_upper', 'uint64'),
  rep(7, 'hi16_zmm', 'uint64'),
  rep(8, 'pkru', 'uint32'),
  opt(9, 'cet', () => userX86CetEntry),
]);

export const userX86FpregsEntry = message('user_x86_fpregs_entry', [
  req(1, 'cwd', 'uint32'),
  req(2, 'swd', 'uint32'),
  req(3, 'twd', 'uint32'),
  req(4, 'fop', 'uint32'),
  req(5, 'rip', 'uint64'),
  req(6, 'rdp', 'uint64'),
  req(7, 'mxcsr', 'uint32'),
  req(8, 'mxcsr_mask', 'uint32'),
  rep(9, 'st_space', 'uint32'),
  rep(10, 'xmm_space', 'uint32'),
  rep(11, 'padding', 'uint32'),
  opt(13, 'xsave', () => userX86XsaveEntry),
]);

export const userDescT = message('user_desc_t', [
  req(1, 'entry_number', 'uint32'),
  req(2, 'base_addr', 'uint32'),
  req(3, 'limit', 'uint32'),
  req(4, 'seg_32bit', 'bool'),
  req(5, 'contents_h', 'bool'),
  req(6, 'contents_l', 'bool'),
  req(7, 'read_exec_only', 'bool'),
  req(8, 'limit_in_pages', 'bool'),
  req(9, 'seg_not_present', 'bool'),
  req(10, 'usable', 'bool'),
]);

export const threadInfoX86 = message('thread_info_x86', [
  req(1, 'clear_tid_addr', 'uint64', HEX),
  req(2, 'gpregs', () => userX86RegsEntry, HEX),
  req(3, 'fpregs', () => userX86FpregsEntry),
  rep(4, 'tls', () => userDescT),
]);
