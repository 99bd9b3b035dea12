// MESSAGE_MAX_LENGTH: read once from the environment (config.ts) and applied to sends and
// edits; bounded by the database's CHECK of 16 000 characters.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config.ts';
import { useTestApp } from '../../../test/app-harness.ts';
import { MESSAGE_MAX_LENGTH } from './messages.ts';

const api = useTestApp({ MESSAGE_MAX_LENGTH: '10' });

describe('MESSAGE_MAX_LENGTH', () => {
  it('defaults to 4000 and refuses values the database could not store', () => {
    expect(loadConfig({ NODE_ENV: 'development' }).messages.maxLength).toBe(MESSAGE_MAX_LENGTH);
    expect(MESSAGE_MAX_LENGTH).toBe(4000);
    expect(loadConfig({ NODE_ENV: 'development', MESSAGE_MAX_LENGTH: '16000' }).messages.maxLength).toBe(16_000);
    for (const bad of ['0', '16001', 'ten', '-5']) {
      expect(() => loadConfig({ NODE_ENV: 'development', MESSAGE_MAX_LENGTH: bad })).toThrow(ConfigError);
    }
  });

  it('limits sends and edits to the configured length', async () => {
    const [ann, bob] = await Promise.all([api.register('lim_ann'), api.register('lim_bob')]);
    const dm = (
      await api.call({ method: 'POST', url: '/api/v1/conversations', token: ann.token, payload: { user_ids: [bob.user.id] } })
    ).json().id;
    const send = (content: string) =>
      api.call({ method: 'POST', url: `/api/v1/conversations/${dm}/messages`, token: ann.token, payload: { content } });
    const ok = await send(` ${'x'.repeat(10)} `);
    expect(ok.statusCode).toBe(201);
    const long = await send('x'.repeat(11));
    expect(long.statusCode).toBe(422);
    expect(long.json().error.fields.content).toEqual(['should be at most 10 character(s)']);
    const edit = (content: string) =>
      api.call({ method: 'PATCH', url: `/api/v1/conversations/${dm}/messages/${ok.json().id}`, token: ann.token, payload: { content } });
    expect((await edit('y'.repeat(11))).statusCode).toBe(422);
    expect((await edit('y'.repeat(10))).json().content).toBe('y'.repeat(10));
  });
});
