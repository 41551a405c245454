// Signalling the process groups that job processes and resident workers lead (each is spawned detached).

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
