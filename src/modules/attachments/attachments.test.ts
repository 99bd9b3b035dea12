// Uploads on the local store: limits (413 / 415 / 422), who may fetch (uploader, then the
// conversation's participants; 404 to anyone else), messages claiming uploads, and a
// deleted message taking its files with it.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../../../test/app-harness.ts';
import { sweepUnclaimedUploads } from './service.ts';
import { LocalStorage, storageKey } from './storage.ts';
import { multipartBody, PNG } from './test-helpers.ts';

const dir = await mkdtemp(path.join(os.tmpdir(), 'cgraph-attachments-'));
const api = useTestApp({
  ATTACHMENT_DIR: dir,
  ATTACHMENT_MAX_BYTES: '1000',
  ATTACHMENT_CONTENT_TYPES: 'image/*,application/pdf,text/plain',
  // The JSON body limit does not bind uploads (the 1000-byte upload below passes).
  BODY_LIMIT_BYTES: '600',
});
afterAll(() => rm(dir, { recursive: true, force: true }));

type User = { token: string; user: { id: string; username: string } };
let ann: User, bob: User, eve: User;
let dm: string;

beforeAll(async () => {
  [ann, bob, eve] = (await Promise.all(['att_ann', 'att_bob', 'att_eve'].map((n) => api.register(n)))) as [User, User, User];
  dm = (
    await api.call({ method: 'POST', url: '/api/v1/conversations', token: ann.token, payload: { user_ids: [bob.user.id] } })
  ).json().id;
});

const upload = (who: User, file: Parameters<typeof multipartBody>[0], fields?: Record<string, string>) =>
  api.call({ method: 'POST', url: '/api/v1/attachments', token: who.token, ...multipartBody(file, fields) });
const fetchAs = (who: User, url: string) => api.call({ method: 'GET', url, token: who.token });
const send = (who: User, payload: Record<string, unknown>) =>
  api.call({ method: 'POST', url: `/api/v1/conversations/${dm}/messages`, token: who.token, payload });

describe('upload', () => {
  it('201 with id, url, content_type and size; the file lands under the data directory', async () => {
    const res = await upload(ann, { filename: '../../etc/cat.png', contentType: 'image/png', data: PNG });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({ content_type: 'image/png', size: PNG.length, filename: 'cat.png', url: `/api/v1/attachments/${body.id}` });
    const [shard, name] = storageKey(body.id).split('/') as [string, string];
    expect(await readdir(path.join(dir, shard))).toContain(name);
    const row = await api.t.db.selectFrom('attachments').selectAll().where('id', '=', body.id).executeTakeFirstOrThrow();
    expect(row.uploader_id).toBe(ann.user.id);
    expect(row.sha256?.length).toBe(32);
    // The uploader can fetch it before it is on any message; nobody else can.
    const own = await fetchAs(ann, body.url);
    expect(own.statusCode).toBe(200);
    expect(own.headers['content-type']).toBe('image/png');
    expect(own.headers['x-content-type-options']).toBe('nosniff');
    expect(own.rawPayload.equals(PNG)).toBe(true);
    expect((await fetchAs(bob, body.url)).statusCode).toBe(404);
    const head = await api.call({ method: 'HEAD', url: body.url, token: ann.token });
    expect([head.statusCode, head.headers['content-type'], head.body]).toEqual([200, 'image/png', '']);
  });

  it('413 above ATTACHMENT_MAX_BYTES (exactly the limit passes), and nothing is left behind', async () => {
    const before = await api.t.db.selectFrom('attachments').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    const big = await upload(ann, { filename: 'big.txt', contentType: 'text/plain', data: Buffer.alloc(1001, 97) });
    expect(big.statusCode).toBe(413);
    expect(big.json().error.code).toBe('payload_too_large');
    const huge = await upload(ann, { filename: 'huge.txt', contentType: 'text/plain', data: Buffer.alloc(200_000, 97) });
    expect(huge.statusCode).toBe(413);
    const after = await api.t.db.selectFrom('attachments').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
    const partials = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.partial'));
    expect(partials).toEqual([]);
    expect((await upload(ann, { filename: 'edge.txt', contentType: 'text/plain', data: Buffer.alloc(1000, 97) })).statusCode).toBe(201);
  });

  it('415 for a content type not configured, or a body that is not multipart', async () => {
    const exe = await upload(ann, { filename: 'a.exe', contentType: 'application/x-msdownload', data: Buffer.from('MZ') });
    expect(exe.statusCode).toBe(415);
    expect(exe.json().error.code).toBe('unsupported_media_type');
    const json = await api.call({ method: 'POST', url: '/api/v1/attachments', token: ann.token, payload: { file: 'x' } });
    expect(json.statusCode).toBe(415);
  });

  it('422 for no file part, an empty file, a malformed type, or an image whose bytes are not one', async () => {
    const cases = [
      await upload(ann, undefined, { note: 'no file' }),
      await upload(ann, { filename: 'empty.txt', contentType: 'text/plain', data: Buffer.alloc(0) }),
      await upload(ann, { filename: 'x', contentType: 'not a type', data: Buffer.from('x') }),
      await upload(ann, { filename: 'fake.png', contentType: 'image/png', data: Buffer.from('<svg onload=alert(1)>') }),
      await upload(ann, { filename: 'fake.jpg', contentType: 'image/jpeg', data: Buffer.from('ab') }),
    ];
    for (const res of cases) {
      expect([res.statusCode, res.json().error.code]).toEqual([422, 'validation_failed']);
      expect(res.json().error.fields).toHaveProperty('file');
    }
  });

  it('one file per upload: a second file part is 413', async () => {
    const part = { filename: 'a.txt', contentType: 'text/plain', data: Buffer.from('a') };
    const res = await upload(ann, [part, { ...part, filename: 'b.txt' }]);
    expect([res.statusCode, res.json().error.code]).toEqual([413, 'payload_too_large']);
    // The first file, already stored when the second arrived, is gone again.
    const left = await api.t.db.selectFrom('attachments').select('id').where('filename', '=', 'a.txt').execute();
    expect(left).toEqual([]);
  });

  it('401 without a session', async () => {
    const res = await api.call({ method: 'POST', url: '/api/v1/attachments', ...multipartBody({ filename: 'a.txt', contentType: 'text/plain', data: Buffer.from('a') }) });
    expect(res.statusCode).toBe(401);
  });
});

describe('on messages', () => {
  it('an image message carries its uploads; participants fetch them, others get 404', async () => {
    const a = (await upload(ann, { filename: 'a.png', contentType: 'image/png', data: PNG })).json();
    const b = (await upload(ann, { filename: 'b.png', contentType: 'image/png', data: PNG })).json();
    const sent = await send(ann, { content: '', type: 'image', attachment_ids: [b.id, a.id] });
    expect(sent.statusCode).toBe(201);
    expect(sent.json().attachments.map((x: { id: string }) => x.id)).toEqual([b.id, a.id]);
    const page = (await fetchAs(bob, `/api/v1/conversations/${dm}/messages?limit=1`)).json();
    expect(page.data[0].attachments).toEqual(
      [a, b].map((x) => ({ id: x.id, url: x.url, filename: x.filename, content_type: 'image/png', size: PNG.length })),
    );
    expect((await fetchAs(bob, a.url)).rawPayload.equals(PNG)).toBe(true);
    expect((await fetchAs(eve, a.url)).statusCode).toBe(404);
    expect((await fetchAs(eve, '/api/v1/attachments/00000000-0000-7000-8000-000000000000')).statusCode).toBe(404);
  });

  it('refuses uploads that are someone else’s, already attached, or of the wrong kind (422)', async () => {
    const mine = (await upload(ann, { filename: 'doc.pdf', contentType: 'application/pdf', data: Buffer.from('%PDF-1.4') })).json();
    const bobs = (await upload(bob, { filename: 'b.txt', contentType: 'text/plain', data: Buffer.from('bob') })).json();
    const bad = [
      await send(ann, { content: '', type: 'file', attachment_ids: [bobs.id] }),
      await send(ann, { content: 'pic?', type: 'image', attachment_ids: [mine.id] }),
    ];
    for (const res of bad) expect([res.statusCode, Object.keys(res.json().error.fields)]).toEqual([422, ['attachment_ids']]);
    const ok = await send(ann, { content: 'the doc', type: 'file', attachment_ids: [mine.id] });
    expect(ok.statusCode).toBe(201);
    const again = await send(ann, { content: 'again', type: 'file', attachment_ids: [mine.id] });
    expect(again.statusCode).toBe(422);
    // The failed sends took nothing: no message, no seq.
    const conv = (await fetchAs(ann, `/api/v1/conversations/${dm}`)).json();
    expect(conv.last_message_seq).toBe(ok.json().seq);
    const pdf = await fetchAs(bob, mine.url);
    expect(pdf.headers['content-disposition']).toMatch(/^attachment; filename\*=UTF-8''doc\.pdf$/);
  });

  it('two messages racing for one upload: exactly one gets it', async () => {
    const up = (await upload(ann, { filename: 'r.txt', contentType: 'text/plain', data: Buffer.from('race') })).json();
    const results = await Promise.all([1, 2, 3].map((i) => send(ann, { content: `race ${i}`, type: 'file', attachment_ids: [up.id] })));
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 422, 422]);
  });

  it('deleting the message deletes its files: gone from history, the API and the disk', async () => {
    const up = (await upload(ann, { filename: 'gone.txt', contentType: 'text/plain', data: Buffer.from('bye') })).json();
    const msg = (await send(ann, { content: '', type: 'file', attachment_ids: [up.id] })).json();
    const del = await api.call({ method: 'DELETE', url: `/api/v1/conversations/${dm}/messages/${msg.id}`, token: ann.token });
    expect(del.statusCode).toBe(204);
    expect((await fetchAs(ann, up.url)).statusCode).toBe(404);
    const page = (await fetchAs(bob, `/api/v1/conversations/${dm}/messages?limit=1`)).json();
    expect(page.data[0]).toMatchObject({ id: msg.id, deleted: true, attachments: [] });
    const [shard, name] = storageKey(up.id).split('/') as [string, string];
    expect(await readdir(path.join(dir, shard)).catch(() => [])).not.toContain(name);
  });
});

describe('unclaimed uploads', () => {
  it('the sweep deletes uploads no message claimed within a day (row and file), and nothing else', async () => {
    const stale = (await upload(bob, { filename: 'stale.txt', contentType: 'text/plain', data: Buffer.from('old') })).json();
    const fresh = (await upload(bob, { filename: 'fresh.txt', contentType: 'text/plain', data: Buffer.from('new') })).json();
    const claimed = (await upload(bob, { filename: 'kept.txt', contentType: 'text/plain', data: Buffer.from('kept') })).json();
    expect((await send(bob, { content: '', type: 'file', attachment_ids: [claimed.id] })).statusCode).toBe(201);
    await api.t.db
      .updateTable('attachments')
      .set({ inserted_at: new Date(Date.now() - 2 * 86_400_000) })
      .where('id', 'in', [stale.id, claimed.id])
      .execute();
    const removed = await sweepUnclaimedUploads(api.t.db, new LocalStorage(dir));
    expect(removed).toBeGreaterThanOrEqual(1);
    const left = await api.t.db.selectFrom('attachments').select('id').where('id', 'in', [stale.id, fresh.id, claimed.id]).execute();
    expect(left.map((r) => r.id).sort()).toEqual([fresh.id, claimed.id].sort());
    const [shard, name] = storageKey(stale.id).split('/') as [string, string];
    expect(await readdir(path.join(dir, shard)).catch(() => [])).not.toContain(name);
    expect((await fetchAs(bob, fresh.url)).statusCode).toBe(200);
  });
});
