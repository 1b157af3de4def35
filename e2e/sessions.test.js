// End-to-end test of the session-side API of roomsd through the official
// telnyx npm SDK: client tokens and the JWKS, room sessions, participants,
// session actions (end, kick, mute, unmute), recordings and compositions.
//
// Sessions, participants and recordings only come into being when people
// join, which the REST API cannot do. The fixture program (./fixture, built
// once per run) calls the real domain operations of package rooms on the
// server's own SQLite file while the server runs; see fixture/main.go.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, randomUUID, verify } from 'node:crypto';
import Telnyx from 'telnyx';
import { TestServer, TS_RE, UUID_RE, collect, firstError, rejection } from './server.js';

const SESSION_KEYS = ['active', 'created_at', 'ended_at', 'id', 'record_type', 'room_id', 'updated_at'];
const PARTICIPANT_KEYS = ['context', 'id', 'joined_at', 'left_at', 'record_type', 'session_id', 'updated_at'];
const RECORDING_KEYS = [
  'codec', 'completed_at', 'created_at', 'download_url', 'duration_secs', 'ended_at', 'id', 'participant_id',
  'record_type', 'room_id', 'session_id', 'size_mb', 'started_at', 'status', 'type', 'updated_at',
];
const COMPOSITION_KEYS = [
  'completed_at', 'created_at', 'download_url', 'duration_secs', 'ended_at', 'failure_reason', 'format', 'id', 'record_type',
  'resolution', 'room_id', 'session_id', 'size_mb', 'started_at', 'status', 'updated_at', 'user_id', 'video_layout',
  'webhook_event_failover_url', 'webhook_event_url', 'webhook_timeout_secs',
];
const REGION_KEYS = ['height', 'max_columns', 'max_rows', 'video_sources', 'width', 'x_pos', 'y_pos', 'z_pos'];

const ids = (items) => items.map((x) => x.id);
const sortedKeys = (o) => Object.keys(o).sort();

/** YYYY-MM-DD of a timestamp, shifted by n days. */
function day(ts, n = 0) {
  return new Date(Date.parse(ts) + n * 86_400_000).toISOString().slice(0, 10);
}

/** Splits a JWT into its decoded header and payload, signing input and signature. */
function decodeJWT(jwt) {
  const parts = jwt.split('.');
  assert.equal(parts.length, 3, `not a compact JWS: ${jwt}`);
  const [h, p, s] = parts;
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
    signingInput: Buffer.from(`${h}.${p}`),
    signature: Buffer.from(s, 'base64url'),
  };
}

/** Whether jwt carries a valid Ed25519 signature by the key in jwk. */
function signatureValid(jwt, jwk) {
  const { signingInput, signature } = decodeJWT(jwt);
  return verify(null, signingInput, createPublicKey({ key: jwk, format: 'jwk' }), signature);
}

/** Asserts err is an SDK error of class cls with the given status and, optionally, code and source. */
function assertAPIError(err, cls, { status, code, pointer, parameter } = {}) {
  assert.ok(err instanceof cls, `expected ${cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
  assert.ok(err instanceof Telnyx.APIError);
  if (status !== undefined) assert.equal(err.status, status);
  const e = firstError(err);
  assert.equal(typeof e.code, 'string');
  if (code !== undefined) assert.equal(e.code, code);
  if (pointer !== undefined) assert.equal(e.source?.pointer, pointer, `source: ${JSON.stringify(e.source)} (${e.detail})`);
  if (parameter !== undefined) assert.equal(e.source?.parameter, parameter, `source: ${JSON.stringify(e.source)} (${e.detail})`);
  return e;
}

const unprocessable = (err, opts) => assertAPIError(err, Telnyx.UnprocessableEntityError, { status: 422, ...opts });
const notFound = (err) => assertAPIError(err, Telnyx.NotFoundError, { status: 404, code: '10005' });
const forbidden = (err) => assertAPIError(err, Telnyx.PermissionDeniedError, { status: 403, code: '10010' });
const unauthenticated = (err) => assertAPIError(err, Telnyx.AuthenticationError, { status: 401, code: '10009' });
const badRequest = (err) => assertAPIError(err, Telnyx.BadRequestError, { status: 400 });

describe('sessions, participants, recordings, compositions and client tokens through the telnyx SDK', () => {
  // The fixture's recordings have no files: this server renders no
  // compositions, so that they stay enqueued while the tests look at them.
  const ts = new TestServer({ env: { ROOMSD_COMPOSE_WORKERS: '0' } });
  /** Runs one fixture command against the server's database; resolves to its JSON result. */
  let fx;
  /** SDK client with the API key. */
  let client;
  /** SDK client that sends no Authorization header at all. */
  let anon;
  /** SDK client with a wrong API key. */
  let badKey;

  const newRoom = async (params = {}) => (await client.rooms.create(params)).data;
  const participant = async (id) => (await client.roomParticipants.retrieve(id)).data;
  const session = async (id, query) => (await client.rooms.sessions.retrieve(id, query)).data;

  before(async () => {
    await ts.start();
    fx = await ts.fixture();
    client = ts.sdk();
    anon = ts.sdk({ apiKey: null });
    badKey = ts.sdk({ apiKey: `${ts.apiKey}x` });
  });

  after(() => ts.close());

  // ---------------------------------------------------------------- tokens

  /** Rooms and tokens shared by the token tests. */
  const tok = {};

  it('generateJoinClientToken issues EdDSA JWTs with default and chosen lifetimes (201)', async () => {
    tok.room = await newRoom();
    tok.other = await newRoom();

    const before = Math.floor(Date.now() / 1000);
    const { data: body, response } = await client.rooms.actions.generateJoinClientToken(tok.room.id, {}).withResponse();
    const after = Math.ceil(Date.now() / 1000);
    assert.equal(response.status, 201);
    const t = body.data;
    assert.deepEqual(sortedKeys(t), ['refresh_token', 'refresh_token_expires_at', 'token', 'token_expires_at']);
    assert.match(t.token_expires_at, TS_RE);
    assert.match(t.refresh_token_expires_at, TS_RE);

    const access = decodeJWT(t.token);
    const refresh = decodeJWT(t.refresh_token);
    for (const [jwt, typ, ttl, expiresAt] of [
      [access, 'access', 600, t.token_expires_at],
      [refresh, 'refresh', 3600, t.refresh_token_expires_at],
    ]) {
      assert.equal(jwt.header.alg, 'EdDSA');
      assert.equal(typeof jwt.header.kid, 'string');
      assert.equal(jwt.payload.typ, typ);
      assert.equal(jwt.payload.sub, tok.room.id);
      assert.ok(jwt.payload.iat >= before && jwt.payload.iat <= after, `iat ${jwt.payload.iat} not in [${before}, ${after}]`);
      assert.equal(jwt.payload.exp - jwt.payload.iat, ttl);
      assert.equal(Date.parse(expiresAt), jwt.payload.exp * 1000, 'the *_expires_at field is the exp claim');
      assert.ok(
        jwt.payload.grants.some((g) => g.resources.includes(`telnyx:video:rooms:${tok.room.id}`)),
        `no grant on the room: ${JSON.stringify(jwt.payload.grants)}`,
      );
    }
    assert.notEqual(access.payload.jti, refresh.payload.jti);
    tok.first = t;

    const short = (await client.rooms.actions.generateJoinClientToken(tok.room.id, {
      token_ttl_secs: 10,
      refresh_token_ttl_secs: 60,
    })).data;
    const sa = decodeJWT(short.token).payload;
    const sr = decodeJWT(short.refresh_token).payload;
    assert.equal(sa.exp - sa.iat, 10);
    assert.equal(sr.exp - sr.iat, 60);

    const long = (await client.rooms.actions.generateJoinClientToken(tok.room.id, {
      token_ttl_secs: 3600,
      refresh_token_ttl_secs: 86400,
    })).data;
    const la = decodeJWT(long.token).payload;
    const lr = decodeJWT(long.refresh_token).payload;
    assert.equal(la.exp - la.iat, 3600);
    assert.equal(lr.exp - lr.iat, 86400);

    tok.otherTokens = (await client.rooms.actions.generateJoinClientToken(tok.other.id, {})).data;
  });

  it('generateJoinClientToken rejects bad lifetimes (422), unknown rooms (404) and missing keys (401)', async () => {
    for (const [body, pointer] of [
      [{ token_ttl_secs: 9 }, '/token_ttl_secs'],
      [{ token_ttl_secs: 3601 }, '/token_ttl_secs'],
      [{ refresh_token_ttl_secs: 59 }, '/refresh_token_ttl_secs'],
      [{ refresh_token_ttl_secs: 86401 }, '/refresh_token_ttl_secs'],
      [{ token_ttl_secs: 'ten' }, '/token_ttl_secs'],
    ]) {
      const err = await rejection(client.rooms.actions.generateJoinClientToken(tok.room.id, body));
      unprocessable(err, { pointer });
    }
    notFound(await rejection(client.rooms.actions.generateJoinClientToken(randomUUID(), {})));
    badRequest(await rejection(client.rooms.actions.generateJoinClientToken('not-a-uuid', {})));
    unauthenticated(await rejection(anon.rooms.actions.generateJoinClientToken(tok.room.id, {})));
    unauthenticated(await rejection(badKey.rooms.actions.generateJoinClientToken(tok.room.id, {})));
  });

  it('GET /.well-known/jwks.json is public and verifies the issued tokens with node:crypto', async () => {
    // The JWKS lives at the server root, not under /v2; the SDK's generic
    // get() takes an absolute URL. No API key is sent.
    const jwksURL = new URL('/.well-known/jwks.json', ts.rootURL).href;
    const { data: jwks, response } = await anon.get(jwksURL).withResponse();
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type'), /^application\/json/);
    assert.ok(Array.isArray(jwks.keys) && jwks.keys.length >= 1, JSON.stringify(jwks));
    const { header } = decodeJWT(tok.first.token);
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    assert.ok(jwk, `no key with kid ${header.kid} in ${JSON.stringify(jwks)}`);
    assert.equal(jwk.kty, 'OKP');
    assert.equal(jwk.crv, 'Ed25519');
    assert.equal(jwk.alg, 'EdDSA');
    assert.equal(Buffer.from(jwk.x, 'base64url').length, 32);
    assert.equal(jwk.d, undefined, 'the JWKS must not carry the private key');
    tok.jwk = jwk;

    assert.equal(signatureValid(tok.first.token, jwk), true);
    assert.equal(signatureValid(tok.first.refresh_token, jwk), true);
    assert.equal(signatureValid(tok.otherTokens.token, jwk), true);

    // A changed payload no longer verifies.
    const [h, p, s] = tok.first.token.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    claims.sub = tok.other.id;
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    assert.equal(signatureValid(forged, jwk), false);
    tok.forged = forged;

    // With a (wrong) key it is still served: the route is public.
    const again = await badKey.get(jwksURL);
    assert.deepEqual(again, jwks);
  });

  it('refreshClientToken needs no API key; the refresh token is the credential (201)', async () => {
    const { data: body, response } = await anon.rooms.actions
      .refreshClientToken(tok.room.id, { refresh_token: tok.first.refresh_token })
      .withResponse();
    assert.equal(response.status, 201);
    const t = body.data;
    assert.deepEqual(sortedKeys(t), ['token', 'token_expires_at']);
    assert.match(t.token_expires_at, TS_RE);
    const { header, payload } = decodeJWT(t.token);
    assert.equal(header.alg, 'EdDSA');
    assert.equal(payload.typ, 'access');
    assert.equal(payload.sub, tok.room.id);
    assert.equal(payload.exp - payload.iat, 600);
    assert.equal(Date.parse(t.token_expires_at), payload.exp * 1000);
    assert.equal(signatureValid(t.token, tok.jwk), true);

    const short = (await anon.rooms.actions.refreshClientToken(tok.room.id, {
      refresh_token: tok.first.refresh_token,
      token_ttl_secs: 30,
    })).data;
    const sp = decodeJWT(short.token).payload;
    assert.equal(sp.exp - sp.iat, 30);

    // An Authorization header, right or wrong, does not matter here.
    await client.rooms.actions.refreshClientToken(tok.room.id, { refresh_token: tok.first.refresh_token });
    await badKey.rooms.actions.refreshClientToken(tok.room.id, { refresh_token: tok.first.refresh_token });
  });

  it('refreshClientToken answers 403 (PermissionDeniedError, 10010) to any unusable token', async () => {
    const refresh = (roomID, refreshToken) => anon.rooms.actions.refreshClientToken(roomID, { refresh_token: refreshToken });

    // An access token is not a refresh token.
    forbidden(await rejection(refresh(tok.room.id, tok.first.token)));
    // A refresh token of another room.
    forbidden(await rejection(refresh(tok.room.id, tok.otherTokens.refresh_token)));
    forbidden(await rejection(refresh(tok.other.id, tok.first.refresh_token)));
    // Garbage, and a token whose signature does not match.
    forbidden(await rejection(refresh(tok.room.id, 'not.a.jwt')));
    forbidden(await rejection(refresh(tok.room.id, 'garbage')));
    forbidden(await rejection(refresh(tok.other.id, tok.forged)));

    // A room deleted after the tokens were issued.
    const doomed = await newRoom();
    const tokens = (await client.rooms.actions.generateJoinClientToken(doomed.id, {})).data;
    await anon.rooms.actions.refreshClientToken(doomed.id, { refresh_token: tokens.refresh_token });
    await client.rooms.delete(doomed.id);
    forbidden(await rejection(refresh(doomed.id, tokens.refresh_token)));

    // Malformed requests are still 422.
    unprocessable(await rejection(anon.rooms.actions.refreshClientToken(tok.room.id, {})), {
      code: '10004',
      pointer: '/refresh_token',
    });
    unprocessable(
      await rejection(
        anon.rooms.actions.refreshClientToken(tok.room.id, { refresh_token: tok.first.refresh_token, token_ttl_secs: 5 }),
      ),
      { pointer: '/token_ttl_secs' },
    );
  });

  // -------------------------------------------------- sessions, participants

  /** Room A: alice, bob, carol, erin join session a1. */
  const A = {};
  /** Room P: four sessions p[0..3], one participant each; all but the last ended. */
  const P = { sessions: [], participants: [], ended: [] };
  /** Room B: dave in session b1. */
  const B = {};
  /** Every session in creation order. */
  const allSessions = [];

  it('a join opens a session; retrieve shows it with and without participants', async () => {
    A.room = await newRoom({ max_participants: 5 });
    A.alice = await fx('join', A.room.id, 'alice');
    A.bob = await fx('join', A.room.id, 'bob');
    A.carol = await fx('join', A.room.id, 'carol');
    A.erin = await fx('join', A.room.id, 'erin');
    const sid = A.alice.session_id;
    assert.match(sid, UUID_RE);
    for (const p of [A.bob, A.carol, A.erin]) assert.equal(p.session_id, sid);
    A.session = sid;
    allSessions.push(sid);

    const room = (await client.rooms.retrieve(A.room.id)).data;
    assert.equal(room.active_session_id, sid);

    const s = await session(sid);
    assert.deepEqual(sortedKeys(s), SESSION_KEYS);
    assert.deepEqual(s, {
      id: sid,
      room_id: A.room.id,
      active: true,
      created_at: A.alice.joined_at,
      updated_at: A.alice.joined_at,
      ended_at: null,
      record_type: 'room_session',
    });
    assert.equal('participants' in (await session(sid, { include_participants: false })), false);

    const withParts = await session(sid, { include_participants: true });
    assert.deepEqual(withParts.participants, [A.alice, A.bob, A.carol, A.erin]);
    for (const p of withParts.participants) assert.deepEqual(sortedKeys(p), PARTICIPANT_KEYS);
    const { participants, ...rest } = withParts;
    assert.deepEqual(rest, s);

    // Rooms embed their sessions, with participants, when asked.
    const roomWith = (await client.rooms.retrieve(A.room.id, { include_sessions: true })).data;
    assert.deepEqual(roomWith.sessions, [withParts]);
  });

  it('room participants: retrieve, leave, list with filters and paging', async () => {
    assert.deepEqual(await participant(A.bob.id), A.bob);
    notFound(await rejection(client.roomParticipants.retrieve(randomUUID())));
    badRequest(await rejection(client.roomParticipants.retrieve('nope')));

    A.carol = await fx('leave', A.carol.id);
    assert.match(A.carol.left_at, TS_RE);
    assert.equal(A.carol.updated_at, A.carol.left_at);
    assert.deepEqual(await participant(A.carol.id), A.carol);

    B.room = await newRoom();
    B.dave = await fx('join', B.room.id, 'dave');
    B.session = B.dave.session_id;
    allSessions.push(B.session);

    const inA = [A.erin, A.carol, A.bob, A.alice]; // latest joined first
    const all = await collect(client.roomParticipants.list());
    assert.deepEqual(all, [B.dave, ...inA]);

    const bySession = await collect(client.roomParticipants.list({ filter: { session_id: A.session } }));
    assert.deepEqual(bySession, inA);
    const byContext = await collect(client.roomParticipants.list({ filter: { context: 'bob' } }));
    assert.deepEqual(byContext, [A.bob]);
    assert.deepEqual(await collect(client.roomParticipants.list({ filter: { context: 'nobody' } })), []);

    const left = day(A.carol.left_at);
    assert.deepEqual(await collect(client.roomParticipants.list({ filter: { date_left_at: { eq: left } } })), [A.carol]);
    assert.deepEqual(await collect(client.roomParticipants.list({ filter: { date_left_at: { lte: day(A.carol.left_at, -1) } } })), []);
    const joinedDay = day(A.alice.joined_at);
    assert.deepEqual(
      ids(await collect(client.roomParticipants.list({ filter: { session_id: A.session, date_joined_at: { eq: joinedDay } } }))),
      ids(inA.filter((p) => p.joined_at.startsWith(joinedDay))),
    );
    assert.deepEqual(await collect(client.roomParticipants.list({ filter: { date_joined_at: { gte: day(B.dave.joined_at, 1) } } })), []);
    assert.deepEqual(
      await collect(client.roomParticipants.list({ filter: { date_updated_at: { gte: day(A.alice.updated_at, -1), lte: day(B.dave.updated_at, 1) } } })),
      [B.dave, ...inA],
    );

    const pages = [];
    for await (const page of (await client.roomParticipants.list({ 'page[size]': 2 })).iterPages()) pages.push(page);
    assert.deepEqual(
      pages.map((p) => p.meta),
      [1, 2, 3].map((n) => ({ page_number: n, page_size: 2, total_pages: 3, total_results: 5 })),
    );
    assert.deepEqual(pages.flatMap((p) => ids(p.data)), ids([B.dave, ...inA]));

    const err = await rejection(client.roomParticipants.list({ filter: { session_id: 'nope' } }));
    unprocessable(err, { parameter: 'filter[session_id]' });
    const err2 = await rejection(client.roomParticipants.list({ filter: { date_joined_at: { eq: 'today' } } }));
    unprocessable(err2, { parameter: 'filter[date_joined_at][eq]' });
  });

  it("a session's participants: rooms.sessions.retrieveParticipants with filters and paging", async () => {
    const inA = [A.erin, A.carol, A.bob, A.alice];
    const first = await client.rooms.sessions.retrieveParticipants(A.session, { 'page[size]': 3 });
    assert.deepEqual(first.meta, { page_number: 1, page_size: 3, total_pages: 2, total_results: 4 });
    assert.deepEqual(first.data, inA.slice(0, 3));
    assert.equal(first.hasNextPage(), true);
    assert.deepEqual(await collect(client.rooms.sessions.retrieveParticipants(A.session, { 'page[size]': 3 })), inA);

    assert.deepEqual(await collect(client.rooms.sessions.retrieveParticipants(A.session, { filter: { context: 'alice' } })), [A.alice]);
    // Scoped to the session: dave is in another one.
    assert.deepEqual(await collect(client.rooms.sessions.retrieveParticipants(A.session, { filter: { context: 'dave' } })), []);
    assert.deepEqual(
      await collect(client.rooms.sessions.retrieveParticipants(A.session, { filter: { date_left_at: { eq: day(A.carol.left_at) } } })),
      [A.carol],
    );
    assert.deepEqual(
      await collect(client.rooms.sessions.retrieveParticipants(A.session, { filter: { date_updated_at: { lte: day(A.alice.updated_at, -1) } } })),
      [],
    );

    notFound(await rejection(client.rooms.sessions.retrieveParticipants(randomUUID())));
    badRequest(await rejection(client.rooms.sessions.retrieveParticipants('nope')));
  });

  it('room sessions: list0 (account) and list1 (room) with filters, include_participants and paging', async () => {
    P.room = await newRoom();
    for (let i = 0; i < 4; i++) {
      const p = await fx('join', P.room.id, `p-${i}`);
      P.participants.push(p);
      P.sessions.push(p.session_id);
      allSessions.push(p.session_id);
      if (i < 3) P.ended.push(await fx('end', p.session_id));
    }
    assert.equal(new Set(P.sessions).size, 4, 'each join after an end opens a new session');
    for (const s of P.ended) {
      assert.equal(s.active, false);
      assert.match(s.ended_at, TS_RE);
      assert.deepEqual(await session(s.id), s);
    }

    const newestFirst = [...allSessions].reverse();
    const all = await collect(client.rooms.sessions.list0());
    assert.deepEqual(ids(all), newestFirst);
    for (const s of all) {
      assert.deepEqual(sortedKeys(s), SESSION_KEYS);
      assert.equal(s.record_type, 'room_session');
    }

    const pages = [];
    for await (const page of (await client.rooms.sessions.list0({ 'page[size]': 4 })).iterPages()) pages.push(page);
    assert.deepEqual(
      pages.map((p) => p.meta),
      [1, 2].map((n) => ({ page_number: n, page_size: 4, total_pages: 2, total_results: 6 })),
    );
    assert.deepEqual(pages.map((p) => p.data.length), [4, 2]);
    const second = await client.rooms.sessions.list0({ 'page[size]': 4, 'page[number]': 2 });
    assert.deepEqual(ids(second.data), newestFirst.slice(4));
    assert.equal(second.hasNextPage(), false);

    const list0 = async (query) => ids(await collect(client.rooms.sessions.list0(query)));
    const pNewest = [...P.sessions].reverse();
    assert.deepEqual(await list0({ filter: { room_id: P.room.id } }), pNewest);
    assert.deepEqual(await list0({ filter: { active: true } }), [P.sessions[3], B.session, A.session]);
    assert.deepEqual(await list0({ filter: { active: false } }), pNewest.slice(1));
    assert.deepEqual(await list0({ filter: { active: false, room_id: B.room.id } }), []);
    const endedDay = day(P.ended[0].ended_at);
    assert.deepEqual(
      await list0({ filter: { date_ended_at: { eq: endedDay } } }),
      ids([...P.ended].reverse().filter((s) => s.ended_at.startsWith(endedDay))),
    );
    const createdDay = day(all[0].created_at);
    assert.deepEqual(
      await list0({ filter: { date_created_at: { eq: createdDay } } }),
      ids(all.filter((s) => s.created_at.startsWith(createdDay))),
    );
    assert.deepEqual(await list0({ filter: { date_created_at: { lte: day(all.at(-1).created_at, -1) } } }), []);
    assert.deepEqual(await list0({ filter: { date_updated_at: { gte: day(all[0].updated_at, 1) } } }), []);

    const withParts = await collect(client.rooms.sessions.list0({ filter: { room_id: P.room.id }, include_participants: true }));
    assert.deepEqual(
      withParts.map((s) => s.participants.map((p) => p.context)),
      [['p-3'], ['p-2'], ['p-1'], ['p-0']],
    );
    // Ending a session makes everyone present leave at ended_at.
    for (const [i, s] of P.ended.entries()) {
      const p = withParts[3 - i].participants[0];
      assert.equal(p.left_at, s.ended_at);
      assert.equal(p.id, P.participants[i].id);
    }
    assert.equal(withParts[0].participants[0].left_at, null);

    // list1 is the same list scoped to one room.
    const list1 = await collect(client.rooms.sessions.list1(P.room.id));
    assert.deepEqual(ids(list1), pNewest);
    assert.deepEqual(list1, all.filter((s) => s.room_id === P.room.id));
    const scoped = await client.rooms.sessions.list1(P.room.id, { filter: { active: false }, 'page[size]': 2 });
    assert.deepEqual(scoped.meta, { page_number: 1, page_size: 2, total_pages: 2, total_results: 3 });
    assert.deepEqual(ids(scoped.data), pNewest.slice(1, 3));
    const scopedWith = await collect(client.rooms.sessions.list1(A.room.id, { include_participants: true }));
    assert.deepEqual(scopedWith.map((s) => s.participants.map((p) => p.context)), [['alice', 'bob', 'carol', 'erin']]);
    assert.deepEqual(await collect(client.rooms.sessions.list1(A.room.id, { filter: { date_ended_at: { eq: endedDay } } })), []);

    notFound(await rejection(client.rooms.sessions.list1(randomUUID())));
    badRequest(await rejection(client.rooms.sessions.list1('nope')));
    notFound(await rejection(client.rooms.sessions.retrieve(randomUUID())));
    badRequest(await rejection(client.rooms.sessions.retrieve('nope')));
    unprocessable(await rejection(client.rooms.sessions.list0({ filter: { active: 'maybe' } })), { parameter: 'filter[active]' });
    unprocessable(await rejection(client.rooms.sessions.list0({ filter: { room_id: 'nope' } })), { parameter: 'filter[room_id]' });
    unprocessable(await rejection(client.rooms.sessions.list0({ filter: { date_created_at: { gte: '2024-13-01' } } })), {
      parameter: 'filter[date_created_at][gte]',
    });
    unprocessable(await rejection(client.rooms.sessions.list0({ 'page[size]': 0 })), { parameter: 'page[size]' });
  });

  // -------------------------------------------------------- session actions

  const actionsOK = (res) => assert.deepEqual(res, { data: { result: 'ok' } });

  it('mute and unmute: "all" with exclude, or a list; the chosen participants change, nobody leaves', async () => {
    const before = Object.fromEntries(await Promise.all([A.alice, A.bob, A.carol, A.erin].map(async (p) => [p.context, await participant(p.id)])));

    const { data, response } = await client.rooms.sessions.actions
      .mute(A.session, { participants: 'all', exclude: [A.alice.id] })
      .withResponse();
    assert.equal(response.status, 200);
    actionsOK(data);
    const muted = Object.fromEntries(await Promise.all([A.alice, A.bob, A.carol, A.erin].map(async (p) => [p.context, await participant(p.id)])));
    // Muting is not a field of the participant, but it is a change: updated_at moves.
    assert.ok(muted.bob.updated_at > before.bob.updated_at, 'bob was muted');
    assert.ok(muted.erin.updated_at > before.erin.updated_at, 'erin was muted');
    assert.deepEqual(muted.alice, before.alice, 'alice was excluded');
    assert.deepEqual(muted.carol, before.carol, 'carol had left');
    for (const p of Object.values(muted)) assert.equal(p.left_at, p.context === 'carol' ? A.carol.left_at : null);

    // Muting the muted changes nothing.
    actionsOK(await client.rooms.sessions.actions.mute(A.session, { participants: [A.bob.id, A.erin.id] }));
    assert.deepEqual(await participant(A.bob.id), muted.bob);
    assert.deepEqual(await participant(A.erin.id), muted.erin);

    actionsOK(await client.rooms.sessions.actions.unmute(A.session, { participants: [A.bob.id] }));
    const unmuted = await participant(A.bob.id);
    assert.ok(unmuted.updated_at > muted.bob.updated_at, 'bob was unmuted');
    assert.equal(unmuted.left_at, null);
    assert.deepEqual(await participant(A.erin.id), muted.erin, 'erin stays muted');
    // A participant who has left is accepted and skipped.
    actionsOK(await client.rooms.sessions.actions.unmute(A.session, { participants: 'all', exclude: [A.carol.id] }));
    actionsOK(await client.rooms.sessions.actions.mute(A.session, { participants: [A.carol.id] }));
    assert.deepEqual(await participant(A.carol.id), A.carol);

    // participants is optional: without it, mute and unmute act on everyone present.
    const beforeAll = await participant(A.alice.id);
    actionsOK(await client.rooms.sessions.actions.mute(A.session, {}));
    const mutedAll = await participant(A.alice.id);
    assert.ok(mutedAll.updated_at > beforeAll.updated_at, 'mute without participants muted alice');
    actionsOK(await client.rooms.sessions.actions.unmute(A.session, {}));
    assert.ok((await participant(A.alice.id)).updated_at > mutedAll.updated_at, 'unmute without participants unmuted alice');
    assert.equal((await session(A.session)).active, true);
  });

  it('session actions reject bad participant selections with 422 and unknown sessions with 404', async () => {
    const { actions } = client.rooms.sessions;
    // A kick must say whom: without participants (or exclude) it would empty the room.
    unprocessable(await rejection(actions.kick(A.session, {})), { code: '10004', pointer: '/participants' });
    for (const action of ['kick', 'mute', 'unmute']) {
      unprocessable(await rejection(actions[action](A.session, { participants: [randomUUID()] })), { pointer: '/participants/0' });
      notFound(await rejection(actions[action](randomUUID(), { participants: 'all' })));
    }
    // dave is a participant, but of another session.
    unprocessable(await rejection(actions.kick(A.session, { participants: [B.dave.id] })), { pointer: '/participants/0' });
    unprocessable(await rejection(actions.mute(A.session, { participants: [A.alice.id, randomUUID()] })), {
      pointer: '/participants/1',
    });
    unprocessable(await rejection(actions.kick(A.session, { participants: 'all', exclude: [B.dave.id] })), { pointer: '/exclude/0' });
    unprocessable(await rejection(actions.kick(A.session, { participants: 'everyone' })), { code: '10015', pointer: '/participants' });
    unprocessable(await rejection(actions.kick(A.session, { participants: [] })), { pointer: '/participants' });
    unprocessable(await rejection(actions.kick(A.session, { participants: ['nope'] })), { pointer: '/participants/0' });
    badRequest(await rejection(actions.kick('nope', { participants: 'all' })));
    notFound(await rejection(actions.end(randomUUID())));

    // Nothing changed.
    const parts = await collect(client.rooms.sessions.retrieveParticipants(A.session));
    assert.deepEqual(parts.filter((p) => p.left_at === null).map((p) => p.context).sort(), ['alice', 'bob', 'erin']);
    assert.equal((await participant(B.dave.id)).left_at, null);
  });

  it('kick sets left_at on the chosen participants only; the session stays active', async () => {
    const aliceBefore = await participant(A.alice.id);
    actionsOK(await client.rooms.sessions.actions.kick(A.session, { participants: [A.bob.id] }));
    const bob = await participant(A.bob.id);
    assert.match(bob.left_at, TS_RE);
    assert.equal(bob.updated_at, bob.left_at);
    assert.equal((await participant(A.erin.id)).left_at, null);
    assert.deepEqual(await participant(A.alice.id), aliceBefore);

    actionsOK(await client.rooms.sessions.actions.kick(A.session, { participants: 'all', exclude: [A.alice.id] }));
    const erin = await participant(A.erin.id);
    assert.match(erin.left_at, TS_RE);
    assert.deepEqual(await participant(A.bob.id), bob, 'kicking again does not move left_at');
    assert.deepEqual(await participant(A.alice.id), aliceBefore);

    const s = await session(A.session, { include_participants: true });
    assert.equal(s.active, true);
    assert.equal(s.ended_at, null);
    assert.deepEqual(s.participants.filter((p) => p.left_at === null).map((p) => p.context), ['alice']);
    assert.equal((await client.rooms.retrieve(A.room.id)).data.active_session_id, A.session);
    A.bob = bob;
    A.erin = erin;
  });

  it('end closes the session: active false, ended_at set, everyone present leaves; it then refuses actions (422)', async () => {
    const { data, response } = await client.rooms.sessions.actions.end(A.session).withResponse();
    assert.equal(response.status, 200);
    actionsOK(data);

    const s = await session(A.session, { include_participants: true });
    assert.equal(s.active, false);
    assert.match(s.ended_at, TS_RE);
    assert.equal(s.updated_at, s.ended_at);
    const byContext = Object.fromEntries(s.participants.map((p) => [p.context, p]));
    assert.equal(byContext.alice.left_at, s.ended_at, 'alice was present and left when the session ended');
    assert.deepEqual(byContext.bob, A.bob, 'bob had been kicked; his left_at stands');
    assert.deepEqual(byContext.carol, A.carol);
    assert.deepEqual(byContext.erin, A.erin);
    assert.equal((await client.rooms.retrieve(A.room.id)).data.active_session_id, null);
    A.ended = s;

    const { actions } = client.rooms.sessions;
    unprocessable(await rejection(actions.end(A.session)));
    unprocessable(await rejection(actions.kick(A.session, { participants: 'all' })));
    unprocessable(await rejection(actions.mute(A.session, { participants: [A.alice.id] })));
    unprocessable(await rejection(actions.unmute(A.session, { participants: 'all' })));

    // The next join opens a new session.
    const frank = await fx('join', A.room.id, 'frank');
    assert.notEqual(frank.session_id, A.session);
    assert.equal((await client.rooms.retrieve(A.room.id)).data.active_session_id, frank.session_id);
    const sessions = await collect(client.rooms.sessions.list1(A.room.id));
    assert.deepEqual(ids(sessions), [frank.session_id, A.session]);
    allSessions.push(frank.session_id);
  });

  // ------------------------------------------------------------ recordings

  /** Room R (session s, ended) and room R2 (session s2, active) with recordings r1..r6. */
  const R = {};

  it('room recordings: retrieve and list with every kind of filter and paging', async () => {
    R.room = await newRoom({ enable_recording: true });
    const p1 = await fx('join', R.room.id, 'rec-1');
    const p2 = await fx('join', R.room.id, 'rec-2');
    R.s = p1.session_id;
    R.p1 = p1;
    R.p2 = p2;
    const started = async (p, type, codec) => {
      const r = await fx('record', p.id, type, codec);
      assert.equal(r.status, 'processing');
      return r;
    };
    const done = (r, size, secs) => fx('complete', r.id, String(size), String(secs), `https://media.example.com/${r.id}.${r.codec}`);
    R.r1 = await done(await started(p1, 'audio', 'opus'), 1.5, 10);
    R.r2 = await done(await started(p1, 'video', 'vp8'), 12.25, 20);
    R.r3 = await done(await started(p2, 'video', 'h264'), 8, 30);
    R.r4 = await started(p2, 'audio', 'opus');
    R.ended = await fx('end', R.s);

    R.room2 = await newRoom();
    const p3 = await fx('join', R.room2.id, 'rec-3');
    R.s2 = p3.session_id;
    R.p3 = p3;
    R.r5 = await done(await started(p3, 'video', 'vp8'), 3, 40);
    R.r6 = await done(await started(p3, 'audio', 'opus'), 1, 5);
    const recs = [R.r1, R.r2, R.r3, R.r4, R.r5, R.r6];

    const got = (await client.roomRecordings.retrieve(R.r2.id)).data;
    assert.deepEqual(sortedKeys(got), RECORDING_KEYS);
    assert.deepEqual(got, R.r2);
    assert.equal(got.record_type, 'room_recording');
    assert.equal(got.status, 'completed');
    assert.equal(got.size_mb, 12.25);
    assert.equal(got.duration_secs, 20);
    assert.equal(got.room_id, R.room.id);
    assert.equal(got.session_id, R.s);
    assert.equal(got.participant_id, R.p1.id);
    assert.match(got.completed_at, TS_RE);
    const processing = (await client.roomRecordings.retrieve(R.r4.id)).data;
    assert.deepEqual(processing, R.r4);
    assert.equal(processing.status, 'processing');
    assert.equal(processing.size_mb, null);
    assert.equal(processing.ended_at, null);
    notFound(await rejection(client.roomRecordings.retrieve(randomUUID())));
    badRequest(await rejection(client.roomRecordings.retrieve('nope')));

    // Latest started first.
    const all = await collect(client.roomRecordings.list());
    assert.deepEqual(all, [...recs].reverse());
    const page = await client.roomRecordings.list({ 'page[size]': 4, 'page[number]': 2 });
    assert.deepEqual(page.meta, { page_number: 2, page_size: 4, total_pages: 2, total_results: 6 });
    assert.deepEqual(ids(page.data), ids([R.r2, R.r1]));

    const list = async (filter) => ids(await collect(client.roomRecordings.list({ filter })));
    const want = (...rs) => ids(rs);
    assert.deepEqual(await list({ room_id: R.room.id }), want(R.r4, R.r3, R.r2, R.r1));
    assert.deepEqual(await list({ session_id: R.s2 }), want(R.r6, R.r5));
    assert.deepEqual(await list({ participant_id: R.p1.id }), want(R.r2, R.r1));
    assert.deepEqual(await list({ status: 'processing' }), want(R.r4));
    assert.deepEqual(await list({ status: 'completed' }), want(R.r6, R.r5, R.r3, R.r2, R.r1));
    assert.deepEqual(await list({ type: 'video' }), want(R.r5, R.r3, R.r2));
    assert.deepEqual(await list({ type: 'audio', session_id: R.s }), want(R.r4, R.r1));
    // The bracketed eq/gte/lte form, which the SDK serialises from an object
    // (the bare number form is the next test).
    assert.deepEqual(await list({ duration_secs: { gte: 20 } }), want(R.r5, R.r3, R.r2));
    assert.deepEqual(await list({ duration_secs: { lte: 10 } }), want(R.r6, R.r1));
    assert.deepEqual(await list({ duration_secs: { eq: 30 } }), want(R.r3));
    assert.deepEqual(await list({ duration_secs: { gte: 10, lte: 30 } }), want(R.r3, R.r2, R.r1));
    const startedDay = day(R.r1.started_at);
    assert.deepEqual(await list({ date_started_at: { eq: startedDay } }), ids([...recs].reverse().filter((r) => r.started_at.startsWith(startedDay))));
    assert.deepEqual(await list({ date_started_at: { lte: day(R.r1.started_at, -1) } }), []);
    const endedDay = day(R.r6.ended_at);
    assert.deepEqual(
      await list({ date_ended_at: { eq: endedDay } }),
      ids([...recs].reverse().filter((r) => r.ended_at?.startsWith(endedDay))),
    );
    assert.deepEqual(await list({ date_ended_at: { gte: day(R.r6.ended_at, 1) } }), []);

    for (const [filter, parameter] of [
      [{ room_id: 'nope' }, 'filter[room_id]'],
      [{ session_id: 'nope' }, 'filter[session_id]'],
      [{ participant_id: 'nope' }, 'filter[participant_id]'],
      [{ status: 'done' }, 'filter[status]'],
      [{ type: 'screen' }, 'filter[type]'],
      [{ duration_secs: { gte: -1 } }, 'filter[duration_secs][gte]'],
      [{ date_started_at: { eq: 'yesterday' } }, 'filter[date_started_at][eq]'],
    ]) {
      unprocessable(await rejection(client.roomRecordings.list({ filter })), { parameter });
    }
  });

  it('SDK-typed filter.duration_secs (a bare number) narrows the recordings list', async () => {
    // RoomRecordingListParams.Filter.duration_secs is `number` in the SDK,
    // documented as "greater or equal", and is sent as filter[duration_secs]=20.
    const got = ids(await collect(client.roomRecordings.list({ filter: { duration_secs: 20 } })));
    assert.deepEqual(got, ids([R.r5, R.r3, R.r2]));
  });

  // ---------------------------------------------------------- compositions

  const C = {};

  it('room compositions: create (202) with defaults and with a video layout', async () => {
    const { data: body, response } = await client.roomCompositions.create({ session_id: R.s }).withResponse();
    assert.equal(response.status, 202);
    const c = body.data;
    assert.deepEqual(sortedKeys(c), COMPOSITION_KEYS);
    assert.match(c.id, UUID_RE);
    assert.match(c.created_at, TS_RE);
    assert.deepEqual(c, {
      id: c.id,
      room_id: R.room.id,
      session_id: R.s,
      user_id: null,
      status: 'enqueued',
      failure_reason: null,
      format: 'mp4',
      resolution: '1280x720',
      size_mb: null,
      duration_secs: null,
      download_url: null,
      video_layout: {},
      webhook_event_url: null,
      webhook_event_failover_url: '',
      webhook_timeout_secs: null,
      created_at: c.created_at,
      updated_at: c.created_at,
      started_at: null,
      ended_at: null,
      completed_at: null,
      record_type: 'room_composition',
    });
    C.plain = c;

    const layout = {
      main: { x_pos: 0, y_pos: 0, z_pos: 0, width: 960, height: 720, max_columns: 2, max_rows: 2, video_sources: [R.r2.id, R.r3.id] },
      side: { x_pos: 960, y_pos: 0, z_pos: 1, width: 320, height: 180, max_columns: 1, max_rows: 1, video_sources: ['*'] },
    };
    const full = (await client.roomCompositions.create({
      session_id: R.s,
      format: 'mp4',
      resolution: '1280x720',
      video_layout: layout,
      webhook_event_url: 'https://hooks.example.com/compositions',
      webhook_event_failover_url: 'https://failover.example.com/compositions',
      webhook_timeout_secs: 10,
    })).data;
    assert.deepEqual(full.video_layout, layout);
    assert.equal(full.status, 'enqueued');
    assert.equal(full.webhook_event_url, 'https://hooks.example.com/compositions');
    assert.equal(full.webhook_event_failover_url, 'https://failover.example.com/compositions');
    assert.equal(full.webhook_timeout_secs, 10);
    C.full = full;

    // Portrait at exactly the pixel limit; a region with only its sources.
    const portrait = (await client.roomCompositions.create({
      session_id: R.s,
      resolution: '720x1280',
      video_layout: { grid: { video_sources: ['*'] } },
    })).data;
    assert.equal(portrait.resolution, '720x1280');
    assert.deepEqual(sortedKeys(portrait.video_layout.grid), REGION_KEYS);
    assert.deepEqual(portrait.video_layout.grid.video_sources, ['*']);
    C.portrait = portrait;
  });

  it('room compositions: invalid requests are 422 naming the field, and create nothing', async () => {
    const create = (body) => rejection(client.roomCompositions.create(body));
    unprocessable(await create({}), { code: '10004', pointer: '/session_id' });
    for (const [body, pointer] of [
      [{ session_id: randomUUID() }, '/session_id'],
      [{ session_id: R.s2 }, '/session_id'], // still active
      [{ session_id: 'nope' }, '/session_id'],
      [{ session_id: R.s, format: 'webm' }, '/format'],
      [{ session_id: R.s, resolution: '1281x720' }, '/resolution'],
      [{ session_id: R.s, resolution: '1280x721' }, '/resolution'],
      [{ session_id: R.s, resolution: '15x720' }, '/resolution'],
      [{ session_id: R.s, resolution: 'big' }, '/resolution'],
      [{ session_id: R.s, video_layout: { a: {}, b: {}, c: {} } }, '/video_layout'],
      [{ session_id: R.s, video_layout: { main: { video_sources: [R.r1.id] } } }, '/video_layout/main/video_sources/0'], // audio
      [{ session_id: R.s, video_layout: { main: { video_sources: ['*', R.r5.id] } } }, '/video_layout/main/video_sources/1'], // other session
      [{ session_id: R.s, video_layout: { main: { video_sources: [randomUUID()] } } }, '/video_layout/main/video_sources/0'],
      [{ session_id: R.s, video_layout: { main: { video_sources: ['nope'] } } }, '/video_layout/main/video_sources/0'],
      [{ session_id: R.s, video_layout: { main: { x_pos: 1000, width: 400 } } }, '/video_layout/main/width'],
      [{ session_id: R.s, video_layout: { main: { x_pos: 1280 } } }, '/video_layout/main/x_pos'],
    ]) {
      unprocessable(await create(body), { pointer });
    }
    unprocessable(await create({ session_id: R.s, webhook_event_url: 'not a url' }), { code: '10003', pointer: '/webhook_event_url' });

    const page = await client.roomCompositions.list({ 'page[size]': 1 });
    assert.equal(page.meta.total_results, 3);
  });

  it('room compositions: list with filters and paging, retrieve, delete (204)', async () => {
    const newest = [C.portrait, C.full, C.plain];
    assert.deepEqual(await collect(client.roomCompositions.list()), newest);
    const pages = [];
    for await (const page of (await client.roomCompositions.list({ 'page[size]': 2 })).iterPages()) pages.push(page);
    assert.deepEqual(
      pages.map((p) => p.meta),
      [1, 2].map((n) => ({ page_number: n, page_size: 2, total_pages: 2, total_results: 3 })),
    );
    assert.deepEqual(pages.flatMap((p) => ids(p.data)), ids(newest));

    const list = async (filter) => ids(await collect(client.roomCompositions.list({ filter })));
    assert.deepEqual(await list({ session_id: R.s }), ids(newest));
    assert.deepEqual(await list({ session_id: R.s2 }), []);
    assert.deepEqual(await list({ status: 'enqueued' }), ids(newest));
    assert.deepEqual(await list({ status: 'completed' }), []);
    assert.deepEqual(await list({ status: 'failed' }), []);
    const createdDay = day(C.plain.created_at);
    assert.deepEqual(await list({ date_created_at: { eq: createdDay } }), ids(newest.filter((c) => c.created_at.startsWith(createdDay))));
    assert.deepEqual(await list({ date_created_at: { lte: day(C.plain.created_at, -1) } }), []);
    unprocessable(await rejection(client.roomCompositions.list({ filter: { status: 'bogus' } })), { parameter: 'filter[status]' });
    unprocessable(await rejection(client.roomCompositions.list({ filter: { session_id: 'nope' } })), { parameter: 'filter[session_id]' });

    assert.deepEqual((await client.roomCompositions.retrieve(C.full.id)).data, C.full);
    notFound(await rejection(client.roomCompositions.retrieve(randomUUID())));
    badRequest(await rejection(client.roomCompositions.retrieve('nope')));

    const { data, response } = await client.roomCompositions.delete(C.plain.id).withResponse();
    assert.equal(response.status, 204);
    assert.equal(data ?? null, null);
    notFound(await rejection(client.roomCompositions.retrieve(C.plain.id)));
    notFound(await rejection(client.roomCompositions.delete(C.plain.id)));
    assert.deepEqual(await list({ session_id: R.s }), ids([C.portrait, C.full]));
  });

  it('room recordings: delete one (204) and bulk delete by filter (201, count); no filter is 422', async () => {
    const { data, response } = await client.roomRecordings.delete(R.r6.id).withResponse();
    assert.equal(response.status, 204);
    assert.equal(data ?? null, null);
    notFound(await rejection(client.roomRecordings.retrieve(R.r6.id)));
    notFound(await rejection(client.roomRecordings.delete(R.r6.id)));

    unprocessable(await rejection(client.roomRecordings.deleteBulk()), { parameter: 'filter' });
    unprocessable(await rejection(client.roomRecordings.deleteBulk({})));
    unprocessable(await rejection(client.roomRecordings.deleteBulk({ filter: { status: 'bogus' } })), { parameter: 'filter[status]' });

    const none = await client.roomRecordings.deleteBulk({ filter: { session_id: randomUUID() } }).withResponse();
    assert.equal(none.response.status, 201);
    assert.deepEqual(none.data, { data: { room_recordings: 0 } });

    // With paging, only what the same list would show on that page goes.
    const paged = await client.roomRecordings.deleteBulk({ filter: { session_id: R.s, type: 'audio' }, 'page[size]': 1 });
    assert.deepEqual(paged, { data: { room_recordings: 1 } });
    assert.deepEqual(ids(await collect(client.roomRecordings.list({ filter: { session_id: R.s } }))), ids([R.r3, R.r2, R.r1]));

    const bulk = await client.roomRecordings.deleteBulk({ filter: { room_id: R.room.id, date_started_at: { eq: day(R.r1.started_at) } } });
    assert.deepEqual(bulk, { data: { room_recordings: [R.r1, R.r2, R.r3].filter((r) => r.started_at.startsWith(day(R.r1.started_at))).length } });
    assert.deepEqual(await collect(client.roomRecordings.list({ filter: { room_id: R.room.id } })), []);
    assert.deepEqual(ids(await collect(client.roomRecordings.list())), ids([R.r5]));
  });

  it('deleting a room removes its sessions and participants; recordings keep their ids', async () => {
    await client.rooms.delete(R.room2.id); // its session s2 is still active
    notFound(await rejection(client.rooms.sessions.retrieve(R.s2)));
    notFound(await rejection(client.roomParticipants.retrieve(R.p3.id)));
    notFound(await rejection(client.rooms.sessions.list1(R.room2.id)));
    assert.deepEqual(await collect(client.rooms.sessions.list0({ filter: { room_id: R.room2.id } })), []);
    const r5 = (await client.roomRecordings.retrieve(R.r5.id)).data;
    assert.deepEqual(r5, R.r5);

    await client.rooms.delete(P.room.id);
    for (const sid of P.sessions) notFound(await rejection(client.rooms.sessions.retrieve(sid)));
    assert.deepEqual(await collect(client.roomParticipants.list({ filter: { context: 'p-0' } })), []);
  });

  it('every session-side endpoint that needs an API key answers 401 (AuthenticationError) without one', async () => {
    const sid = A.session;
    const calls = {
      'rooms.sessions.list0': (c) => c.rooms.sessions.list0(),
      'rooms.sessions.list1': (c) => c.rooms.sessions.list1(A.room.id),
      'rooms.sessions.retrieve': (c) => c.rooms.sessions.retrieve(sid),
      'rooms.sessions.retrieveParticipants': (c) => c.rooms.sessions.retrieveParticipants(sid),
      'rooms.sessions.actions.end': (c) => c.rooms.sessions.actions.end(sid),
      'rooms.sessions.actions.kick': (c) => c.rooms.sessions.actions.kick(sid, { participants: 'all' }),
      'rooms.sessions.actions.mute': (c) => c.rooms.sessions.actions.mute(sid, { participants: 'all' }),
      'rooms.sessions.actions.unmute': (c) => c.rooms.sessions.actions.unmute(sid, { participants: 'all' }),
      'roomParticipants.list': (c) => c.roomParticipants.list(),
      'roomParticipants.retrieve': (c) => c.roomParticipants.retrieve(A.alice.id),
      'roomRecordings.list': (c) => c.roomRecordings.list(),
      'roomRecordings.retrieve': (c) => c.roomRecordings.retrieve(R.r5.id),
      'roomRecordings.delete': (c) => c.roomRecordings.delete(R.r5.id),
      'roomRecordings.deleteBulk': (c) => c.roomRecordings.deleteBulk({ filter: { room_id: R.room2.id } }),
      'roomCompositions.list': (c) => c.roomCompositions.list(),
      'roomCompositions.create': (c) => c.roomCompositions.create({ session_id: R.s }),
      'roomCompositions.retrieve': (c) => c.roomCompositions.retrieve(C.full.id),
      'roomCompositions.delete': (c) => c.roomCompositions.delete(C.full.id),
    };
    for (const [name, call] of Object.entries(calls)) {
      for (const c of [anon, badKey]) {
        const err = await rejection(call(c));
        assert.ok(err instanceof Telnyx.AuthenticationError, `${name}: got ${err?.constructor?.name}: ${err?.message}`);
        unauthenticated(err);
      }
    }
    // Nothing was touched.
    assert.deepEqual((await client.roomRecordings.retrieve(R.r5.id)).data, R.r5);
    assert.deepEqual((await client.roomCompositions.retrieve(C.full.id)).data, C.full);
    assert.equal((await client.roomCompositions.list()).meta.total_results, 2);
  });

  it('SIGTERM shuts the server down gracefully with exit code 0', async () => {
    assert.equal(ts.child.exitCode, null, 'server exited before the end of the suite');
    const { code, signal } = await ts.terminate();
    assert.equal(signal, null, `server died of ${signal}; stderr:\n${ts.server.stderr}`);
    assert.equal(code, 0, `server exited ${code}; stderr:\n${ts.server.stderr}`);
  });
});
