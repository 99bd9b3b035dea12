// A `cgraph serve` child process for tests, on a port the kernel picks (PORT=0). A port
// chosen in advance by the test could be taken before the server binds it, by another test
// or by an outgoing connection (40000–49999 is inside Linux's ephemeral range): CI saw
// EADDRINUSE. The port is read from the server's "cgraph listening" log line instead.
import { spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'vitest';

export interface ServeProcess {
  /** http://127.0.0.1:<port> */
  base: string;
  child: ChildProcess;
  /** Everything the process printed so far. */
  output: () => string;
  /** Its exit code, once it has exited. */
  exited: Promise<number | null>;
}

/**
 * Spawns `node <args>` (a serve command) with `env` (complete: the caller decides what of
 * process.env it keeps), listening on 127.0.0.1 at a free port, and resolves once
 * `/ready` answers 200. A process that never gets ready is killed, and the error carries
 * its output.
 */
export async function startServe(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 40_000): Promise<ServeProcess> {
  const child = spawn(process.execPath, args, {
    // info: the level of the "cgraph listening" line.
    env: { ...env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let base = '';
  try {
    await expect.poll(() => (base = listeningAddress(output) ?? ''), { timeout: timeoutMs, interval: 100 }).not.toBe('');
    await expect.poll(() => fetch(`${base}/ready`).then((r) => r.status, () => 0), { timeout: timeoutMs, interval: 200 }).toBe(200);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\nserver output:\n${output}`);
  }
  return { base, child, output: () => output, exited };
}

function listeningAddress(output: string): string | undefined {
  for (const line of output.split('\n')) {
    if (!line.includes('cgraph listening')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; address?: string };
      if (entry.msg === 'cgraph listening' && entry.address) return entry.address;
    } catch {
      // a line that is not one of the logger's
    }
  }
  return undefined;
}
