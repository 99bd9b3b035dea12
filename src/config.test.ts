import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('configuration', () => {
  it('defaults for development: embedded database, pool of 10, no TLS', () => {
    const config = loadConfig({});
    expect(config.env).toBe('development');
    expect(config.database.url).toBeUndefined();
    expect(config.database.embeddedDatabase).toBe('cgraph_dev');
    expect(config.database.poolSize).toBe(10);
    expect(config.database.ssl).toBe('disable');
    expect(config.database.checkoutWarnMs).toBe(100);
    expect(config.dataDir).toMatch(/\.cgraph$/);
  });

  it('production requires DATABASE_URL and verifies TLS certificates by default', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(
      new ConfigError('DATABASE_URL is not set: production needs a PostgreSQL connection string'),
    );
    const config = loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://u:p@db:5432/cgraph', POOL_SIZE: '25' });
    expect(config.database.ssl).toBe('verify-full');
    expect(config.database.poolSize).toBe(25);
    expect(loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/x', DATABASE_SSL: 'no-verify' }).database.ssl).toBe(
      'no-verify',
    );
  });

  it('gives each test partition its own database (the seed MIX_TEST_PARTITION)', () => {
    const config = loadConfig({ NODE_ENV: 'test', TEST_DATABASE_URL: 'postgres://h/cgraph_test', CGRAPH_TEST_PARTITION: '3' });
    expect(new URL(config.database.url!).pathname).toBe('/cgraph_test3');
    expect(loadConfig({ NODE_ENV: 'test', CGRAPH_TEST_PARTITION: '2' }).database.embeddedDatabase).toBe('cgraph_test2');
  });

  it.each([
    [{ DATABASE_URL: 'mysql://x/y' }, /DATABASE_URL must be a postgres:\/\//],
    [{ POOL_SIZE: '0' }, /POOL_SIZE/],
    [{ DATABASE_SSL: 'maybe' }, /DATABASE_SSL/],
    [{ NODE_ENV: 'staging' }, /NODE_ENV/],
    [{ CGRAPH_ADMIN_EMAIL: 'nope' }, /CGRAPH_ADMIN_EMAIL/],
  ])('rejects %j with one line', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
    try {
      loadConfig(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).not.toContain('\n');
    }
  });
});
