// Creating and dropping whole databases (mix ecto.create / ecto.drop). These statements
// cannot run inside the target database, so they go through the server's maintenance
// database `postgres` on the same host with the same credentials.
import pg from 'pg';

export function databaseNameOf(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (!name) throw new Error(`the database URL names no database: add one, e.g. …/cgraph`);
  return name;
}

export function maintenanceUrl(url: string): string {
  const parsed = new URL(url);
  parsed.pathname = '/postgres';
  return parsed.toString();
}

async function withMaintenanceClient<T>(
  url: string,
  ssl: pg.ClientConfig['ssl'],
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString: maintenanceUrl(url), ssl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function databaseExists(client: pg.Client, name: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return (rowCount ?? 0) > 0;
}

/** Creates the URL's database when it is missing (concurrent callers are fine). */
export async function ensureDatabaseExists(
  url: string,
  { ssl, template }: { ssl: pg.ClientConfig['ssl']; template?: string },
): Promise<boolean> {
  const name = databaseNameOf(url);
  return withMaintenanceClient(url, ssl, async (client) => {
    if (await databaseExists(client, name)) return false;
    try {
      const from = template ? ` TEMPLATE ${client.escapeIdentifier(template)}` : '';
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}${from}`);
      return true;
    } catch (error) {
      // 42P04 duplicate_database / 23505: another process created it meanwhile.
      const code = (error as { code?: string }).code;
      if (code === '42P04' || code === '23505') return false;
      throw error;
    }
  });
}

/** Drops the URL's database, disconnecting its other sessions first (PostgreSQL 13+). */
export async function dropDatabase(url: string, { ssl }: { ssl: pg.ClientConfig['ssl'] }): Promise<void> {
  const name = databaseNameOf(url);
  await withMaintenanceClient(url, ssl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
  });
}
