// Runs the `cgraph` command in a child process, as a user would, with a clean environment.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../src/config.ts';

const execFileAsync = promisify(execFile);
const BIN = path.join(PROJECT_ROOT, 'bin', 'cgraph.mjs');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `node <args>` with the test run's own settings (databases, partition, vitest) removed from the environment. */
export async function runNode(args: string[], env: Record<string, string | undefined>, timeout = 60_000): Promise<Run> {
  const base: Record<string, string | undefined> = { ...process.env };
  for (const key of ['DATABASE_URL', 'TEST_DATABASE_URL', 'CGRAPH_TEST_PARTITION', 'VITEST', 'VITEST_POOL_ID', 'VITEST_WORKER_ID']) {
    delete base[key];
  }
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, args, { env: { ...base, ...env }, timeout });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export async function cgraph(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return runNode([BIN, ...args], { NODE_ENV: 'development', LOG_LEVEL: 'warn', ...env });
}
