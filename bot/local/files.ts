// ObjectStore on the local file system: <root>/jobs/<jobId>/input and /output, the processing job's own folders.
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ObjectStore } from '../core/ports.js';

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class FsObjectStore implements ObjectStore {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  inputDir(jobId: string): string {
    return join(this.root, 'jobs', safe(jobId), 'input');
  }

  outputDir(jobId: string): string {
    return join(this.root, 'jobs', safe(jobId), 'output');
  }

  async putInput(jobId: string, name: string, data: Uint8Array): Promise<void> {
    const dir = this.inputDir(jobId);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${safe(name)}.tmp`);
    await writeFile(tmp, data);
    await rename(tmp, join(dir, safe(name)));
  }

  getInput(jobId: string, name: string): Promise<Uint8Array | undefined> {
    return readIfExists(join(this.inputDir(jobId), safe(name)));
  }

  getOutput(jobId: string, name: string): Promise<Uint8Array | undefined> {
    return readIfExists(join(this.outputDir(jobId), safe(name)));
  }

  async statOutput(jobId: string, name: string): Promise<number | undefined> {
    try {
      const s = await stat(join(this.outputDir(jobId), safe(name)));
      return s.isFile() ? s.size : undefined;
    } catch {
      return undefined;
    }
  }

  /** Locally the "link" is the file's path, which is what a terminal user needs. */
  async outputLink(jobId: string, name: string): Promise<string | undefined> {
    const path = join(this.outputDir(jobId), safe(name));
    return (await this.statOutput(jobId, name)) === undefined ? undefined : pathToFileURL(path).href;
  }

  outputPath(jobId: string, name: string): string {
    return join(this.outputDir(jobId), safe(name));
  }
}

function safe(name: string): string {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe object name: ${JSON.stringify(name)}`);
  return name;
}

async function readIfExists(path: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
