// src/db/schema.ts is generated from the migrated schema (npm run db:types). CI fails when
// a migration changes the schema and the committed types were not regenerated.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/config.ts';
import { useTestDatabase } from './db.ts';

const t = useTestDatabase();

it('src/db/schema.ts matches the migrated schema', async () => {
  const bin = path.join(PROJECT_ROOT, 'node_modules', 'kysely-codegen', 'dist', 'cli', 'bin.js');
  const result = await promisify(execFile)(process.execPath, [bin, '--url', t.url, '--verify'], { cwd: PROJECT_ROOT }).then(
    ({ stdout }) => ({ ok: true, output: stdout }),
    (error: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
  );
  expect(result.output).toContain('Generated types are up-to-date');
  expect(result.ok).toBe(true);
});
