/** Small helpers for the ops that touch the filesystem. */

/** One short phrase for a failed fs call ("no space left on device"), for one-line errors. */
export function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'not a directory (a component of the path is a file)';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case 'ENAMETOOLONG':
      return 'file name too long';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EROFS':
      return 'read-only file system';
    case 'EEXIST':
      return 'already exists';
    case 'ENOTEMPTY':
      return 'directory not empty';
    case 'EXDEV':
      return 'not on the same filesystem';
    case 'ERR_FS_FILE_TOO_LARGE':
      return 'file is too large to read (more than 2 GiB)';
    default:
      return (err?.message ?? String(e)).split('\n')[0]!;
  }
}

/** Whether a process exists (temp files named after a dead pid are leftovers of a killed run). */
export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
