// A dropped signaling connection in the page (headless Chromium, fake
// devices): one page reaches the server through a TCP proxy that the test
// cuts. The page resumes its participant (the same id) and keeps its
// media; while it is away, the other page shows its tile as reconnecting,
// not frozen. When the media path was lost too (its port blocked while
// the page was away), the page restarts ICE on resuming and the media
// comes back on a new path.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { launchChromium } from './chromium.js';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { STOP_DEADLINE_MS, TestServer, eventually, freeMediaPort, startServer, waitExit } from './server.js';

const execFileP = promisify(execFile);

const JOIN_DEADLINE_MS = 20_000;
const MEDIA_DEADLINE_MS = 45_000;

/** A TCP proxy to target that can cut its connections and refuse new ones. */
function tcpProxy(target) {
  const socks = new Set();
  const proxy = { blocked: false };
  const server = net.createServer((client) => {
    if (proxy.blocked) return client.destroy();
    const upstream = net.connect(target.port, target.hostname);
    for (const s of [client, upstream]) {
      socks.add(s);
      s.on('close', () => socks.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  proxy.listen = () => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
  proxy.cut = () => { for (const s of socks) s.destroy(); };
  proxy.close = () => { proxy.cut(); server.close(); };
  return proxy;
}

/** Opens a page of its own context at root and joins room as name. */
async function join(browser, client, t, root, room, name) {
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  const token = (await client.rooms.actions.generateJoinClientToken(room.id, {})).data.token;
  await page.goto(`${new URL('/', root).href}?${new URLSearchParams({ room: room.id, token, name })}`);
  await page.click('button[type=submit]');
  await page.waitForFunction(() => window.roomsd.state === 'joined', null, { timeout: JOIN_DEADLINE_MS });
  return { page, id: await page.evaluate(() => window.roomsd.participantId) };
}

/** The video frames a page has decoded from participant id. */
const frames = (page, id) => page.evaluate(async (id) => (await window.roomsd.stats()).byParticipant[id] || 0, id);

describe('a dropped connection in the page', () => {
  const ts = new TestServer({ env: { ROOMSD_RTC_LOOPBACK: 'on', ROOMSD_RTC_UDP_PORT: '0' } });
  let browser;
  let client;
  let proxy;
  let proxied;

  before(async () => {
    await ts.start();
    client = ts.sdk();
    browser = await launchChromium();
    proxy = tcpProxy(new URL(ts.rootURL));
    proxied = `http://127.0.0.1:${await proxy.listen()}/`;
  });

  after(async () => {
    proxy?.close();
    await browser?.close();
    await ts.close();
  });

  const joinPage = (t, root, room, name) => join(browser, client, t, root, room, name);

  it('resumes the same participant, keeps its media, and the other side saw it reconnecting', async (t) => {
    const room = (await client.rooms.create({ unique_name: 'reconnect' })).data;
    const far = await joinPage(t, proxied, room, 'far');
    const near = await joinPage(t, ts.rootURL, room, 'near');
    await eventually('near decodes far\'s video', async () => (await frames(near.page, far.id)) > 0, MEDIA_DEADLINE_MS, 250);

    proxy.blocked = true;
    proxy.cut();
    await far.page.waitForFunction(() => window.roomsd.state === 'reconnecting', null, { timeout: JOIN_DEADLINE_MS });
    assert.match(await far.page.locator('#status').textContent(), /reconnecting/);
    await eventually('near shows far as reconnecting', async () => near.page.evaluate((id) =>
      document.querySelector(`.tile[data-participant="${id}"]`)?.classList.contains('reconnecting'), far.id), JOIN_DEADLINE_MS, 100);
    proxy.blocked = false;

    await far.page.waitForFunction(() => window.roomsd.state === 'joined' && window.roomsd.resumes === 1, null, { timeout: JOIN_DEADLINE_MS });
    assert.equal(await far.page.evaluate(() => window.roomsd.participantId), far.id, 'the same participant');
    await eventually('near shows far as back', async () => near.page.evaluate((id) =>
      !document.querySelector(`.tile[data-participant="${id}"]`)?.classList.contains('reconnecting'), far.id), JOIN_DEADLINE_MS, 100);
    const before = await frames(near.page, far.id);
    await eventually('far\'s video keeps coming', async () => (await frames(near.page, far.id)) > before + 30, MEDIA_DEADLINE_MS, 250);
    const p = (await client.roomParticipants.retrieve(far.id)).data;
    assert.equal(p.left_at, null, 'far never left');
  });
});

describe('a dropped connection that took the media path with it', () => {
  let port;
  let ts;
  let browser;
  let client;
  let proxy;
  let proxied;

  before(async () => {
    // The server's media port is known, so that a firewall rule can cut
    // one page's media path.
    port = await freeMediaPort();
    // UDP only: the new path must come from the restart, not from a
    // fallback to TCP.
    ts = new TestServer({ env: { ROOMSD_RTC_LOOPBACK: 'on', ROOMSD_RTC_UDP_PORT: String(port), ROOMSD_RTC_TCP: 'off' } });
    await ts.start();
    client = ts.sdk();
    browser = await launchChromium();
    proxy = tcpProxy(new URL(ts.rootURL));
    proxied = `http://127.0.0.1:${await proxy.listen()}/`;
  });

  after(async () => {
    proxy?.close();
    await browser?.close();
    await ts?.close();
  });

  const joinPage = (t, root, room, name) => join(browser, client, t, root, room, name);

  /** The local ports of all the page's ICE candidates. */
  const candidatePorts = (page) => page.evaluate(async () => {
    const report = await window.roomsd.pc.getStats();
    return [...new Set([...report.values()].filter((s) => s.type === 'local-candidate').map((s) => s.port))];
  });
  /** The local port of the page's selected media path. */
  const mediaPort = (page) => page.evaluate(async () => {
    const report = await window.roomsd.pc.getStats();
    for (const s of report.values()) {
      if (s.type !== 'transport' || !s.selectedCandidatePairId) continue;
      const pair = report.get(s.selectedCandidatePairId);
      return pair ? report.get(pair.localCandidateId).port : 0;
    }
    return 0;
  });

  it('restarts ICE on resuming, and the media comes back on a new path', async (t) => {
    const room = (await client.rooms.create({ unique_name: 'ice-restart' })).data;
    const far = await joinPage(t, proxied, room, 'far');
    const near = await joinPage(t, ts.rootURL, room, 'near');
    await eventually('near decodes far\'s video', async () => (await frames(near.page, far.id)) > 0, MEDIA_DEADLINE_MS, 250);

    // The local port of far's media path.
    const farPort = await mediaPort(far.page);
    assert.ok(farPort > 0, `far's media port: ${farPort}`);
    // Far loses its signaling and its media path at once (as when a
    // laptop moves to another network): nothing passes between its ICE
    // candidates' ports and the server any more, either way.
    const ports = await candidatePorts(far.page);
    assert.ok(ports.includes(farPort), `far's candidates: ${ports}`);
    const rules = ports.flatMap((p) => [
      ['INPUT', '-p', 'udp', '--sport', String(p), '--dport', String(port), '-j', 'DROP'],
      ['INPUT', '-p', 'udp', '--sport', String(port), '--dport', String(p), '-j', 'DROP'],
    ]);
    for (const rule of rules) {
      try {
        await execFileP('iptables', ['-w', '-I', ...rule]);
      } catch (err) {
        throw new Error(`this test changes the firewall with iptables, which needs root and Debian's iptables package: ${err.message}`);
      }
      t.after(() => execFileP('iptables', ['-w', '-D', ...rule]));
    }
    proxy.blocked = true;
    proxy.cut();
    await far.page.waitForFunction(() => window.roomsd.state === 'reconnecting', null, { timeout: JOIN_DEADLINE_MS });
    proxy.blocked = false;

    // Far resumes, finds its media path gone and restarts ICE: the media
    // flows again on a new port while the old one stays blocked.
    await far.page.waitForFunction(() => window.roomsd.state === 'joined' && window.roomsd.resumes === 1, null, { timeout: JOIN_DEADLINE_MS });
    assert.equal(await far.page.evaluate(() => window.roomsd.participantId), far.id, 'the same participant');
    try {
      await far.page.waitForFunction(() => window.roomsd.iceRestarts >= 1 && ['connected', 'completed'].includes(window.roomsd.pc.iceConnectionState),
        null, { timeout: MEDIA_DEADLINE_MS });
    } catch (err) {
      err.message += `\nfar: ${await far.page.evaluate(() => JSON.stringify({ state: window.roomsd.state, ice: window.roomsd.pc?.iceConnectionState,
        restarts: window.roomsd.iceRestarts, status: document.querySelector('#status').textContent }))}\nserver log:\n${ts.server.stderr.slice(-3000)}`;
      throw err;
    }
    // The browser's report of the selected path catches up with the new
    // one a moment after ICE says it is connected.
    let now;
    await eventually('the media moved to a new path', async () => {
      now = await mediaPort(far.page);
      return now > 0 && !ports.includes(now);
    }, MEDIA_DEADLINE_MS, 100).catch((err) => {
      err.message += `: port ${now}, blocked ${ports}`;
      throw err;
    });
    const before = await frames(near.page, far.id);
    await eventually('far\'s video reaches near again', async () => (await frames(near.page, far.id)) > before + 30, MEDIA_DEADLINE_MS, 250);
    assert.equal((await client.roomParticipants.retrieve(far.id)).data.left_at, null, 'far never left');
  });
});

describe('a server that restarts', () => {
  const ts = new TestServer({ env: { ROOMSD_RTC_LOOPBACK: 'on', ROOMSD_RTC_UDP_PORT: '0' } });
  let browser;
  let client;
  let again;

  before(async () => {
    await ts.start();
    client = ts.sdk();
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (again && again.child.exitCode === null) {
      again.child.kill('SIGKILL');
      await waitExit(again.child, STOP_DEADLINE_MS).catch(() => {});
    }
    await ts.close();
  });

  it('tells the page why, and the page joins again once the server is back', async (t) => {
    const room = (await client.rooms.create({ unique_name: 'restart' })).data;
    const context = await browser.newContext();
    t.after(() => context.close());
    const page = await context.newPage();
    const token = (await client.rooms.actions.generateJoinClientToken(room.id, {})).data.token;
    await page.goto(`${ts.rootURL}?${new URLSearchParams({ room: room.id, token, name: 'stays' })}`);
    await page.click('#join button[type=submit]');
    await page.waitForFunction(() => window.roomsd.state === 'joined', null, { timeout: JOIN_DEADLINE_MS });
    const first = await page.evaluate(() => window.roomsd.participantId);
    const { code } = await ts.terminate();
    assert.equal(code, 0);
    await eventually('the page says the server is restarting', async () =>
      /The server is restarting; joining again when it is back/.test(await page.locator('#status').textContent()), JOIN_DEADLINE_MS, 100);
    // The same server again, on the same address and database.
    again = await startServer(ts.bin, { dbPath: ts.dbPath, apiKey: ts.apiKey, cwd: ts.dir,
      env: { ROOMSD_RTC_LOOPBACK: 'on', ROOMSD_ADDR: new URL(ts.rootURL).host, ROOMSD_DATA_DIR: path.join(ts.dir, 'roomsd-data') } });
    await page.waitForFunction(() => window.roomsd.state === 'joined' && window.roomsd.rejoins === 1, null, { timeout: MEDIA_DEADLINE_MS });
    assert.notEqual(await page.evaluate(() => window.roomsd.participantId), first, 'a new participant in the room\'s next session');
  });
});
