import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { processAlive } from '../../bot/local/processes.js';

const children: ChildProcess[] = [];
afterEach(() => children.splice(0).forEach((c) => c.kill('SIGKILL')));

/** Runs `python3 -c code` and returns the pid it prints first. */
async function pidPrintedBy(code: string): Promise<number> {
  const child = spawn('python3', ['-c', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return Number(line);
}

function state(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('processAlive', () => {
  it('is true for a running process and false for a pid nobody has', async () => {
    expect(processAlive(process.pid)).toBe(true);
    const pid = await pidPrintedBy('import os, time; print(os.getpid(), flush=True); time.sleep(30)');
    expect(processAlive(pid)).toBe(true);
    children[0]!.kill('SIGKILL');
    await once(children[0]!, 'exit'); // node reaps its own child
    expect(processAlive(pid)).toBe(false);
    expect(processAlive(0)).toBe(false);
    expect(processAlive(-1)).toBe(false);
    expect(processAlive(Number.NaN)).toBe(false);
  });

  it.runIf(process.platform === 'linux')('counts an exited process its parent has not reaped (a zombie) as gone', async () => {
    // The parent forks a child that exits at once, and sleeps without wait(): the child stays a zombie.
    const pid = await pidPrintedBy('import os, time\npid = os.fork()\nif pid == 0: os._exit(0)\nprint(pid, flush=True)\ntime.sleep(30)');
    await until(() => state(pid) === 'Z', 'the child to become a zombie');
    expect(() => process.kill(pid, 0)).not.toThrow(); // kill(pid, 0) alone still finds it
    expect(processAlive(pid)).toBe(false);
  });
});
