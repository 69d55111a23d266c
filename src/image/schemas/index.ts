/**
 * Which message schema each image type's entries use (by crit's magic name), following crit's
 * handler table (pycriu images.py) where crit has one.
 *
 * An image type listed in magic.ts but not here still decodes: its entries become raw fields.
 * Types whose entries are followed by raw data (PIPES_DATA, FIFO_DATA, SK_QUEUES, TCP_STREAM,
 * GHOST_FILE, IPCNS_SHM, IPCNS_MSG, IPCNS_SEM, BPFMAP_DATA) are listed here with their entry
 * messages; ../extra.ts reads and writes the data. Not listed on purpose: KDAT (a raw C struct).
 */
import type { MessageSchema } from '../schema.js';
import {
  coreEntry,
  credsEntry,
  itimerEntry,
  posixTimerEntry,
  rlimitEntry,
  saEntry,
  siginfoEntry,
  taskKobjIdsEntry,
} from './core.js';
import { cpuinfoEntry } from './core-arch.js';
import {
  bpfmapDataEntry,
  bpfmapFileEntry,
  eventfdFileEntry,
  eventpollFileEntry,
  eventpollTfdEntry,
  extFileEntry,
  fanotifyFileEntry,
  fanotifyMarkEntry,
  fdinfoEntry,
  fifoEntry,
  fileEntry,
  fileLockEntry,
  ghostChunkEntry,
  ghostFileEntry,
  inotifyFileEntry,
  inotifyWdEntry,
  irmapCacheEntry,
  memfdInodeEntry,
  nsFileEntry,
  pidfdEntry,
  pipeDataEntry,
  pipeEntry,
  regFileEntry,
  remapFilePathEntry,
  signalfdEntry,
  timerfdEntry,
  ttyDataEntry,
  ttyFileEntry,
  ttyInfoEntry,
  tunfileEntry,
} from './files.js';
import { inventoryEntry } from './inventory.js';
import { ipcMsgEntry, ipcSemEntry, ipcShmEntry, ipcVarEntry } from './ipc.js';
import { mmEntry, vmaEntry } from './mm.js';
import { autofsEntry, binfmtMiscEntry, cgroupEntry, mntEntry } from './mnt.js';
import { netDeviceEntry, netnsEntry } from './net.js';
import { pagemapEntry, pagemapHead } from './pagemap.js';
import {
  inetSkEntry,
  netlinkSkEntry,
  packetSockEntry,
  skPacketEntry,
  tcpStreamEntry,
  unixSkEntry,
} from './sockets.js';
import {
  apparmorEntry,
  fsEntry,
  pidnsEntry,
  pstreeEntry,
  seccompEntry,
  statsEntry,
  timensEntry,
  usernsEntry,
  utsnsEntry,
} from './task.js';

export interface ImageSchema {
  /** Schema of the first entry, when it differs from the rest (pagemap's head). */
  readonly head?: MessageSchema;
  readonly entry: MessageSchema;
}

const one = (entry: MessageSchema): ImageSchema => ({ entry });

export const IMAGE_SCHEMAS: Readonly<Record<string, ImageSchema>> = {
  INVENTORY: one(inventoryEntry),
  CORE: one(coreEntry),
  IDS: one(taskKobjIdsEntry),
  CREDS: one(credsEntry),
  UTSNS: one(utsnsEntry),
  TIMENS: one(timensEntry),
  PIDNS: one(pidnsEntry),
  IPC_VAR: one(ipcVarEntry),
  FS: one(fsEntry),
  MM: one(mmEntry),
  CGROUP: one(cgroupEntry),
  STATS: one(statsEntry),
  PAGEMAP: { head: pagemapHead, entry: pagemapEntry },
  PSTREE: one(pstreeEntry),
  REG_FILES: one(regFileEntry),
  NS_FILES: one(nsFileEntry),
  EVENTFD_FILE: one(eventfdFileEntry),
  EVENTPOLL_FILE: one(eventpollFileEntry),
  EVENTPOLL_TFD: one(eventpollTfdEntry),
  SIGNALFD: one(signalfdEntry),
  TIMERFD: one(timerfdEntry),
  INOTIFY_FILE: one(inotifyFileEntry),
  INOTIFY_WD: one(inotifyWdEntry),
  FANOTIFY_FILE: one(fanotifyFileEntry),
  FANOTIFY_MARK: one(fanotifyMarkEntry),
  VMAS: one(vmaEntry),
  PIPES: one(pipeEntry),
  FIFO: one(fifoEntry),
  SIGACT: one(saEntry),
  NETLINK_SK: one(netlinkSkEntry),
  REMAP_FPATH: one(remapFilePathEntry),
  MNTS: one(mntEntry),
  TTY_FILES: one(ttyFileEntry),
  TTY_INFO: one(ttyInfoEntry),
  TTY_DATA: one(ttyDataEntry),
  RLIMIT: one(rlimitEntry),
  TUNFILE: one(tunfileEntry),
  EXT_FILES: one(extFileEntry),
  IRMAP_CACHE: one(irmapCacheEntry),
  FILE_LOCKS: one(fileLockEntry),
  FDINFO: one(fdinfoEntry),
  UNIXSK: one(unixSkEntry),
  INETSK: one(inetSkEntry),
  PACKETSK: one(packetSockEntry),
  ITIMERS: one(itimerEntry),
  POSIX_TIMERS: one(posixTimerEntry),
  NETDEV: one(netDeviceEntry),
  NETNS: one(netnsEntry),
  USERNS: one(usernsEntry),
  SECCOMP: one(seccompEntry),
  AUTOFS: one(autofsEntry),
  FILES: one(fileEntry),
  CPUINFO: one(cpuinfoEntry),
  MEMFD_INODE: one(memfdInodeEntry),
  BPFMAP_FILE: one(bpfmapFileEntry),
  APPARMOR: one(apparmorEntry),
  // entries followed by raw data (../extra.ts); a ghost file with chunks has chunk entries after it
  PIPES_DATA: one(pipeDataEntry),
  FIFO_DATA: one(pipeDataEntry),
  SK_QUEUES: one(skPacketEntry),
  TCP_STREAM: one(tcpStreamEntry),
  GHOST_FILE: { head: ghostFileEntry, entry: ghostChunkEntry },
  IPCNS_SHM: one(ipcShmEntry),
  IPCNS_SEM: one(ipcSemEntry),
  IPCNS_MSG: one(ipcMsgEntry),
  BPFMAP_DATA: one(bpfmapDataEntry),
  // CRIU reads these too, though crit 4.2 has no handler for them
  SIGNAL: one(siginfoEntry),
  BINFMT_MISC: one(binfmtMiscEntry),
  PIDFD: one(pidfdEntry),
};
