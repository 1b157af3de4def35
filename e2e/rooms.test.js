// End-to-end test of roomsd through the official telnyx npm SDK (pinned in
// package.json). It builds the server (unless ROOMSD_BIN is set), starts it
// on a free loopback port with a fresh database, drives the Video Rooms API
// with the SDK, and finally checks that SIGTERM shuts the server down cleanly.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Telnyx from 'telnyx';
import {
  CHILD_DEADLINE_MS,
  E2E_DIR,
  TestServer,
  TS_RE,
  UUID_RE,
  cleanEnv,
  collect,
  firstError,
  rejection,
  run,
  utcDate,
} from './server.js';

const ROOM_COUNT = 55;

// The seed snippet, verbatim as published for the SDK.
const SEED_SNIPPET = `import Telnyx from 'telnyx';
const client = new Telnyx({
apiKey: process.env['TELNYX_API_KEY'], // This is the default and can be omitted
});
// Automatically fetches more pages as needed.
for await (const room of client.rooms.list()) {
console.log(room.id);
}
`;

describe('roomsd with the telnyx SDK', () => {
  const ts = new TestServer();
  const { apiKey } = ts;
  const runTag = randomBytes(4).toString('hex');
  let server;
  let client;
  /** Rooms in creation order, as returned by create. */
  const created = [];
  /** Ids of rooms deleted by the test. */
  const deleted = new Set();

  const liveIds = () => created.map((r) => r.id).filter((id) => !deleted.has(id));
  const sdk = (opts = {}) => ts.sdk(opts);

  before(async () => {
    try {
      await ts.start();
    } finally {
      server = ts.server;
    }
    client = sdk();
  });

  after(() => ts.close());

  it(`creates ${ROOM_COUNT} rooms through client.rooms.create`, async () => {
    for (let i = 0; i < ROOM_COUNT; i++) {
      const params = {};
      if (i % 3 === 0) params.unique_name = `e2e-${runTag}-room-${i}`;
      if (i % 4 === 0) params.webhook_event_url = `https://hooks.example.com/rooms/${i}`;
      if (i % 8 === 0) params.webhook_event_failover_url = `https://failover.example.com/rooms/${i}`;
      if (i % 5 === 0) params.webhook_timeout_secs = 1 + (i % 30);
      if (i % 6 === 0) params.max_participants = 2 + (i % 49);
      if (i % 7 === 0) params.enable_recording = true;

      const res = await client.rooms.create(params);
      const room = res.data;
      assert.match(room.id, UUID_RE);
      assert.equal(room.record_type, 'room');
      assert.match(room.created_at, TS_RE);
      assert.equal(room.updated_at, room.created_at);
      assert.equal(room.active_session_id, null);
      assert.equal(room.max_participants, params.max_participants ?? 10);
      assert.equal(room.enable_recording, params.enable_recording ?? false);
      assert.equal(room.unique_name, params.unique_name ?? null);
      assert.equal(room.webhook_event_url, params.webhook_event_url ?? null);
      assert.equal(room.webhook_timeout_secs, params.webhook_timeout_secs ?? null);
      if (params.webhook_event_failover_url) {
        assert.equal(room.webhook_event_failover_url, params.webhook_event_failover_url);
      }
      assert.equal(room.sessions, undefined, 'create must not return sessions');
      created.push(room);
    }
    assert.equal(new Set(created.map((r) => r.id)).size, ROOM_COUNT);
  });

  it('the published list snippet prints every room id once, across 3 pages', async () => {
    // Written inside e2e/ so that `import Telnyx from 'telnyx'` resolves to
    // e2e/node_modules; the directory is gitignored and removed afterwards.
    const scratch = await mkdtemp(path.join(E2E_DIR, '.tmp-'));
    ts.tempDirs.push(scratch);
    const file = path.join(scratch, 'seed.mjs');
    await writeFile(file, SEED_SNIPPET);

    const res = await run(process.execPath, [file], {
      cwd: scratch,
      env: cleanEnv({ TELNYX_BASE_URL: server.baseURL, TELNYX_API_KEY: apiKey }),
      deadlineMs: CHILD_DEADLINE_MS,
    });
    assert.equal(res.code, 0, `snippet failed:\n${res.stderr}`);
    const lines = res.stdout.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, ROOM_COUNT, `expected ${ROOM_COUNT} lines, got ${lines.length}`);
    assert.equal(new Set(lines).size, ROOM_COUNT, 'an id was printed more than once');
    assert.deepEqual(new Set(lines), new Set(created.map((r) => r.id)));
    // The list is newest first, so the ids come out in reverse creation order.
    assert.deepEqual(lines, created.map((r) => r.id).reverse());
  });

  it('list pages carry Telnyx meta (default page size 20, newest first)', async () => {
    const pages = [];
    for await (const page of (await client.rooms.list()).iterPages()) pages.push(page);
    assert.equal(pages.length, 3);
    assert.deepEqual(
      pages.map((p) => p.meta),
      [1, 2, 3].map((n) => ({ page_number: n, page_size: 20, total_pages: 3, total_results: ROOM_COUNT })),
    );
    assert.deepEqual(
      pages.map((p) => p.data.length),
      [20, 20, 15],
    );

    const sized = await client.rooms.list({ 'page[size]': 25, 'page[number]': 3 });
    assert.deepEqual(sized.meta, { page_number: 3, page_size: 25, total_pages: 3, total_results: ROOM_COUNT });
    assert.deepEqual(
      sized.data.map((r) => r.id),
      created.slice(0, 5).map((r) => r.id).reverse(),
    );
    assert.equal(sized.hasNextPage(), false);
  });

  it('retrieves a room, with and without include_sessions', async () => {
    const want = created[6];
    const plain = await client.rooms.retrieve(want.id);
    assert.deepEqual(plain.data, want);
    assert.equal('sessions' in plain.data, false);

    const withSessions = await client.rooms.retrieve(want.id, { include_sessions: true });
    assert.deepEqual(withSessions.data.sessions, []);
    const { sessions, ...rest } = withSessions.data;
    assert.deepEqual(rest, want);

    const noSessions = await client.rooms.retrieve(want.id, { include_sessions: false });
    assert.equal('sessions' in noSessions.data, false);
  });

  it('filters the list by unique_name with a page size', async () => {
    const want = created[9];
    assert.ok(want.unique_name);
    const page = await client.rooms.list({ filter: { unique_name: want.unique_name }, 'page[size]': 5 });
    assert.deepEqual(page.meta, { page_number: 1, page_size: 5, total_pages: 1, total_results: 1 });
    assert.deepEqual(page.data, [want]);

    // The undocumented nested form `page: { size }` serialises the same way.
    const nested = await client.rooms.list({ filter: { unique_name: want.unique_name }, page: { size: 5 } });
    assert.deepEqual(nested.meta, page.meta);

    const none = await client.rooms.list({ filter: { unique_name: `e2e-${runTag}-no-such-room` } });
    assert.deepEqual(none.data, []);
    assert.equal(none.meta.total_results, 0);
    assert.equal(none.hasNextPage(), false);

    const all = await collect(client.rooms.list({ filter: { unique_name: want.unique_name }, include_sessions: true }));
    assert.equal(all.length, 1);
    assert.deepEqual(all[0].sessions, []);
  });

  it('filters the list by created and updated date', async () => {
    const today = utcDate(0);
    const yesterday = utcDate(-1);
    const tomorrow = utcDate(1);
    const ids = (rooms) => new Set(rooms.map((r) => r.id));
    const createdToday = created.filter((r) => r.created_at.startsWith(today)).map((r) => r.id);
    if (created.every((r) => r.created_at.startsWith(today))) {
      assert.equal(createdToday.length, ROOM_COUNT);
    }

    const eqToday = await collect(client.rooms.list({ filter: { date_created_at: { eq: today } } }));
    assert.deepEqual(ids(eqToday), new Set(createdToday));
    assert.equal(eqToday.length, createdToday.length);

    const eqYesterday = await collect(client.rooms.list({ filter: { date_created_at: { eq: yesterday } } }));
    assert.deepEqual(eqYesterday, []);

    const range = await collect(
      client.rooms.list({ filter: { date_created_at: { gte: yesterday, lte: tomorrow } }, 'page[size]': 50 }),
    );
    assert.deepEqual(ids(range), new Set(created.map((r) => r.id)));

    const lteYesterday = await collect(client.rooms.list({ filter: { date_created_at: { lte: yesterday } } }));
    assert.deepEqual(lteYesterday, []);

    const gteTomorrow = await collect(client.rooms.list({ filter: { date_updated_at: { gte: tomorrow } } }));
    assert.deepEqual(gteTomorrow, []);

    const updatedToday = await collect(client.rooms.list({ filter: { date_updated_at: { eq: today } } }));
    assert.deepEqual(
      ids(updatedToday),
      new Set(created.filter((r) => r.updated_at.startsWith(today)).map((r) => r.id)),
    );
  });

  it('updates a room and advances updated_at', async () => {
    const before = created[1];
    const changes = {
      unique_name: `e2e-${runTag}-renamed`,
      max_participants: 42,
      enable_recording: true,
      webhook_event_url: 'https://hooks.example.com/renamed',
      webhook_event_failover_url: 'https://failover.example.com/renamed',
      webhook_timeout_secs: 25,
    };
    const res = await client.rooms.update(before.id, changes);
    const room = res.data;
    for (const [k, v] of Object.entries(changes)) assert.equal(room[k], v, k);
    assert.equal(room.id, before.id);
    assert.equal(room.created_at, before.created_at);
    assert.match(room.updated_at, TS_RE);
    assert.ok(Date.parse(room.updated_at) > Date.parse(before.updated_at), 'updated_at did not advance');
    assert.ok(room.updated_at > before.updated_at);

    const again = await client.rooms.retrieve(before.id);
    assert.deepEqual(again.data, room);

    // A second update touches only what it sends.
    const second = await client.rooms.update(before.id, { max_participants: 3 });
    assert.equal(second.data.max_participants, 3);
    assert.equal(second.data.unique_name, changes.unique_name);
    assert.ok(second.data.updated_at > room.updated_at, 'updated_at did not advance on the second update');

    const found = await client.rooms.list({ filter: { unique_name: changes.unique_name } });
    assert.deepEqual(found.data.map((r) => r.id), [before.id]);
    created[1] = second.data;
  });

  it('deletes a room; retrieving it then raises NotFoundError', async () => {
    const victim = created[12];
    assert.ok(victim.unique_name);
    const { data, response } = await client.rooms.delete(victim.id).withResponse();
    deleted.add(victim.id);
    assert.equal(response.status, 204);
    assert.equal(data ?? null, null, 'delete resolves to nothing');

    const err = await rejection(client.rooms.retrieve(victim.id));
    assert.ok(err instanceof Telnyx.NotFoundError, `got ${err?.constructor?.name}: ${err?.message}`);
    assert.ok(err instanceof Telnyx.APIError);
    assert.equal(err.status, 404);
    assert.equal(firstError(err).code, '10005');

    const again = await rejection(client.rooms.delete(victim.id));
    assert.ok(again instanceof Telnyx.NotFoundError);

    const upd = await rejection(client.rooms.update(victim.id, { max_participants: 5 }));
    assert.ok(upd instanceof Telnyx.NotFoundError);

    const rest = await collect(client.rooms.list());
    assert.deepEqual(rest.map((r) => r.id), liveIds().reverse());
    assert.equal(rest.length, ROOM_COUNT - 1);
  });

  it('a bad API key raises AuthenticationError', async () => {
    const bad = sdk({ apiKey: `${apiKey}x` });
    const err = await rejection(bad.rooms.list());
    assert.ok(err instanceof Telnyx.AuthenticationError, `got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, 401);
    assert.equal(firstError(err).code, '10009');

    const err2 = await rejection(bad.rooms.retrieve(created[0].id));
    assert.ok(err2 instanceof Telnyx.AuthenticationError);

    const err3 = await rejection(bad.rooms.create({ unique_name: `e2e-${runTag}-unauthorised` }));
    assert.ok(err3 instanceof Telnyx.AuthenticationError);
  });

  it('an out-of-range max_participants raises UnprocessableEntityError', async () => {
    const err = await rejection(client.rooms.create({ max_participants: 99 }));
    assert.ok(err instanceof Telnyx.UnprocessableEntityError, `got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, 422);
    const e = firstError(err);
    assert.equal(typeof e.code, 'string');
    assert.equal(e.code, '10015');
    assert.equal(e.source?.pointer, '/max_participants');

    const upd = await rejection(client.rooms.update(created[0].id, { max_participants: 1 }));
    assert.ok(upd instanceof Telnyx.UnprocessableEntityError);
    assert.equal(firstError(upd).source?.pointer, '/max_participants');

    const url = await rejection(client.rooms.create({ webhook_event_url: 'not a url' }));
    assert.ok(url instanceof Telnyx.UnprocessableEntityError);
    assert.equal(firstError(url).source?.pointer, '/webhook_event_url');

    // Nothing was created by the failed calls.
    const page = await client.rooms.list({ 'page[size]': 1 });
    assert.equal(page.meta.total_results, ROOM_COUNT - deleted.size);
  });

  it('a duplicate unique_name raises UnprocessableEntityError with code 10012', async () => {
    const taken = created[3].unique_name;
    assert.ok(taken);
    const err = await rejection(client.rooms.create({ unique_name: taken }));
    assert.ok(err instanceof Telnyx.UnprocessableEntityError, `got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, 422);
    const e = firstError(err);
    assert.equal(e.code, '10012');
    assert.equal(e.source?.pointer, '/unique_name');

    const upd = await rejection(client.rooms.update(created[0].id, { unique_name: taken }));
    assert.ok(upd instanceof Telnyx.UnprocessableEntityError);
    assert.equal(firstError(upd).code, '10012');

    // The name of a deleted room is free again.
    const freed = created[12].unique_name;
    assert.ok(deleted.has(created[12].id) && freed);
    const reuse = await client.rooms.create({ unique_name: freed });
    assert.equal(reuse.data.unique_name, freed);
    created.push(reuse.data);
    await client.rooms.delete(reuse.data.id);
    deleted.add(reuse.data.id);
  });

  it('a malformed room id raises BadRequestError', async () => {
    const err = await rejection(client.rooms.retrieve('not-a-uuid'));
    assert.ok(err instanceof Telnyx.BadRequestError, `got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, 400);
  });

  it('SIGTERM shuts the server down gracefully with exit code 0', async () => {
    assert.equal(server.child.exitCode, null, 'server exited before the end of the suite');
    const { code, signal } = await ts.terminate();
    assert.equal(signal, null, `server died of ${signal}; stderr:\n${server.stderr}`);
    assert.equal(code, 0, `server exited ${code}; stderr:\n${server.stderr}`);
  });
});
