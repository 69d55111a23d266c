/**
 * ipc-desc, ipc-var, ipc-shm, ipc-msg, ipc-sem protos: IPC_VAR, and the IPCNS_SHM / IPCNS_MSG /
 * IPCNS_SEM entries (those images carry raw segment, message and semaphore data after entries).
 */
import { message } from '../schema.js';
import { opt, rep, req } from './dsl.js';

export const ipcDescEntry = message('ipc_desc_entry', [
  req(1, 'key', 'uint32'),
  req(2, 'uid', 'uint32'),
  req(3, 'gid', 'uint32'),
  req(4, 'cuid', 'uint32'),
  req(5, 'cgid', 'uint32'),
  req(6, 'mode', 'uint32'),
  req(7, 'id', 'uint32'),
]);

export const ipcVarEntry = message('ipc_var_entry', [
  rep(1, 'sem_ctls', 'uint32'),
  req(2, 'msg_ctlmax', 'uint32'),
  req(3, 'msg_ctlmnb', 'uint32'),
  req(4, 'msg_ctlmni', 'uint32'),
  req(5, 'auto_msgmni', 'uint32'),
  req(6, 'shm_ctlmax', 'uint64'),
  req(7, 'shm_ctlall', 'uint64'),
  req(8, 'shm_ctlmni', 'uint32'),
  req(9, 'shm_rmid_forced', 'uint32'),
  req(10, 'mq_queues_max', 'uint32'),
  req(11, 'mq_msg_max', 'uint32'),
  req(12, 'mq_msgsize_max', 'uint32'),
  opt(13, 'mq_msg_default', 'uint32'),
  opt(14, 'mq_msgsize_default', 'uint32'),
  opt(15, 'msg_next_id', 'uint32'),
  opt(16, 'sem_next_id', 'uint32'),
  opt(17, 'shm_next_id', 'uint32'),
]);

export const ipcShmEntry = message('ipc_shm_entry', [
  req(1, 'desc', () => ipcDescEntry),
  req(2, 'size', 'uint64'),
  opt(3, 'in_pagemaps', 'bool'),
  opt(4, 'hugetlb_flag', 'uint32'),
]);

export const ipcMsg = message('ipc_msg', [req(1, 'mtype', 'uint64'), req(2, 'msize', 'uint32')]);

export const ipcMsgEntry = message('ipc_msg_entry', [
  req(1, 'desc', () => ipcDescEntry),
  req(2, 'qbytes', 'uint32'),
  req(3, 'qnum', 'uint32'),
]);

export const ipcSemEntry = message('ipc_sem_entry', [
  req(1, 'desc', () => ipcDescEntry),
  req(2, 'nsems', 'uint32'),
]);
