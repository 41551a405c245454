// What every chat platform adapter provides to bot/main.ts.
import type { ChatSurface } from '../core/ports.js';
import type { JobService } from '../core/service.js';

export interface ChatAdapter {
  /** Handed to the JobService so it can show status and post videos on this platform. */
  readonly surface: ChatSurface;
  /** Connects to the platform and starts handling commands. */
  start(service: JobService): Promise<void>;
  stop(): Promise<void>;
}
