#!/usr/bin/env node
// `npx videobot ...`: runs bot/main.ts through tsx, so no build step is needed.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../bot/main.ts');
process.exitCode = await main(process.argv.slice(2), process.env);
