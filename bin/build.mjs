#!/usr/bin/env node
// `npm run build`: compiles src/ to dist/ with the project's TypeScript (tsconfig.build.json)
// and stamps it with the hash of the sources it compiled (source-hash.mjs), so bin/cgraph.mjs
// runs it only while the sources are unchanged. Type errors fail the build. `--out <dir>`
// compiles elsewhere (tests; the folder must be inside the project, to find node_modules).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceHash, STAMP_FILE } from './source-hash.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--out');
const dist = at > 0 && process.argv[at + 1] ? path.resolve(process.argv[at + 1]) : path.join(root, 'dist');
// The folder is emptied first: never one holding the project, nor anything but an earlier build.
if (!path.relative(dist, root).startsWith('..') || (existsSync(dist) && readdirSync(dist).length > 0 && !existsSync(path.join(dist, 'cli.js')))) {
  console.error(`cgraph build: refusing to empty ${dist}: it is not an earlier build`);
  process.exit(2);
}
// Hashed before compiling: a source edited during the build leaves the build stale, not wrongly current.
const hash = sourceHash(root);
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', dist], { stdio: 'inherit' });
if (result.status !== 0) {
  rmSync(dist, { recursive: true, force: true });
  console.error(`cgraph build: tsc failed; ${path.relative(root, dist)}/ removed (cgraph runs from the sources)`);
  process.exit(result.status ?? 1);
}
writeFileSync(path.join(dist, STAMP_FILE), `${hash}\n`);
console.log(`cgraph build: ${path.relative(root, dist)}/ compiled from the sources (${hash.slice(0, 12)})`);
