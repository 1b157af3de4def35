// End-to-end test of roomsd's webhooks as a receiver sees them: a local
// HTTP receiver gets the events of rooms created through the telnyx SDK,
// and each request is verified and parsed with the SDK's own
// client.webhooks.unwrap (Ed25519 over "timestamp|body", with the key from
// GET /.well-known/webhook-public-key), and with the Standard Webhooks
// scheme (ROOMSD_WEBHOOK_SECRET) through both node:crypto and the
// `standardwebhooks` package. Events are caused by the fixture program,
// which calls the real rooms operations on the server's database; the
// server's dispatcher finds them by polling (every second).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { TelnyxWebhookVerificationError } from 'telnyx/lib/webhooks';
import { REQUEST_TIMEOUT_MS, TestServer, TS_RE, UUID_RE, eventually } from './server.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

/**
 * A webhook receiver on 127.0.0.1: it keeps every request's raw body and
 * headers. On /flaky it answers 500 to the first request of each event id,
 * elsewhere 200.
 */
async function startReceiver() {
  const requests = [];
  const seen = new Set();
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const r = { path: req.url, method: req.method, headers: req.headers, raw };
      requests.push(r);
      let status = 200;
      if (req.url === '/flaky') {
        const id = req.headers['webhook-id'];
        status = seen.has(id) ? 200 : 500;
        seen.add(id);
      }
      r.status = status;
      res.writeHead(status).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    requests,
    url: (p) => `http://127.0.0.1:${port}${p}`,
    on: (p) => requests.filter((r) => r.path === p),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** A loopback URL nothing listens on. */
async function deadURL() {
  const s = createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return `http://127.0.0.1:${port}/nobody`;
}

/** The Standard Webhooks signature check, as the spec describes it, with node:crypto. */
function standardSignatureValid(raw, headers, secret) {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const want = createHmac('sha256', key)
    .update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${raw}`)
    .digest();
  return headers['webhook-signature'].split(' ').some((s) => {
    const [version, sig] = s.split(',');
    if (version !== 'v1') return false;
    const got = Buffer.from(sig, 'base64');
    return got.length === want.length && timingSafeEqual(got, want);
  });
}

describe('webhooks verified with the telnyx SDK (unwrap) and Standard Webhooks', () => {
  const ts = new TestServer({ env: { ROOMSD_WEBHOOK_SECRET: SECRET, ROOMSD_WEBHOOK_BACKOFF: '200ms' } });
  /** Runs one fixture command against the server's database; resolves to its JSON result. */
  let fx;
  let client;
  let rx;
  let publicKey;

  async function getJSON(url, headers = {}) {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    assert.equal(res.status, 200, `GET ${url}: ${res.status} ${await res.clone().text()}`);
    return res.json();
  }

  const deliveries = async (roomId) =>
    (
      await getJSON(`${ts.baseURL}/webhook_deliveries?filter[room_id]=${roomId}&page[size]=250`, {
        Authorization: `Bearer ${ts.apiKey}`,
      })
    ).data.reverse(); // oldest first

  before(async () => {
    await ts.start();
    fx = await ts.fixture();
    client = ts.sdk();
    rx = await startReceiver();
  });

  after(async () => {
    await rx?.close();
    await ts.close();
  });

  it('GET /.well-known/webhook-public-key is public and gives a 32-byte Ed25519 key', async () => {
    const body = await getJSON(new URL('/.well-known/webhook-public-key', ts.rootURL).href);
    assert.equal(body.algorithm, 'ed25519');
    assert.equal(Buffer.from(body.public_key, 'base64').length, 32);
    publicKey = body.public_key;
  });

  /** What the room's receiver got, and the fixture's view of what happened. */
  const A = {};

  it('every event of a session reaches the room URL, signed; unwrap returns it', async () => {
    const url = rx.url('/hook');
    A.room = (await client.rooms.create({ webhook_event_url: url, webhook_timeout_secs: 5 })).data;
    assert.equal(A.room.webhook_event_url, url);
    A.alice = await fx('join', A.room.id, 'alice');
    A.bob = await fx('join', A.room.id, 'bob');
    A.rec = await fx('record', A.alice.id, 'audio', 'opus');
    A.done = await fx('complete', A.rec.id, '1.5', '42', 'https://files.example/a.ogg');
    await fx('leave', A.bob.id);
    await fx('end', A.alice.session_id);
    const sid = A.alice.session_id;
    const room = A.room.id;

    const reqs = await eventually('8 requests at /hook', () => rx.on('/hook').length >= 8 && rx.on('/hook'));
    assert.equal(reqs.length, 8);
    A.events = [];
    for (const r of reqs) {
      assert.equal(r.method, 'POST');
      assert.equal(r.headers['content-type'], 'application/json');
      const ev = await client.webhooks.unwrap(r.raw, { headers: r.headers, key: publicKey });
      assert.deepEqual(ev, JSON.parse(r.raw), 'unwrap returns the parsed body');
      assert.deepEqual(Object.keys(ev).sort(), ['data', 'meta']);
      assert.deepEqual(ev.meta, { attempt: 1, delivered_to: url });
      assert.equal(ev.data.record_type, 'event');
      assert.match(ev.data.id, UUID_RE);
      assert.match(ev.data.occurred_at, TS_RE);
      assert.equal(r.headers['webhook-id'], ev.data.id);
      assert.equal(r.headers['webhook-timestamp'], r.headers['telnyx-timestamp']);
      A.events.push(ev.data);
    }
    const types = A.events.map((e) => e.event_type.replace('video.room.', ''));
    assert.deepEqual(types, [
      'session.started',
      'participant.joined',
      'participant.joined',
      'recording.started',
      'recording.completed',
      'participant.left',
      'participant.left',
      'session.ended',
    ]);
    const p = A.events.map((e) => e.payload);
    assert.deepEqual(p[0], { room_id: room, session_id: sid });
    assert.deepEqual(p[1], { room_id: room, session_id: sid, participant_id: A.alice.id, context: 'alice' });
    assert.deepEqual(p[2], { room_id: room, session_id: sid, participant_id: A.bob.id, context: 'bob' });
    assert.deepEqual(p[3], {
      room_id: room, session_id: sid, participant_id: A.alice.id, recording_id: A.rec.id, type: 'audio',
    });
    assert.deepEqual(p[4], {
      room_id: room, session_id: sid, participant_id: A.alice.id, recording_id: A.rec.id, type: 'audio',
      size_mb: 1.5, download_url: 'https://files.example/a.ogg', codec: 'opus', duration_secs: 42,
    });
    for (const [i, who, reason] of [[5, A.bob, 'leave'], [6, A.alice, 'session_ended']]) {
      const { duration_secs: d, ...rest } = p[i];
      assert.ok(Number.isInteger(d) && d >= 0, `duration_secs ${d}`);
      assert.deepEqual(rest, { room_id: room, session_id: sid, participant_id: who.id, context: who.context, left_reason: reason });
    }
    const { duration_secs: d, ...ended } = p[7];
    assert.ok(Number.isInteger(d) && d >= 0, `duration_secs ${d}`);
    assert.deepEqual(ended, { room_id: room, session_id: sid, ended_reason: 'api' });

    // The deliveries list agrees: the same ids, in order, each delivered once.
    const ds = await eventually('deliveries recorded', async () => {
      const ds = await deliveries(room);
      return ds.every((x) => x.status === 'delivered') && ds;
    });
    assert.deepEqual(ds.map((x) => x.id), A.events.map((e) => e.id));
    for (const x of ds) {
      assert.equal(x.record_type, 'webhook_delivery');
      assert.equal(x.attempts, 1);
      assert.equal(x.last_status, 200);
      assert.equal(x.delivered_to, url);
      assert.equal(x.next_attempt_at, null);
    }
  });

  it('a client made with publicKey unwraps without a key argument', async () => {
    const keyed = ts.sdk({ publicKey });
    for (const r of rx.on('/hook')) {
      const ev = await keyed.webhooks.unwrap(r.raw, { headers: r.headers });
      assert.equal(ev.data.id, r.headers['webhook-id']);
    }
  });

  it('unwrap throws TelnyxWebhookVerificationError for a tampered body, timestamp or signature, or another key', async () => {
    const r = rx.on('/hook')[1]; // alice joined
    const ev = JSON.parse(r.raw);
    const bad = async (raw, headers, key = publicKey) => {
      await assert.rejects(client.webhooks.unwrap(raw, { headers, key }), (err) => {
        assert.ok(err instanceof TelnyxWebhookVerificationError, `got ${err?.constructor?.name}: ${err?.message}`);
        return true;
      });
    };
    await bad(r.raw.replace('"alice"', '"mallory"'), r.headers);
    await bad(JSON.stringify(ev, null, 2), r.headers); // the same JSON, other bytes
    await bad(`${r.raw} `, r.headers);
    await bad(r.raw, { ...r.headers, 'telnyx-timestamp': String(Number(r.headers['telnyx-timestamp']) + 1) });
    const sig = Buffer.from(r.headers['telnyx-signature-ed25519'], 'base64');
    sig[0] ^= 1;
    await bad(r.raw, { ...r.headers, 'telnyx-signature-ed25519': sig.toString('base64') });
    const { 'telnyx-signature-ed25519': _, ...unsigned } = r.headers;
    await bad(r.raw, unsigned);
    await bad(r.raw, r.headers, randomBytes(32).toString('base64'));
    // The untampered request still verifies.
    assert.equal((await client.webhooks.unwrap(r.raw, { headers: r.headers, key: publicKey })).data.id, ev.data.id);
  });

  it('the Standard Webhooks signature verifies with node:crypto and with the standardwebhooks package', async () => {
    const wh = new Webhook(SECRET);
    for (const r of rx.on('/hook')) {
      assert.match(r.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}=$/);
      assert.ok(standardSignatureValid(r.raw, r.headers, SECRET), 'HMAC-SHA256 of id.timestamp.body');
      assert.deepEqual(wh.verify(r.raw, r.headers), JSON.parse(r.raw));
    }
    const r = rx.on('/hook')[0];
    assert.ok(!standardSignatureValid(`${r.raw} `, r.headers, SECRET));
    assert.throws(() => wh.verify(`${r.raw} `, r.headers), WebhookVerificationError);
    assert.throws(() => wh.verify(r.raw, { ...r.headers, 'webhook-id': randomBytes(8).toString('hex') }), WebhookVerificationError);
    assert.throws(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(r.raw, r.headers), WebhookVerificationError);
  });

  it('a failed attempt is retried with the same event id and a higher meta.attempt; both unwrap', async () => {
    const url = rx.url('/flaky');
    const room = (await client.rooms.create({ webhook_event_url: url })).data;
    await fx('join', room.id, 'carol'); // session.started, participant.joined
    const reqs = await eventually('2 events, each twice', () => rx.on('/flaky').length >= 4 && rx.on('/flaky'));
    assert.equal(reqs.length, 4);
    const ids = [];
    for (const r of reqs) {
      const ev = await client.webhooks.unwrap(r.raw, { headers: r.headers, key: publicKey });
      assert.ok(standardSignatureValid(r.raw, r.headers, SECRET));
      ids.push([ev.data.id, ev.meta.attempt, r.status, ev.data]);
    }
    // In order: the first event until it is accepted, then the second.
    assert.deepEqual(ids.map(([, attempt, status]) => [attempt, status]), [[1, 500], [2, 200], [1, 500], [2, 200]]);
    assert.equal(ids[0][0], ids[1][0]);
    assert.equal(ids[2][0], ids[3][0]);
    assert.notEqual(ids[0][0], ids[2][0]);
    assert.deepEqual(ids[0][3], ids[1][3], 'a repeat carries the same event');
    assert.equal(ids[0][3].event_type, 'video.room.session.started');
    assert.equal(ids[2][3].event_type, 'video.room.participant.joined');
    const ds = await eventually('deliveries recorded', async () => {
      const ds = await deliveries(room.id);
      return ds.length === 2 && ds.every((x) => x.status === 'delivered') && ds;
    });
    for (const x of ds) {
      assert.equal(x.attempts, 2);
      assert.equal(x.last_status, 200);
      assert.equal(x.last_error, '');
    }
  });

  it('when the room URL does not answer, the failover URL gets the event, signed for it', async () => {
    const primary = await deadURL();
    const url = rx.url('/failover');
    const room = (await client.rooms.create({ webhook_event_url: primary, webhook_event_failover_url: url })).data;
    await fx('join', room.id, 'dave');
    const reqs = await eventually('2 events at the failover URL', () => rx.on('/failover').length >= 2 && rx.on('/failover'));
    for (const r of reqs) {
      const ev = await client.webhooks.unwrap(r.raw, { headers: r.headers, key: publicKey });
      assert.deepEqual(ev.meta, { attempt: 1, delivered_to: url });
      assert.ok(standardSignatureValid(r.raw, r.headers, SECRET));
    }
    const ds = await eventually('deliveries recorded', async () => {
      const ds = await deliveries(room.id);
      return ds.length === 2 && ds.every((x) => x.status === 'delivered') && ds;
    });
    for (const x of ds) {
      assert.equal(x.url, primary);
      assert.equal(x.failover_url, url);
      assert.equal(x.delivered_to, url);
    }
  });

  it('SIGTERM shuts the server down gracefully with exit code 0', async () => {
    assert.equal(ts.child.exitCode, null, 'server exited before the end of the suite');
    const { code, signal } = await ts.terminate();
    assert.equal(signal, null, `server died of ${signal}; stderr:\n${ts.server.stderr}`);
    assert.equal(code, 0, `server exited ${code}; stderr:\n${ts.server.stderr}`);
  });
});
