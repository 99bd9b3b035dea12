// Runs once per `vitest run`: finds the PostgreSQL server (TEST_DATABASE_URL, or an
// embedded one under the system temp folder), builds the migrated template database that every
// test file clones, and hands the server's URL to the workers.
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/db/embedded.ts';
import { PROJECT_ROOT } from '../src/config.ts';
import { prepareTemplate } from './template.ts';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

declare module 'vitest' {
  export interface ProvidedContext {
    serverUrl: string;
    templateDatabase: string;
  }
}

let embedded: EmbeddedServer | undefined;

export async function setup(project: TestProject): Promise<void> {
  let serverUrl = process.env.TEST_DATABASE_URL?.trim();
  if (!serverUrl) {
    // Under the system temp folder rather than the checkout: as root, PostgreSQL runs as the
    // `postgres` user, which may not be allowed into the checkout's parents (say /root).
    const dir = path.join(os.tmpdir(), `cgraph-test-pg-${createHash('sha256').update(PROJECT_ROOT).digest('hex').slice(0, 8)}`);
    embedded = await startEmbeddedPostgres(dir, 54339);
    serverUrl = embedded.adminUrl;
  }
  const templateDatabase = await prepareTemplate(serverUrl);
  project.provide('serverUrl', serverUrl);
  project.provide('templateDatabase', templateDatabase);
}

export async function teardown(): Promise<void> {
  await embedded?.stop();
}
