#!/usr/bin/env node
// `npx videobot ...`: runs bot/main.ts through tsx, so no build step is needed. Exit codes: `videobot help`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../bot/main.ts');
let code;
try {
  code = await main(process.argv.slice(2), process.env);
} catch (err) {
  process.stderr.write(`videobot stopped on an unexpected error: ${err?.stack ?? String(err)}\n`);
  code = 70;
}
// Exit now: a handle left open by a client library must not keep a finished command waiting.
process.exit(code);
