/**
 * core.proto and the small protos it pulls in (creds, sa, siginfo, rseq, timer, rlimit):
 * `core-<tid>.img` (CORE: core_entry), `ids-<pid>.img` (IDS: task_kobj_ids_entry), and the old
 * per-type images CREDS, SIGACT, ITIMERS, POSIX_TIMERS, RLIMIT, SIGNAL.
 */
import { message } from '../schema.js';
import {
  threadInfoAarch64,
  threadInfoArm,
  threadInfoLoongarch64,
  threadInfoMips,
  threadInfoPpc64,
  threadInfoRiscv64,
  threadInfoS390,
} from './core-arch.js';
import { threadInfoX86 } from './core-x86.js';
import { enumOf, HEX, opt, rep, req } from './dsl.js';

// creds.proto
export const credsEntry = message('creds_entry', [
  req(1, 'uid', 'uint32'),
  req(2, 'gid', 'uint32'),
  req(3, 'euid', 'uint32'),
  req(4, 'egid', 'uint32'),
  req(5, 'suid', 'uint32'),
  req(6, 'sgid', 'uint32'),
  req(7, 'fsuid', 'uint32'),
  req(8, 'fsgid', 'uint32'),
  rep(9, 'cap_inh', 'uint32'),
  rep(10, 'cap_prm', 'uint32'),
  rep(11, 'cap_eff', 'uint32'),
  rep(12, 'cap_bnd', 'uint32'),
  req(13, 'secbits', 'uint32'),
  rep(14, 'groups', 'uint32'),
  opt(15, 'lsm_profile', 'string'),
  opt(16, 'lsm_sockcreate', 'string'),
  opt(17, 'apparmor_data', 'bytes'),
  opt(18, 'no_new_privs', 'uint32'),
  rep(19, 'cap_amb', 'uint32'),
]);

// sa.proto
export const saEntry = message('sa_entry', [
  req(1, 'sigaction', 'uint64', HEX),
  req(2, 'flags', 'uint64', HEX),
  req(3, 'restorer', 'uint64', HEX),
  req(4, 'mask', 'uint64', HEX),
  opt(5, 'compat_sigaction', 'bool'),
  opt(6, 'mask_extended', 'uint64', HEX),
]);

// siginfo.proto
export const siginfoEntry = message('siginfo_entry', [req(1, 'siginfo', 'bytes')]);

export const signalQueueEntry = message('signal_queue_entry', [rep(1, 'signals', () => siginfoEntry)]);

// rseq.proto
export const rseqEntry = message('rseq_entry', [
  req(1, 'rseq_abi_pointer', 'uint64'),
  req(2, 'rseq_abi_size', 'uint32'),
  req(3, 'signature', 'uint32'),
  opt(4, 'rseq_cs_pointer', 'uint64'),
]);

// timer.proto
export const itimerEntry = message('itimer_entry', [
  req(1, 'isec', 'uint64'),
  req(2, 'iusec', 'uint64'),
  req(3, 'vsec', 'uint64'),
  req(4, 'vusec', 'uint64'),
]);

export const posixTimerEntry = message('posix_timer_entry', [
  req(1, 'it_id', 'uint32'),
  req(2, 'clock_id', 'uint32'),
  req(3, 'si_signo', 'uint32'),
  req(4, 'it_sigev_notify', 'uint32'),
  req(5, 'sival_ptr', 'uint64'),
  req(6, 'overrun', 'uint32'),
  req(7, 'isec', 'uint64'),
  req(8, 'insec', 'uint64'),
  req(9, 'vsec', 'uint64'),
  req(10, 'vnsec', 'uint64'),
  opt(11, 'notify_thread_id', 'int32'),
]);

export const taskTimersEntry = message('task_timers_entry', [
  req(1, 'real', () => itimerEntry),
  req(2, 'virt', () => itimerEntry),
  req(3, 'prof', () => itimerEntry),
  rep(4, 'posix', () => posixTimerEntry),
]);

// rlimit.proto
export const rlimitEntry = message('rlimit_entry', [req(1, 'cur', 'uint64'), req(2, 'max', 'uint64')]);

// core.proto
export const seccompMode = enumOf('seccomp_mode', { disabled: 0, strict: 1, filter: 2 });

export const taskCoreEntry = message('task_core_entry', [
  req(1, 'task_state', 'uint32', { dict: 'gen' }),
  req(2, 'exit_code', 'uint32'),
  req(3, 'personality', 'uint32'),
  req(4, 'flags', 'uint32'),
  req(5, 'blk_sigset', 'uint64', HEX),
  req(6, 'comm', 'string'),
  opt(7, 'timers', () => taskTimersEntry),
  opt(8, 'rlimits', () => taskRlimitsEntry),
  opt(9, 'cg_set', 'uint32'),
  opt(10, 'signals_s', () => signalQueueEntry),
  opt(11, 'old_seccomp_mode', seccompMode),
  opt(12, 'old_seccomp_filter', 'uint32'),
  opt(13, 'loginuid', 'uint32'),
  opt(14, 'oom_score_adj', 'int32'),
  rep(15, 'sigactions', () => saEntry),
  opt(18, 'child_subreaper', 'bool'),
  opt(20, 'blk_sigset_extended', 'uint64', HEX),
  opt(21, 'stop_signo', 'uint32'),
  opt(22, 'membarrier_registration_mask', 'uint32', HEX),
]);

export const taskKobjIdsEntry = message('task_kobj_ids_entry', [
  req(1, 'vm_id', 'uint32'),
  req(2, 'files_id', 'uint32'),
  req(3, 'fs_id', 'uint32'),
  req(4, 'sighand_id', 'uint32'),
  opt(5, 'pid_ns_id', 'uint32'),
  opt(6, 'net_ns_id', 'uint32'),
  opt(7, 'ipc_ns_id', 'uint32'),
  opt(8, 'uts_ns_id', 'uint32'),
  opt(9, 'mnt_ns_id', 'uint32'),
  opt(10, 'user_ns_id', 'uint32'),
  opt(11, 'cgroup_ns_id', 'uint32'),
  opt(12, 'time_ns_id', 'uint32'),
]);

export const threadSasEntry = message('thread_sas_entry', [
  req(1, 'ss_sp', 'uint64'),
  req(2, 'ss_size', 'uint64'),
  req(3, 'ss_flags', 'uint32'),
]);

export const threadCoreEntry = message('thread_core_entry', [
  req(1, 'futex_rla', 'uint64'),
  req(2, 'futex_rla_len', 'uint32'),
  opt(3, 'sched_nice', 'sint32'),
  opt(4, 'sched_policy', 'uint32'),
  opt(5, 'sched_prio', 'uint32'),
  opt(6, 'blk_sigset', 'uint64'),
  opt(7, 'sas', () => threadSasEntry),
  opt(8, 'pdeath_sig', 'uint32'),
  opt(9, 'signals_p', () => signalQueueEntry),
  opt(10, 'creds', () => credsEntry),
  opt(11, 'seccomp_mode', seccompMode),
  opt(12, 'seccomp_filter', 'uint32'),
  opt(13, 'comm', 'string'),
  opt(14, 'blk_sigset_extended', 'uint64'),
  opt(15, 'rseq_entry', () => rseqEntry),
  opt(16, 'cg_set', 'uint32'),
]);

export const taskRlimitsEntry = message('task_rlimits_entry', [rep(1, 'rlimits', () => rlimitEntry)]);

export const coreMarch = enumOf('march', {
  UNKNOWN: 0,
  X86_64: 1,
  ARM: 2,
  AARCH64: 3,
  PPC64: 4,
  S390: 5,
  MIPS: 6,
  LOONGARCH64: 7,
  RISCV64: 8,
});

export const coreEntry = message('core_entry', [
  req(1, 'mtype', coreMarch),
  opt(2, 'thread_info', () => threadInfoX86),
  opt(3, 'tc', () => taskCoreEntry),
  opt(4, 'ids', () => taskKobjIdsEntry),
  opt(5, 'thread_core', () => threadCoreEntry),
  opt(6, 'ti_arm', () => threadInfoArm),
  opt(8, 'ti_aarch64', () => threadInfoAarch64),
  opt(9, 'ti_ppc64', () => threadInfoPpc64),
  opt(10, 'ti_s390', () => threadInfoS390),
  opt(11, 'ti_mips', () => threadInfoMips),
  opt(12, 'ti_loongarch64', () => threadInfoLoongarch64),
  opt(13, 'ti_riscv64', () => threadInfoRiscv64),
]);
