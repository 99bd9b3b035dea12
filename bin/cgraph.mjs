#!/usr/bin/env node
// The `cgraph` command. TypeScript sources run through tsx's loader, so a fresh
// checkout needs no build step: `npm install` then `npm start`.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
