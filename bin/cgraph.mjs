#!/usr/bin/env node
// The `cgraph` command. It runs the compiled build (dist/, `npm run build`) while that was
// built from the sources in the tree, otherwise the TypeScript sources through tsx's loader,
// so a fresh checkout needs no build step: `npm install` then `npm start` (source-hash.mjs).
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chooseEntry } from './source-hash.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const chosen = chooseEntry(root);
process.env.CGRAPH_RUNNING_FROM = chosen.compiled ? 'build' : `sources (${chosen.why})`;
if (!chosen.compiled) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(pathToFileURL(chosen.entry).href);
