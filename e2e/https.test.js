// A browser on another host opens the meeting page over HTTPS and meets a
// roomsd bot. The server listens (HTTPS with a test certificate, media on
// every address) on one end of a veth pair; headless Chromium runs in a
// network namespace of its own on the other end, so the page reaches the
// server at an address that is not this machine's loopback: a secure
// context only because of HTTPS, which gives it the (fake) camera and
// microphone. Needs root (ip netns), as the CI machine has.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CHROMIUM, launchChromium } from './chromium.js';
import { STOP_DEADLINE_MS, cleanEnv, eventually, goBuild, startServer, waitExit } from './server.js';

const execFileP = promisify(execFile);
const JOIN_DEADLINE_MS = 30_000;
const MEDIA_DEADLINE_MS = 60_000;

describe('the meeting page over HTTPS from another host', () => {
  const tag = randomBytes(2).toString('hex');
  const ns = `rdh${tag}`;
  const subnet = 200 + (parseInt(tag, 16) % 50);
  const serverIP = `10.${subnet}.77.1`;
  const hostIP = `10.${subnet}.77.2`;
  const apiKey = `e2e_${randomBytes(16).toString('hex')}`;
  let dir;
  let server;
  let base;
  let browser;
  let bin;
  let certFile;

  const ip = (...args) => execFileP('ip', args);

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'roomsd-https-'));
    try {
      await ip('netns', 'add', ns);
    } catch (err) {
      throw new Error(`this test puts Chromium in a network namespace, which needs root and Debian's iproute2: ${err.message}`);
    }
    await ip('link', 'add', `rdh${tag}a`, 'type', 'veth', 'peer', 'name', `rdh${tag}b`);
    await ip('link', 'set', `rdh${tag}b`, 'netns', ns);
    await ip('addr', 'add', `${serverIP}/24`, 'dev', `rdh${tag}a`);
    await ip('link', 'set', `rdh${tag}a`, 'up');
    await ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${hostIP}/24`, 'dev', `rdh${tag}b`);
    await ip('netns', 'exec', ns, 'ip', 'link', 'set', `rdh${tag}b`, 'up');
    await ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');

    // A certificate for the server's address.
    certFile = path.join(dir, 'cert.pem');
    const keyFile = path.join(dir, 'key.pem');
    await execFileP('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-keyout', keyFile, '-out', certFile, '-subj', '/CN=roomsd test', '-addext', `subjectAltName=IP:${serverIP}`]);

    bin = process.env.ROOMSD_BIN || (await goBuild('./cmd/roomsd', path.join(dir, 'roomsd')));
    server = await startServer(bin, {
      dbPath: path.join(dir, 'roomsd.db'),
      apiKey,
      cwd: dir,
      env: { ROOMSD_ADDR: `${serverIP}:0`, ROOMSD_TLS_CERT: certFile, ROOMSD_TLS_KEY: keyFile, ROOMSD_RTC_LOOPBACK: 'off',
        ROOMSD_DATA_DIR: path.join(dir, 'data') },
    });
    base = new URL('/', server.baseURL).href;
    assert.match(base, /^https:\/\//);

    // Chromium, started in the namespace.
    const wrapper = path.join(dir, 'chromium-in-netns');
    await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`);
    await chmod(wrapper, 0o755);
    browser = await launchChromium(['--ignore-certificate-errors'], { executablePath: wrapper });
  });

  after(async () => {
    await browser?.close();
    if (server?.child && server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await waitExit(server.child, STOP_DEADLINE_MS).catch(() => {});
    }
    await ip('netns', 'del', ns).catch(() => {});
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Calls the API over HTTPS, trusting the test certificate. */
  async function api(method, p, body) {
    const { stdout } = await execFileP('curl', ['-sS', '--cacert', certFile, '-X', method, '-H', `Authorization: Bearer ${apiKey}`,
      '-H', 'Content-Type: application/json', ...(body ? ['-d', JSON.stringify(body)] : []), new URL(p, base).href]);
    return JSON.parse(stdout);
  }

  it('joins with camera and microphone, and exchanges media with a bot', async (t) => {
    const room = (await api('POST', '/v2/rooms', {})).data;
    // The bot joins from this host, trusting the test certificate.
    const bot = spawn(bin, ['bot', '--server', base, '--room', room.id, '--context', 'bot', '--duration', '10m', '--progress', '0'],
      { env: cleanEnv({ ROOMSD_API_KEY: apiKey, SSL_CERT_FILE: certFile }), stdio: ['ignore', 'pipe', 'pipe'] });
    let report = '';
    let botErr = '';
    bot.stdout.setEncoding('utf8').on('data', (d) => (report += d));
    bot.stderr.setEncoding('utf8').on('data', (d) => (botErr += d));
    t.after(async () => {
      if (bot.exitCode === null) {
        bot.kill('SIGKILL');
        await waitExit(bot, STOP_DEADLINE_MS).catch(() => {});
      }
    });

    const token = (await api('POST', `/v2/rooms/${room.id}/actions/generate_join_client_token`, {})).data.token;
    const page = await (await browser.newContext()).newPage();
    t.after(() => page.context().close());
    const problems = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    await page.goto(`${base}?${new URLSearchParams({ room: room.id, token, name: 'far away' })}`);
    assert.equal(await page.evaluate(() => window.isSecureContext), true);
    assert.equal(new URL(page.url()).hostname, serverIP);
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
        ` status "${await page.locator('#status').textContent()}"\nbot: ${botErr}\nserver: ${server.stderr.slice(-3000)}`;
      throw err;
    }
    const pageID = await page.evaluate(() => window.roomsd.participantId);
    // The bot received the page's camera.
    await eventually('the bot has had the page\'s video', async () => {
      const sessions = await api('GET', `/v2/rooms/${room.id}?include_sessions=true`);
      return sessions.data.sessions[0].participants.some((p) => p.id === pageID && p.left_at === null);
    }, JOIN_DEADLINE_MS, 250);
    bot.kill('SIGINT');
    await waitExit(bot, STOP_DEADLINE_MS);
    const r = JSON.parse(report);
    const got = r.participants[0].received[pageID];
    assert.ok(got?.video?.frames > 0 && got?.audio?.packets > 0, `the bot received from the page: ${JSON.stringify(got)}`);
  });
});
