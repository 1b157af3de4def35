// The official @telnyx/video browser SDK, unmodified, in a meeting with a
// roomsd bot. The SDK connects to wss://video.telnyx.com/<room id>/janus:
// Chromium runs in a network namespace of its own, reaching only the
// server (HTTPS with a test certificate for video.telnyx.com, on one end
// of a veth pair), and resolves video.telnyx.com to it
// (--host-resolver-rules); the SDK's hard-coded Google STUN server is out
// of reach there. Two SDK clients and the bot see each other, chat, are
// muted and kicked through the REST API, and leave. Needs root (ip netns),
// as the CI machine has.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHTTPServer } from 'node:http';
import { createServer as createHTTPSServer } from 'node:https';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FarHost, httpsAPI, startBot } from './farhost.js';
import { E2E_DIR, STOP_DEADLINE_MS, eventually, goBuild, startServer, waitExit } from './server.js';

const require = createRequire(import.meta.url);
const JOIN_DEADLINE_MS = 45_000;
const MEDIA_DEADLINE_MS = 60_000;

describe('@telnyx/video 1.0.2 in a roomsd meeting', () => {
  const apiKey = `e2e_${randomBytes(16).toString('hex')}`;
  let dir;
  let far;
  let server;
  let base;
  let browser;
  let bin;
  let certFile;
  let pages;
  let hooks;
  let api;
  const webhooks = [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'roomsd-telnyx-video-'));
    far = await FarHost.create('rdt', 78);
    // A self-signed certificate for video.telnyx.com (and the server's
    // address, for the bot and the REST calls).
    const cert = await far.certificate(dir, ['video.telnyx.com']);
    certFile = cert.certFile;

    // Webhooks, on this host's loopback.
    hooks = createHTTPServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        webhooks.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(200).end();
      });
    });
    await new Promise((resolve) => hooks.listen(0, '127.0.0.1', resolve));

    bin = process.env.ROOMSD_BIN || (await goBuild('./cmd/roomsd', path.join(dir, 'roomsd')));
    server = await startServer(bin, {
      dbPath: path.join(dir, 'roomsd.db'),
      apiKey,
      cwd: dir,
      env: { ROOMSD_ADDR: `${far.serverIP}:0`, ROOMSD_TLS_CERT: certFile, ROOMSD_TLS_KEY: cert.keyFile, ROOMSD_RTC_LOOPBACK: 'off',
        ROOMSD_DATA_DIR: path.join(dir, 'data') },
    });
    base = new URL('/', server.baseURL).href;
    api = httpsAPI(base, apiKey, certFile);
    const port = new URL(base).port;

    // The front end's page and the SDK, over HTTPS too (getUserMedia
    // wants a secure context).
    const sdk = await readFile(require.resolve('@telnyx/video/lib/index.js'));
    const html = await readFile(path.join(E2E_DIR, 'fixture', 'telnyx-video.html'));
    pages = createHTTPSServer({ key: await readFile(cert.keyFile), cert: await readFile(certFile) }, (req, res) => {
      if (req.url === '/sdk.js') res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(sdk);
      else if (req.url === '/') res.writeHead(200, { 'Content-Type': 'text/html' }).end(html);
      else res.writeHead(404).end();
    });
    await new Promise((resolve) => pages.listen(0, far.serverIP, resolve));

    browser = await far.chromium(dir, ['--ignore-certificate-errors', `--host-resolver-rules=MAP video.telnyx.com ${far.serverIP}:${port}`]);
  });

  after(async () => {
    await browser?.close();
    if (server?.child && server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await waitExit(server.child, STOP_DEADLINE_MS).catch(() => {});
    }
    await new Promise((resolve) => (pages ? pages.close(resolve) : resolve()));
    await new Promise((resolve) => (hooks ? hooks.close(resolve) : resolve()));
    await far?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Opens the front end in a page of its own and joins the room. */
  async function sdkClient(t, room, context, toneHz, simulcast = false) {
    const token = (await api('POST', `/v2/rooms/${room.id}/actions/generate_join_client_token`, {})).data.token;
    const page = await (await browser.newContext()).newPage();
    t.after(() => page.context().close());
    const problems = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (m) => ['error', 'warning'].includes(m.type()) && problems.push(`console: ${m.text()}`));
    await page.goto(`https://${far.serverIP}:${pages.address().port}/`);
    const id = await page.evaluate(([r, tok, ctx, hz, sim]) => window.join(r, tok, ctx, hz, sim), [room.id, token, context, toneHz, simulcast]);
    return { page, id, problems, view: () => page.evaluate(() => window.view()), events: () => page.evaluate(() => window.client.events) };
  }

  it('two SDK clients and a bot see each other, chat, are muted and kicked, and leave', async (t) => {
    const room = (await api('POST', '/v2/rooms', { webhook_event_url: `http://127.0.0.1:${hooks.address().port}/hooks` })).data;
    const bot = startBot(t, bin, base, room.id, apiKey, certFile);

    let alice;
    let bob;
    const mixLevels = [];
    const explain = async (err) => {
      for (const [name, c] of [['alice', alice], ['bob', bob]]) {
        if (!c) continue;
        const v = await c.view().catch((e) => String(e));
        const ev = await c.events().catch((e) => String(e));
        err.message += `\n${name}: ${JSON.stringify(v)}\n events ${JSON.stringify(ev)}\n problems ${c.problems.join('; ')}`;
      }
      err.message += `\nbot: ${bot.log().slice(-2000)}\nserver: ${server.stderr.slice(-6000)}`;
      return err;
    };
    try {
      // Each plays a tone of its own: alice 1200 Hz, bob 2000 Hz, the bot
      // 440 Hz. bob sends his camera as simulcast.
      alice = await sdkClient(t, room, JSON.stringify({ username: 'alice' }), 1200);
      bob = await sdkClient(t, room, JSON.stringify({ username: 'bob' }), 2000, true);

      // REST sees three participants, with the SDK's context.
      let botID;
      await eventually('REST lists the SDK clients and the bot', async () => {
        const s = (await api('GET', `/v2/rooms/${room.id}?include_sessions=true`)).data.sessions?.[0];
        const live = (s?.participants || []).filter((p) => p.left_at === null);
        botID = live.find((p) => p.context === 'bot')?.id;
        return live.length === 3 && live.some((p) => p.context === '{"username":"alice"}') && live.some((p) => p.context === '{"username":"bob"}');
      }, JOIN_DEADLINE_MS, 250);

      // Each SDK client decodes the other's video and the bot's.
      for (const [me, other] of [[alice, bob], [bob, alice]]) {
        await eventually('an SDK client decodes both remote videos', async () => {
          const v = await me.view();
          const streams = Object.values(v.streams);
          const from = (pid) => streams.find((s) => s.participantId === pid);
          return v.participants[other.id]?.context && from(other.id)?.framesDecoded > 0 && from(botID)?.framesDecoded > 0 &&
            from(other.id)?.audioPackets > 0 && from(botID)?.audioPackets > 0;
        }, MEDIA_DEADLINE_MS, 250);
      }
      // bob's simulcast: alice gets his camera at full size (the top
      // layer, 640 wide) once her link's estimate allows.
      await eventually('alice gets bob\'s top simulcast layer', async () =>
        Object.values((await alice.view()).streams).some((s) => s.participantId === bob.id && s.width === 640), MEDIA_DEADLINE_MS, 250);

      // Each hears, in the room's mix, the other two and not itself.
      for (const [me, mine, others] of [[alice, 1200, [440, 2000]], [bob, 2000, [440, 1200]]]) {
        const floor = 5000; // no one plays near it
        let lv;
        await eventually('the mix holds the others\' tones, not its own', async () => {
          lv = await me.page.evaluate((f) => window.levels(f), [...others, mine, floor]);
          return lv && others.every((f) => lv[f] > lv[mine] + 20 && lv[f] > lv[floor] + 20);
        }, MEDIA_DEADLINE_MS, 0).catch((err) => {
          err.message += ` (levels in dB: ${JSON.stringify(lv)})`;
          throw err;
        });
        mixLevels.push(lv);
      }
      t.diagnostic(`mix levels in dB (alice, bob): ${JSON.stringify(mixLevels)}`);
      // The joined webhooks name the SDK clients with their context.
      for (const who of ['alice', 'bob']) {
        await eventually(`the webhook says ${who} joined`, async () => webhooks.some((w) => w.data?.event_type === 'video.room.participant.joined' &&
          w.data.payload?.context === JSON.stringify({ username: who })), JOIN_DEADLINE_MS, 100);
      }
      const av = await alice.view();
      assert.equal(av.participants[bob.id].context, '{"username":"bob"}');
      assert.equal(av.participants[botID].context, 'bot');

      // Chat: alice to everyone.
      await alice.page.evaluate(() => window.client.room.sendMessage({ type: 'text', payload: 'hello from alice' }));
      await eventually('bob gets alice\'s message', async () => {
        const msgs = await bob.page.evaluate(() => window.client.messages);
        return msgs.some((m) => m.from === alice.id && m.message.type === 'text' && m.message.payload === 'hello from alice');
      }, JOIN_DEADLINE_MS, 100);

      // alice turns her microphone off; bob sees it.
      await alice.page.evaluate(() => window.client.room.updateStream('self', { video: window.client.local.getVideoTracks()[0] }));
      await eventually('bob sees alice\'s audio turned off', async () =>
        (await bob.events()).some((e) => e[0] === 'track_disabled' && e[1] === alice.id && e[2] === 'self' && e[3] === 'audio'),
      JOIN_DEADLINE_MS, 100);

      // The room's owner mutes bob through REST, then unmutes him; alice
      // sees his audio censored, then not.
      const sessionID = (await api('GET', `/v2/rooms/${room.id}?include_sessions=true`)).data.sessions[0].id;
      await api('POST', `/v2/room_sessions/${sessionID}/actions/mute`, { participants: [await restID(bob)] });
      await eventually('alice sees bob\'s audio muted by the owner', async () =>
        (await alice.events()).some((e) => e[0] === 'track_censored' && e[1] === bob.id && e[3] === 'audio'), JOIN_DEADLINE_MS, 100);
      await api('POST', `/v2/room_sessions/${sessionID}/actions/unmute`, { participants: [await restID(bob)] });
      await eventually('alice sees bob\'s audio unmuted', async () =>
        (await alice.events()).some((e) => e[0] === 'track_uncensored' && e[1] === bob.id && e[3] === 'audio'), JOIN_DEADLINE_MS, 100);

      // Kick bob: both SDK clients hear it as a kick.
      await api('POST', `/v2/room_sessions/${sessionID}/actions/kick`, { participants: [await restID(bob)] });
      await eventually('bob is told he was kicked', async () =>
        (await bob.events()).some((e) => e[0] === 'participant_leaving' && e[1] === bob.id && e[2] === 'kicked'), JOIN_DEADLINE_MS, 100);
      await eventually('alice sees bob kicked and gone', async () => {
        const ev = await alice.events();
        return ev.some((e) => e[0] === 'participant_leaving' && e[1] === bob.id && e[2] === 'kicked') &&
          ev.some((e) => e[0] === 'participant_left' && e[1] === bob.id);
      }, JOIN_DEADLINE_MS, 100);

      // alice leaves.
      const aliceREST = await restID(alice);
      await alice.page.evaluate(() => window.client.room.disconnect());
      await eventually('alice is disconnected as she asked', async () =>
        (await alice.events()).some((e) => e[0] === 'disconnected' && e[1] === 'user_initiated'), JOIN_DEADLINE_MS, 100);
      await eventually('the webhook says alice left', async () =>
        webhooks.some((w) => w.data?.event_type === 'video.room.participant.left' && w.data.payload?.participant_id === aliceREST),
      JOIN_DEADLINE_MS, 100);
    } catch (err) {
      throw await explain(err);
    }

    // The bot received both SDK clients' video and audio.
    const r = await bot.stop();
    const received = Object.values(r.participants[0].received);
    assert.ok(received.filter((g) => g.video?.frames > 0 && g.audio?.packets > 0).length >= 2,
      `the bot received both SDK clients' video and audio: ${JSON.stringify(r)}`);
  });

  /** The REST id of an SDK client: the participant with its context. */
  async function restID(c) {
    const ctx = await c.page.evaluate(() => window.client.room.getState().participants.get(window.client.room.getState().localParticipantId).context);
    const all = await api('GET', `/v2/room_participants?filter[context]=${encodeURIComponent(ctx)}`);
    const live = all.data.filter((p) => p.left_at === null);
    assert.equal(live.length, 1, `one live participant with context ${ctx}: ${JSON.stringify(all)}`);
    return live[0].id;
  }
});
