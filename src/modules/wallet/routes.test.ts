// Wallet sign-in over HTTP, end to end: nonce, a real signature by a viem account, verify,
// then the token works; linking from a signed-in account. (The checks themselves are
// covered one by one in service.test.ts.)
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';

const api = useTestApp();

describe('wallet sign-in over HTTP', () => {
  it('signs in (creating the user), signs in again as the same user, and refuses a replay', async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const nonce = await api.call({ method: 'POST', url: '/api/v1/auth/wallet/nonce', payload: { address: account.address } });
    expect(nonce.statusCode).toBe(200);
    const { message } = nonce.json<{ message: string; nonce: string }>();
    expect(message).toContain('localhost:4000 wants you to sign in with your Ethereum account:');
    const signature = await account.signMessage({ message });

    const verified = await api.call({ method: 'POST', url: '/api/v1/auth/wallet/verify', payload: { message, signature } });
    expect(verified.statusCode).toBe(200);
    const { user, token } = verified.json<{ user: { id: string; wallet_address: string; email: null }; token: string }>();
    expect(user.wallet_address).toBe(account.address.toLowerCase());
    expect(user.email).toBeNull();
    expect((await api.call({ method: 'GET', url: '/api/v1/me', token })).json().id).toBe(user.id);

    const replay = await api.call({ method: 'POST', url: '/api/v1/auth/wallet/verify', payload: { message, signature } });
    expect(replay.statusCode).toBe(401);
    expect(replay.json().error.code).toBe('nonce_invalid');

    const again = (await api.call({ method: 'POST', url: '/api/v1/auth/wallet/nonce', payload: { address: account.address } })).json<{ message: string }>();
    const second = await api.call({
      method: 'POST',
      url: '/api/v1/auth/wallet/verify',
      payload: { message: again.message, signature: await account.signMessage({ message: again.message }) },
    });
    expect(second.json().user.id).toBe(user.id);
  });

  it('links a wallet to a signed-in account, and refuses bad input with 4xx', async () => {
    const { token } = await api.register('linker');
    const account = privateKeyToAccount(generatePrivateKey());
    const { message } = (
      await api.call({ method: 'POST', url: '/api/v1/me/wallet/nonce', token, payload: { address: account.address } })
    ).json<{ message: string }>();
    const linked = await api.call({ method: 'POST', url: '/api/v1/me/wallet', token, payload: { message, signature: await account.signMessage({ message }) } });
    expect(linked.statusCode).toBe(200);
    expect(linked.json().wallet_address).toBe(account.address.toLowerCase());
    expect((await api.call({ method: 'GET', url: '/api/v1/me', token })).json().wallet_address).toBe(account.address.toLowerCase());

    expect((await api.call({ method: 'POST', url: '/api/v1/auth/wallet/nonce', payload: { address: '0x123' } })).statusCode).toBe(422);
    const garbage = await api.call({ method: 'POST', url: '/api/v1/auth/wallet/verify', payload: { message: 'hello', signature: '0xzz' } });
    expect(garbage.statusCode).toBe(422);
    expect((await api.call({ method: 'POST', url: '/api/v1/me/wallet', payload: { message, signature: '0x00' } })).statusCode).toBe(401);
  });
});
