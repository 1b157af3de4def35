// A browser on another host opens the meeting page over HTTPS and meets a
// roomsd bot. The server listens (HTTPS with a test certificate, media on
// every address) on one end of a veth pair; headless Chromium runs in a
// network namespace of its own on the other end, so the page reaches the
// server at an address that is not this machine's loopback: a secure
// context only because of HTTPS, which gives it the (fake) camera and
// microphone. Needs root (ip netns), as the CI machine has.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FarHost, httpsAPI, startBot } from './farhost.js';
import { STOP_DEADLINE_MS, eventually, goBuild, startServer, waitExit } from './server.js';

const JOIN_DEADLINE_MS = 30_000;
const MEDIA_DEADLINE_MS = 60_000;

describe('the meeting page over HTTPS from another host', () => {
  const apiKey = `e2e_${randomBytes(16).toString('hex')}`;
  let dir;
  let far;
  let server;
  let base;
  let browser;
  let bin;
  let certFile;
  let api;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'roomsd-https-'));
    far = await FarHost.create('rdh', 77);
    // A certificate for the server's address.
    const cert = await far.certificate(dir);
    certFile = cert.certFile;

    bin = process.env.ROOMSD_BIN || (await goBuild('./cmd/roomsd', path.join(dir, 'roomsd')));
    server = await startServer(bin, {
      dbPath: path.join(dir, 'roomsd.db'),
      apiKey,
      cwd: dir,
      env: { ROOMSD_ADDR: `${far.serverIP}:0`, ROOMSD_TLS_CERT: certFile, ROOMSD_TLS_KEY: cert.keyFile, ROOMSD_RTC_LOOPBACK: 'off',
        ROOMSD_DATA_DIR: path.join(dir, 'data') },
    });
    base = new URL('/', server.baseURL).href;
    assert.match(base, /^https:\/\//);
    api = httpsAPI(base, apiKey, certFile);
    browser = await far.chromium(dir, ['--ignore-certificate-errors']);
  });

  after(async () => {
    await browser?.close();
    if (server?.child && server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await waitExit(server.child, STOP_DEADLINE_MS).catch(() => {});
    }
    await far?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('joins with camera and microphone, and exchanges media with a bot', async (t) => {
    const room = (await api('POST', '/v2/rooms', {})).data;
    // The bot joins from this host, trusting the test certificate.
    const bot = startBot(t, bin, base, room.id, apiKey, certFile);

    const token = (await api('POST', `/v2/rooms/${room.id}/actions/generate_join_client_token`, {})).data.token;
    const page = await (await browser.newContext()).newPage();
    t.after(() => page.context().close());
    const problems = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    await page.goto(`${base}?${new URLSearchParams({ room: room.id, token, name: 'far away' })}`);
    assert.equal(await page.evaluate(() => window.isSecureContext), true);
    assert.equal(new URL(page.url()).hostname, far.serverIP);
    await page.click('button[type=submit]');
    try {
      await page.waitForFunction(() => window.roomsd?.state === 'joined', null, { timeout: JOIN_DEADLINE_MS });
      assert.equal(await page.evaluate(() => window.roomsd.deviceProblem || ''), '', 'the page got its camera and microphone');
      await eventually('the page decodes the bot\'s video and hears it', async () => {
        const s = await page.evaluate(() => window.roomsd.stats());
        return Object.values(s.byParticipant).some((n) => n > 10) && Object.values(s.audioPackets).some((n) => n > 10);
      }, MEDIA_DEADLINE_MS, 250);
    } catch (err) {
      err.message += `\npage: ${await page.evaluate(() => JSON.stringify({ state: window.roomsd?.state, connection: window.roomsd?.connection }))}` +
        ` ${problems.join('; ')}` +
        ` status "${await page.locator('#status').textContent()}"\nbot: ${bot.log()}\nserver: ${server.stderr.slice(-3000)}`;
      throw err;
    }
    const pageID = await page.evaluate(() => window.roomsd.participantId);
    // The bot received the page's camera.
    await eventually('the bot has had the page\'s video', async () => {
      const sessions = await api('GET', `/v2/rooms/${room.id}?include_sessions=true`);
      return sessions.data.sessions[0].participants.some((p) => p.id === pageID && p.left_at === null);
    }, JOIN_DEADLINE_MS, 250);
    const r = await bot.stop();
    const got = r.participants[0].received[pageID];
    assert.ok(got?.video?.frames > 0 && got?.audio?.packets > 0, `the bot received from the page: ${JSON.stringify(got)}`);
  });
});
