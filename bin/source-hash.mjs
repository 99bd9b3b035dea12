// Which code `cgraph` runs: the compiled build in dist/ (`npm run build`) while it was built
// from exactly the sources in the tree, otherwise the TypeScript sources through tsx's
// loader. The loader costs the process ~45 MB of memory (a thread of its own holding the
// compiler), which a production server should not carry; a stale build must never run, so
// the build records a hash of what it compiled and is used only while the sources match it.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const STAMP_FILE = '.source-hash';

/** Every file the build compiles (src/ without tests) and its configs, in a stable order. */
function buildInputs(root) {
  const files = ['tsconfig.json', 'tsconfig.build.json'];
  const walk = (dir) => {
    for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = path.posix.join(dir, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) files.push(rel);
    }
  };
  if (existsSync(path.join(root, 'src'))) walk('src');
  return files.sort();
}

/** SHA-256 over the build's inputs: paths and contents (not times: a copy or checkout that changes nothing keeps the build). */
export function sourceHash(root) {
  const hash = createHash('sha256');
  for (const file of buildInputs(root)) {
    const full = path.join(root, file);
    hash.update(`${file}\0`);
    hash.update(existsSync(full) ? readFileSync(full) : '');
    hash.update('\0');
  }
  return hash.digest('hex');
}

/**
 * The entry `cgraph` should import: dist/cli.js when the build is current for the sources,
 * else src/cli.ts (tsx). `why` says which and, for the sources, the reason.
 */
export function chooseEntry(root, env = process.env) {
  const built = path.join(root, 'dist', 'cli.js');
  const source = { entry: path.join(root, 'src', 'cli.ts'), compiled: false };
  if (env.CGRAPH_FROM_SOURCE === '1') return { ...source, why: 'CGRAPH_FROM_SOURCE=1' };
  const stamp = path.join(root, 'dist', STAMP_FILE);
  if (!existsSync(built) || !existsSync(stamp)) return { ...source, why: 'no build (npm run build)' };
  if (readFileSync(stamp, 'utf8').trim() !== sourceHash(root)) return { ...source, why: 'the build is older than the sources (npm run build)' };
  return { entry: built, compiled: true, why: 'dist/ is current' };
}
