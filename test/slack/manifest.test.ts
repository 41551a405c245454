// The app manifest asks for what the code uses: its commands, shortcut, events and scopes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ANIMATE_SHORTCUT, COMBINE_SHORTCUT } from '../../bot/chat/slack/blocks.js';
import { REPO_ROOT } from '../support/video.js';

const manifest = readFileSync(join(REPO_ROOT, 'slack', 'manifest.yaml'), 'utf8');

/** The items of the YAML list under `key:` (the first such key in the file). */
function listUnder(key: string): string[] {
  const lines = manifest.split('\n');
  const start = lines.findIndex((l) => l.trim() === `${key}:`);
  if (start < 0) throw new Error(`no ${key} in the manifest`);
  const indent = lines[start]!.search(/\S/);
  const items: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '' || line.search(/\S/) <= indent) break;
    const m = /^\s*-\s+(\S+)\s*$/.exec(line);
    if (m) items.push(m[1]!);
  }
  return items;
}

describe('slack/manifest.yaml', () => {
  it('declares the slash commands and the message shortcut the handlers register', () => {
    expect([...manifest.matchAll(/^\s*- command: (\S+)$/gm)].map((m) => m[1])).toEqual(['/video', '/enhance', '/combine', '/videos', '/videobot-admin']);
    expect(manifest).toMatch(new RegExp(`callback_id: ${ANIMATE_SHORTCUT}\\n`));
    expect(manifest).toMatch(new RegExp(`callback_id: ${COMBINE_SHORTCUT}\\n`));
    expect(manifest).toMatch(/type: message\n/);
  });

  it('asks for exactly the scopes and events the adapter uses', () => {
    expect(listUnder('bot').sort()).toEqual(['app_mentions:read', 'channels:history', 'chat:write', 'commands', 'files:read', 'files:write', 'groups:history', 'im:history', 'mpim:history']);
    expect(listUnder('bot_events').sort()).toEqual(['app_mention', 'message.im']);
  });

  it('enables interactivity, the DM tab and Socket Mode', () => {
    expect(manifest).toMatch(/interactivity:\n\s+is_enabled: true/);
    expect(manifest).toMatch(/messages_tab_read_only_enabled: false/);
    expect(manifest).toMatch(/socket_mode_enabled: true/);
  });
});
