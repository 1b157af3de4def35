// The SDK's auto-pager over a large table: `for await (const room of
// client.rooms.list())` asks for page 1, 2, 3, … until the last. The
// rooms are seeded through SQL (roomsd-load -seed-db) before the server
// starts. Every room is served once, in the list's order; a filtered loop
// likewise; and a loop during which rooms are created and deleted serves
// no room twice and every room that existed throughout.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { TestServer, goBuild, run } from './server.js';

const ROOMS = 50_000;
const SEED_DEADLINE_MS = 5 * 60_000;

// Seeding writes a SQLite file; on PostgreSQL the store's own tests
// (internal/store/postgres) page through seeded rooms.
const skip = process.env.ROOMSD_E2E_POSTGRES_URL ? 'the rooms are seeded into a SQLite file' : false;

describe('the SDK auto-pager over 50,000 rooms', { skip }, () => {
  const ts = new TestServer({
    prepare: async (dbPath, dir) => {
      const bin = await goBuild('./cmd/roomsd-load', path.join(dir, 'roomsd-load'));
      const seeded = await run(bin, ['-seed-db', dbPath, '-seed-rooms', String(ROOMS)], { deadlineMs: SEED_DEADLINE_MS });
      assert.equal(seeded.code, 0, `seeding failed:\n${seeded.stderr}`);
    },
  });
  let client;

  before(async () => {
    await ts.start();
    client = ts.sdk();
  });
  after(() => ts.close());

  /** Asserts that rooms are in the list's order: newest first, then by id. */
  function assertOrdered(rooms) {
    for (let i = 1; i < rooms.length; i++) {
      const a = rooms[i - 1];
      const b = rooms[i];
      const ok = a.created_at > b.created_at || (a.created_at === b.created_at && a.id > b.id);
      assert.ok(ok, `rooms ${i - 1} and ${i} out of order: ${a.created_at} ${a.id} then ${b.created_at} ${b.id}`);
    }
  }

  it('lists every room once, in order', async () => {
    const rooms = [];
    for await (const room of client.rooms.list()) rooms.push(room);
    assert.equal(rooms.length, ROOMS);
    assert.equal(new Set(rooms.map((r) => r.id)).size, ROOMS, 'a room was served twice');
    assertOrdered(rooms);
  });

  it('a filtered loop (date_created_at gte) lists the matching rooms once, in order', async () => {
    const first = await client.rooms.list({ filter: { date_created_at: { gte: '2025-01-01' } } });
    const total = first.meta.total_results;
    assert.ok(total > 1000 && total < ROOMS, `total ${total}`);
    const rooms = [];
    for await (const room of client.rooms.list({ filter: { date_created_at: { gte: '2025-01-01' } } })) rooms.push(room);
    assert.equal(rooms.length, total);
    assert.equal(new Set(rooms.map((r) => r.id)).size, total, 'a room was served twice');
    assert.ok(rooms.every((r) => r.created_at >= '2025-01-01'), 'a room outside the filter');
    assertOrdered(rooms);
  });

  /** Walks a list with the auto-pager; asserts each id once and the count the first page's meta gives. */
  async function walkOnce(name, list) {
    const first = await list();
    const total = first.meta.total_results;
    const ids = [];
    for await (const x of list()) ids.push(x.id);
    assert.equal(ids.length, total, `${name}: ${ids.length} served, meta says ${total}`);
    assert.equal(new Set(ids).size, total, `${name}: an item served twice`);
    return total;
  }

  it('every other list endpoint: the auto-pager serves each item once', async () => {
    const fx = await ts.fixture();
    // The seed holds sessions and participants (20,000 and 40,000 for
    // 50,000 rooms); recordings
    // and compositions are made here.
    const sessions = await walkOnce('sessions', () => client.rooms.sessions.list0({ 'page[size]': 250 }));
    assert.ok(sessions > 10_000, `${sessions} sessions`);
    const parts = await walkOnce('participants', () => client.roomParticipants.list({ 'page[size]': 250 }));
    assert.ok(parts > 10_000, `${parts} participants`);
    const room = (await client.rooms.create({})).data;
    const alice = await fx('join', room.id, 'alice');
    for (let i = 0; i < 9; i++) await fx('record', alice.id, 'audio', 'opus');
    assert.equal(await walkOnce('recordings', () => client.roomRecordings.list({ 'page[size]': 2 })), 9);
    const inRoom = await walkOnce('sessions of a room', () => client.rooms.sessions.list1(room.id, { 'page[size]': 1 }));
    assert.equal(inRoom, 1);
    assert.equal(await walkOnce('participants of a session', () => client.rooms.sessions.retrieveParticipants(alice.session_id, { 'page[size]': 1 })), 1);
    await fx('end', alice.session_id);
    for (let i = 0; i < 7; i++) await client.roomCompositions.create({ session_id: alice.session_id });
    assert.equal(await walkOnce('compositions', () => client.roomCompositions.list({ 'page[size]': 3 })), 7);
  });

  it('rooms created and deleted during a loop: none twice, none that stayed skipped', async () => {
    const filter = { date_created_at: { gte: '2025-11-01' } };
    // Where the loop will go: every room it should meet, in order.
    const before = [];
    for await (const room of client.rooms.list({ filter, 'page[size]': 250 })) before.push(room.id);
    assert.ok(before.length > 500, `${before.length} rooms in the range`);
    const deleted = new Set();
    const seen = new Map();
    let page = 0;
    let created = 0;
    for await (const room of client.rooms.list({ filter })) {
      seen.set(room.id, (seen.get(room.id) ?? 0) + 1);
      if (seen.size % 20 !== 0 || seen.get(room.id) > 1) continue;
      // After each page: a new room (newer than all, it sorts first), and
      // two deletions: one room ahead of the loop, one behind it.
      page++;
      await client.rooms.create({});
      created++;
      for (const id of [before[Math.min(before.length - 1, seen.size + 7 * page)], before[page]]) {
        if (deleted.has(id)) continue;
        await client.rooms.delete(id);
        deleted.add(id);
      }
    }
    assert.ok(created > 10 && deleted.size > 10, `${created} created, ${deleted.size} deleted during the loop`);
    const twice = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
    assert.deepEqual(twice, [], 'rooms served twice');
    const skipped = before.filter((id) => !deleted.has(id) && !seen.has(id));
    assert.deepEqual(skipped, [], 'rooms that existed throughout were skipped');
  });
});
