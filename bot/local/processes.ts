// Signalling the process groups that job processes and resident workers lead (each is spawned detached).
import { existsSync, readFileSync } from 'node:fs';

/** Linux with /proc mounted: a process's state can be read (some sandboxes have no /proc). */
const PROC_STATES = process.platform === 'linux' && existsSync('/proc/self/stat');

/** Signals the whole group led by `pid` (the job and anything it started), or just `pid` when it leads none. */
export function killGroup(pid: number, signal: NodeJS.Signals = 'SIGTERM'): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Whether a process with this pid is still running (EPERM: it exists but belongs to someone else). A zombie has ended:
 * it only waits for its parent to reap it, which for an adopted job (re-parented to PID 1) can take seconds in a
 * container, and kill(pid, 0) still succeeds on it; on Linux /proc says so (state Z).
 */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !PROC_STATES || !isZombie(pid);
}

/** The state field of /proc/PID/stat (after the parenthesised command name, which may itself hold ") "). */
function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT'; // reaped meanwhile
  }
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}
