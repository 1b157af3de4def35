// A dropped signaling connection in the page (headless Chromium, fake
// devices): one page reaches the server through a TCP proxy that the test
// cuts. The page resumes its participant (the same id) and keeps its
// media; while it is away, the other page shows its tile as reconnecting,
// not frozen.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { launchChromium } from './chromium.js';
import { STOP_DEADLINE_MS, TestServer, eventually, startServer, waitExit } from './server.js';

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

  async function joinPage(t, root, room, name) {
    const context = await browser.newContext();
    t.after(() => context.close());
    const page = await context.newPage();
    const token = (await client.rooms.actions.generateJoinClientToken(room.id, {})).data.token;
    const link = new URL('/', root);
    link.search = new URLSearchParams({ room: room.id, token, name }).toString();
    await page.goto(link.href);
    await page.click('button[type=submit]');
    await page.waitForFunction(() => window.roomsd.state === 'joined', null, { timeout: JOIN_DEADLINE_MS });
    return { page, id: await page.evaluate(() => window.roomsd.participantId) };
  }
  const frames = (page, id) => page.evaluate(async (id) => (await window.roomsd.stats()).byParticipant[id] || 0, id);

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
