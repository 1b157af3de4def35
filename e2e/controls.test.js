// The meeting page's controls in headless Chromium (fake camera and
// microphone): microphone and camera switches seen by the others, with
// the bytes stopping; a screen share shown large to the others; the chat;
// and the layout at a laptop's and a phone's size, with screenshots kept
// in e2e/artifacts/ and nothing overlapping or cut off.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { launchChromium } from './chromium.js';
import { E2E_DIR, TestServer, eventually } from './server.js';

const JOIN_DEADLINE_MS = 20_000;
const MEDIA_DEADLINE_MS = 45_000;
const ARTIFACTS = path.join(E2E_DIR, 'artifacts');

describe('meeting page controls', () => {
  const ts = new TestServer({ env: { ROOMSD_RTC_LOOPBACK: 'on', ROOMSD_RTC_UDP_PORT: '0' } });
  let browser;
  let client;

  before(async () => {
    await ts.start();
    client = ts.sdk();
    browser = await launchChromium();
    await mkdir(ARTIFACTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await ts.close();
  });

  async function joinPage(t, room, name, { viewport, screen = false } = {}) {
    const context = await browser.newContext(viewport ? { viewport } : {});
    t.after(() => context.close());
    if (screen) {
      // A screen to share: an animated canvas stands in for the picker.
      await context.addInitScript(() => {
        navigator.mediaDevices.getDisplayMedia = async () => {
          const c = Object.assign(document.createElement('canvas'), { width: 1280, height: 720 });
          const g = c.getContext('2d');
          let n = 0;
          setInterval(() => { g.fillStyle = `hsl(${(n += 7) % 360} 70% 50%)`; g.fillRect(0, 0, 1280, 720); }, 66);
          return c.captureStream(15);
        };
      });
    }
    const page = await context.newPage();
    const token = (await client.rooms.actions.generateJoinClientToken(room.id, {})).data.token;
    const link = new URL('/', ts.rootURL);
    link.search = new URLSearchParams({ room: room.id, token, name }).toString();
    await page.goto(link.href);
    await page.click('#join button[type=submit]');
    await page.waitForFunction(() => window.roomsd.state === 'joined', null, { timeout: JOIN_DEADLINE_MS });
    return { page, id: await page.evaluate(() => window.roomsd.participantId) };
  }
  const stats = (page) => page.evaluate(() => window.roomsd.stats());
  const tileHas = (page, id, cls) => page.evaluate(([id, cls]) =>
    Boolean(document.querySelector(`.tile[data-participant="${id}"]`)?.classList.contains(cls)), [id, cls]);
  /** Waits until page has decoded n more frames of id's camera: time has passed, with media flowing. */
  async function framesPass(page, id, n) {
    const from = (await stats(page)).byParticipant[id] || 0;
    await eventually(`${n} more frames`, async () => ((await stats(page)).byParticipant[id] || 0) > from + n, MEDIA_DEADLINE_MS, 100);
  }

  it('microphone and camera switches: the others see them, and nothing is sent while off', async (t) => {
    const room = (await client.rooms.create({ unique_name: 'controls-switches' })).data;
    const alice = await joinPage(t, room, 'alice');
    const bob = await joinPage(t, room, 'bob');
    await eventually('bob decodes alice', async () => ((await stats(bob.page)).byParticipant[alice.id] || 0) > 0, MEDIA_DEADLINE_MS, 250);

    await alice.page.click('#mic');
    assert.equal(await alice.page.getAttribute('#mic', 'aria-pressed'), 'true');
    assert.equal(await alice.page.textContent('#mic'), 'Unmute microphone');
    await eventually('bob sees alice muted', () => tileHas(bob.page, alice.id, 'mic-off'), JOIN_DEADLINE_MS, 100);
    await framesPass(bob.page, alice.id, 20); // what was on its way has gone
    const audio = (await stats(alice.page)).audioBytesSent;
    await framesPass(bob.page, alice.id, 30);
    assert.equal((await stats(alice.page)).audioBytesSent, audio, 'audio bytes sent while the microphone is off');
    await alice.page.click('#mic');
    await eventually('bob sees alice unmuted', async () => !(await tileHas(bob.page, alice.id, 'mic-off')), JOIN_DEADLINE_MS, 100);

    await alice.page.click('#cam');
    await eventually('bob sees alice\'s camera off', () => tileHas(bob.page, alice.id, 'cam-off'), JOIN_DEADLINE_MS, 100);
    const audioPackets = async () => (await stats(bob.page)).audioPackets[alice.id] || 0;
    const packetsPass = async (n) => { const from = await audioPackets(); await eventually(`${n} audio packets`, async () => (await audioPackets()) > from + n, MEDIA_DEADLINE_MS, 100); };
    await packetsPass(25);
    const video = (await stats(alice.page)).videoBytesSent;
    await packetsPass(50);
    assert.equal((await stats(alice.page)).videoBytesSent, video, 'video bytes sent while the camera is off');
    await alice.page.click('#cam');
    await eventually('bob sees alice\'s camera on', async () => !(await tileHas(bob.page, alice.id, 'cam-off')), JOIN_DEADLINE_MS, 100);
    await framesPass(bob.page, alice.id, 10);
  });

  it('a shared screen is shown large to the others, and goes when sharing stops', async (t) => {
    const room = (await client.rooms.create({ unique_name: 'controls-screen' })).data;
    const alice = await joinPage(t, room, 'alice', { screen: true });
    const bob = await joinPage(t, room, 'bob');
    await alice.page.click('#share');
    assert.equal(await alice.page.getAttribute('#share', 'aria-pressed'), 'true');
    await eventually('bob decodes alice\'s screen, shown large', async () =>
      ((await stats(bob.page)).screenFrames[alice.id] || 0) > 10 &&
      bob.page.evaluate((id) => document.querySelector(`#stage .tile.screen[data-participant="${id}#screen"]`) !== null, alice.id),
    MEDIA_DEADLINE_MS, 250);
    await alice.page.click('#share');
    await eventually('the screen is gone from bob\'s page', async () =>
      bob.page.evaluate(() => document.querySelector('.tile.screen') === null && document.getElementById('stage').hidden), JOIN_DEADLINE_MS, 100);
  });

  it('chat reaches everyone in the room', async (t) => {
    const room = (await client.rooms.create({ unique_name: 'controls-chat' })).data;
    const alice = await joinPage(t, room, 'alice');
    const bob = await joinPage(t, room, 'bob');
    await alice.page.click('#chat-toggle');
    await alice.page.fill('#chat-form input', 'hello from alice');
    await alice.page.press('#chat-form input', 'Enter');
    await eventually('bob hears alice', async () => (await bob.page.evaluate(() => window.roomsd.chat))
      .some((m) => m.from === 'alice' && m.text === 'hello from alice'), JOIN_DEADLINE_MS, 100);
    assert.ok(await bob.page.evaluate(() => document.getElementById('chat-toggle').classList.contains('unread')));
    assert.deepEqual((await alice.page.evaluate(() => window.roomsd.chat)).map((m) => [m.from, m.text]), [['You', 'hello from alice']]);
  });

  for (const viewport of [{ width: 1280, height: 720 }, { width: 390, height: 844 }]) {
    it(`lays three people out at ${viewport.width}×${viewport.height}: nothing overlaps or is cut off`, async (t) => {
      const room = (await client.rooms.create({ unique_name: `controls-layout-${viewport.width}` })).data;
      const me = await joinPage(t, room, 'me', { viewport });
      await joinPage(t, room, 'second');
      await joinPage(t, room, 'third');
      await eventually('two remote tiles decoding', async () => Object.values((await stats(me.page)).byParticipant).filter((n) => n > 0).length === 2,
        MEDIA_DEADLINE_MS, 250);
      await me.page.screenshot({ path: path.join(ARTIFACTS, `layout-${viewport.width}x${viewport.height}.png`) });
      const boxes = await me.page.evaluate(() => {
        const box = (el) => { const r = el.getBoundingClientRect(); return { id: el.id || el.dataset.participant || el.textContent, x: r.x, y: r.y, w: r.width, h: r.height }; };
        const phone = matchMedia('(max-width: 600px)').matches;
        return {
          tiles: [...document.querySelectorAll('#grid .tile')].filter((el) => !el.hidden && !(phone && el.id === 'self')).map(box),
          self: box(document.getElementById('self')),
          buttons: [...document.querySelectorAll('#controls button')].map(box),
          controls: box(document.getElementById('controls')),
          header: box(document.querySelector('header')),
        };
      });
      const inside = (b) => b.x >= 0 && b.y >= 0 && b.x + b.w <= viewport.width + 0.5 && b.y + b.h <= viewport.height + 0.5 && b.w > 0 && b.h > 0;
      const overlap = (a, b) => a.x < b.x + b.w - 0.5 && b.x < a.x + a.w - 0.5 && a.y < b.y + b.h - 0.5 && b.y < a.y + a.h - 0.5;
      const all = [...boxes.tiles, boxes.self, ...boxes.buttons, boxes.header];
      for (const b of all) assert.ok(inside(b), `${b.id} is cut off: ${JSON.stringify(b)}`);
      const pairs = (xs) => xs.flatMap((a, i) => xs.slice(i + 1).map((b) => [a, b]));
      for (const [a, b] of pairs([...boxes.tiles, ...boxes.buttons])) assert.ok(!overlap(a, b), `${a.id} overlaps ${b.id}`);
      for (const tile of boxes.tiles) {
        assert.ok(!overlap(tile, boxes.controls) && !overlap(tile, boxes.header), `${tile.id} overlaps the header or the controls`);
      }
      assert.ok(!overlap(boxes.self, boxes.controls) && !overlap(boxes.self, boxes.header), 'the self view overlaps the header or the controls');
      assert.ok(boxes.tiles.length === (viewport.width > 600 ? 3 : 2), `tiles shown: ${boxes.tiles.length}`);
      // Tiles keep the video's 16:9 and use the space: together at least
      // a third of the room's area.
      for (const b of boxes.tiles) assert.ok(Math.abs(b.w / b.h - 16 / 9) < 0.05, `${b.id} is ${b.w}×${b.h}`);
      const used = boxes.tiles.reduce((s, b) => s + b.w * b.h, 0);
      const room_ = viewport.width * (boxes.controls.y - boxes.header.h);
      assert.ok(used > room_ / 3, `tiles fill ${Math.round((100 * used) / room_)} % of the room`);
    });
  }
});

describe('the pre-join screen', () => {
  const ts = new TestServer({ env: { ROOMSD_RTC_LOOPBACK: 'on', ROOMSD_RTC_UDP_PORT: '0' } });
  let browser;
  let client;

  before(async () => {
    await ts.start();
    client = ts.sdk();
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await ts.close();
  });

  it('previews the camera, lists the devices, remembers the choice, and joins with it', async (t) => {
    const room = (await client.rooms.create({ unique_name: 'prejoin' })).data;
    const context = await browser.newContext();
    t.after(() => context.close());
    const page = await context.newPage();
    const token = (await client.rooms.actions.generateJoinClientToken(room.id, {})).data.token;
    const url = `${ts.rootURL}?${new URLSearchParams({ room: room.id, token, name: 'ann' })}`;
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('preview').srcObject?.getVideoTracks().length === 1, null, { timeout: JOIN_DEADLINE_MS });
    const options = await page.evaluate(() => ({
      mic: [...document.querySelectorAll('#mic-select option')].map((o) => o.value),
      cam: [...document.querySelectorAll('#cam-select option')].map((o) => o.value),
    }));
    assert.ok(options.mic.length >= 1 && options.cam.length >= 1, `devices listed: ${JSON.stringify(options)}`);
    const choice = options.mic[options.mic.length - 1];
    await page.selectOption('#mic-select', choice);
    await page.reload();
    await page.waitForFunction(() => document.getElementById('preview').srcObject?.getAudioTracks().length === 1, null, { timeout: JOIN_DEADLINE_MS });
    assert.equal(await page.inputValue('#mic-select'), choice, 'the microphone chosen is remembered');
    await page.click('#join button[type=submit]');
    await page.waitForFunction(() => window.roomsd.state === 'joined', null, { timeout: JOIN_DEADLINE_MS });
    const used = await page.evaluate(() => window.roomsd.pc.getSenders().find((s) => s.track?.kind === 'audio')?.track.getSettings().deviceId);
    assert.equal(used, choice, 'the meeting uses the chosen microphone');
  });
});
