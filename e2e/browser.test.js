// The meeting page in a real browser: headless Chromium from the system
// (Debian's chromium package; never a downloaded build) with a fake camera
// and microphone, driven through playwright-core. Two pages join one room
// with their own client tokens, each decodes the other's video and receives
// its audio, the REST API shows both present, and the page reacts to mute,
// leave and the end of the session; each refusal (a bad invitation, a
// full or deleted meeting, a blocked camera, a network that blocks the
// media) is said in plain words.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium } from './chromium.js';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { STOP_DEADLINE_MS, TestServer, cleanEnv, eventually, freeMediaPort, waitExit } from './server.js';

const JOIN_DEADLINE_MS = 20_000;
const MEDIA_DEADLINE_MS = 45_000;
const EVENT_DEADLINE_MS = 15_000;
const execFileP = promisify(execFile);

describe('meeting page in headless Chromium', () => {
  const ts = new TestServer({ env: { ROOMSD_RTC_LOOPBACK: 'on', ROOMSD_RTC_UDP_PORT: '0' } });
  let browser;
  let client;
  /** Page errors and console errors, shown when a test fails. */
  const logs = [];

  before(async () => {
    await ts.start();
    client = ts.sdk();
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await ts.close();
  });

  /**
   * A page of its own browser context, with its problems logged. With
   * watchOnly it has no camera or microphone; viewport sets its window.
   */
  async function openPage(name, { watchOnly = false, denied = false, viewport } = {}) {
    const context = await browser.newContext(viewport ? { viewport } : {});
    if (watchOnly) {
      await context.addInitScript(() => {
        navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('no camera here', 'NotFoundError'));
      });
    }
    if (denied) {
      // The person said no to the browser's camera prompt.
      await context.addInitScript(() => {
        navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
      });
    }
    const page = await context.newPage();
    page.on('pageerror', (err) => logs.push(`${name}: page error: ${err.message}`));
    page.on('console', (m) => m.type() === 'error' && logs.push(`${name}: console: ${m.text()}`));
    return page;
  }

  const state = (page) => page.evaluate(() => window.roomsd.state);
  const status = (page) => page.locator('#status').textContent();
  const diag = async (pages) => {
    const out = [];
    for (const [name, page] of Object.entries(pages)) {
      out.push(`${name}: ${JSON.stringify(await page.evaluate(async () => ({ state: window.roomsd.state, connection: window.roomsd.connection, stats: await window.roomsd.stats() })))} status "${await status(page)}"`);
    }
    return [...out, ...logs].join('\n');
  };

  it('serves the page without an API key', async () => {
    const res = await fetch(ts.rootURL);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(res.headers.get('content-security-policy'), /default-src 'self'/);
    assert.match(await res.text(), /<form id="join"/);
  });

  it('tells a person why joining failed', async (t) => {
    const room = (await client.rooms.create({})).data;
    const page = await openPage('carol');
    t.after(() => page.context().close());
    // A link with the values after # (the first case), then typed in.
    await page.goto(`${ts.rootURL}#${new URLSearchParams({ room: room.id, token: 'not-a-token' })}`);
    for (const [fields, want] of [
      [{}, /^This invitation is not valid \(it may have been cut short when copied\): ask for a new link\.$/],
      [{ room: 'no-such-room', token: 'x' }, /^Could not reach the meeting: check the room id in the link/],
    ]) {
      for (const [name, value] of Object.entries(fields)) await page.fill(`input[name=${name}]`, value);
      await page.click('button[type=submit]');
      await page.waitForFunction(() => window.roomsd.state === 'error', null, { timeout: JOIN_DEADLINE_MS });
      assert.match(await status(page), want);
      assert.equal(await page.locator('#join').isVisible(), true);
    }
  });

  it('says plainly that the meeting is full', async (t) => {
    const room = (await client.rooms.create({ max_participants: 2 })).data;
    // Two participants fill the room: roomsd bot, watching only.
    const bot = spawn(ts.bin, ['bot', '--server', ts.baseURL, '--room', room.id, '--publish', 'none', '--count', '2', '--duration', '10m',
      '--progress', '0'], { env: cleanEnv({ ROOMSD_API_KEY: ts.apiKey }), stdio: ['ignore', 'ignore', 'ignore'] });
    t.after(async () => {
      bot.kill('SIGTERM');
      await waitExit(bot, STOP_DEADLINE_MS);
    });
    await eventually('the bots are in', async () => {
      const r = (await client.rooms.retrieve(room.id)).data;
      if (!r.active_session_id) return false;
      const s = (await client.rooms.sessions.retrieve(r.active_session_id, { include_participants: true })).data;
      return s.participants.filter((p) => !p.left_at).length === 2;
    }, JOIN_DEADLINE_MS, 250);
    const page = await openPage('frank', { watchOnly: true });
    t.after(() => page.context().close());
    const token = (await client.rooms.actions.generateJoinClientToken(room.id, {})).data.token;
    await page.goto(`${ts.rootURL}?${new URLSearchParams({ room: room.id, token })}`);
    await page.click('button[type=submit]');
    await page.waitForFunction(() => window.roomsd.state === 'error', null, { timeout: JOIN_DEADLINE_MS });
    assert.match(await status(page), /^The meeting is full: it has as many participants as it allows\. Try again when someone leaves/);
  });

  it('says what to do when the camera is blocked, and joins to watch and listen', async (t) => {
    const room = (await client.rooms.create({})).data;
    const page = await openPage('erin', { denied: true });
    t.after(() => page.context().close());
    await joinPage(page, room, 'erin');
    await eventually('the page says the camera and microphone are blocked', async () =>
      /Your camera and microphone are blocked: allow them in the browser \(the camera icon in the address bar\) and join again/.test(await status(page)),
    JOIN_DEADLINE_MS, 100);
    const said = await page.evaluate(() => window.roomsd.deviceProblem);
    assert.equal(said, 'denied');
  });

  it('says plainly that the meeting was deleted, before joining and during it', async (t) => {
    const room = (await client.rooms.create({})).data;
    const page = await openPage('gina', { watchOnly: true });
    t.after(() => page.context().close());
    await joinPage(page, room, 'gina');
    await client.rooms.delete(room.id);
    await page.waitForFunction(() => window.roomsd.state === 'disconnected', null, { timeout: EVENT_DEADLINE_MS });
    assert.equal(await status(page), 'The meeting was deleted: it is over.');
    // A token minted before the room was deleted.
    const gone = (await client.rooms.create({})).data;
    const token = (await client.rooms.actions.generateJoinClientToken(gone.id, {})).data.token;
    await client.rooms.delete(gone.id);
    const late = await openPage('hal', { watchOnly: true });
    t.after(() => late.context().close());
    await late.goto(`${ts.rootURL}?${new URLSearchParams({ room: gone.id, token })}`);
    await late.click('button[type=submit]');
    await late.waitForFunction(() => window.roomsd.state === 'error', null, { timeout: JOIN_DEADLINE_MS });
    assert.equal(await status(late), 'This meeting no longer exists.');
  });

  /**
   * Starts a server of its own whose media port firewall rules can
   * touch: rules are iptables rule specifications (without the chain
   * action), each added at once or later with add(), and all removed
   * when the test ends.
   */
  async function firewalledServer(t) {
    const port = await freeMediaPort();
    const server = new TestServer({ env: { ROOMSD_RTC_LOOPBACK: 'on', ROOMSD_RTC_UDP_PORT: String(port) } });
    await server.start();
    t.after(() => server.close());
    const added = [];
    t.after(async () => {
      for (const rule of added) await execFileP('iptables', ['-w', '-D', ...rule]);
    });
    const add = async (rule) => {
      try {
        await execFileP('iptables', ['-w', '-I', ...rule]);
      } catch (err) {
        throw new Error(`this test changes the firewall with iptables, which needs root and Debian's iptables package: ${err.message}`);
      }
      added.push(rule);
      return async () => {
        added.splice(added.indexOf(rule), 1);
        await execFileP('iptables', ['-w', '-D', ...rule]);
      };
    };
    const join = async (page, room, name) => {
      const token = (await server.sdk().rooms.actions.generateJoinClientToken(room.id, {})).data.token;
      await page.goto(`${server.rootURL}?${new URLSearchParams({ room: room.id, token, name })}`);
      await page.click('button[type=submit]');
      await page.waitForFunction(() => ['joined', 'error'].includes(window.roomsd.state), null, { timeout: JOIN_DEADLINE_MS });
      return page.evaluate(() => window.roomsd.participantId);
    };
    return { server, port, add, join };
  }

  it('says plainly that the network blocks the media when no media path works', async (t) => {
    // The page reaches the server's HTTP port and signaling, but firewall
    // rules drop everything sent to its media port, UDP and TCP.
    const fw = await firewalledServer(t);
    await fw.add(['INPUT', '-p', 'udp', '--dport', String(fw.port), '-j', 'DROP']);
    await fw.add(['INPUT', '-p', 'tcp', '--dport', String(fw.port), '-j', 'DROP']);
    const room = (await fw.server.sdk().rooms.create({})).data;
    const page = await openPage('ivan');
    t.after(() => page.context().close());
    await fw.join(page, room, 'ivan');
    try {
      await eventually('the page says the network blocks the media', async () => /^Your network blocks the meeting's audio and video/.test(await status(page)),
        MEDIA_DEADLINE_MS, 250);
    } catch (err) {
      err.message += `\n${await diag({ ivan: page })}`;
      throw err;
    }
  });

  it("each tile's connection sign shows loss on the way to the viewer, and its end", async (t) => {
    const fw = await firewalledServer(t);
    const room = (await fw.server.sdk().rooms.create({})).data;
    const pages = { sender: await openPage('sender'), viewer: await openPage('viewer') };
    t.after(() => Promise.all(Object.values(pages).map((p) => p.context().close())));
    const sender = await fw.join(pages.sender, room, 'sender');
    await fw.join(pages.viewer, room, 'viewer');
    const sign = () => pages.viewer.evaluate((id) => {
      const el = document.querySelector(`figure[data-participant="${id}"]`);
      return el ? { level: el.dataset.quality || '', label: el.querySelector('.quality').getAttribute('aria-label'), title: el.querySelector('.quality').title } : null;
    }, sender);
    const seen = [];
    const becomes = (want) => async () => {
      const s = await sign();
      if (s && seen.at(-1) !== s.title) seen.push(s.title);
      return s && s.level === want && s.label === `connection: ${want}`;
    };
    try {
      await eventually('the sign says good on a clean network', becomes('good'), MEDIA_DEADLINE_MS, 250);
      // A third of what the server sends is lost on the way.
      const heal = await fw.add(['OUTPUT', '-p', 'udp', '--sport', String(fw.port), '-m', 'statistic', '--mode', 'random', '--probability', '0.33', '-j', 'DROP']);
      await eventually('the sign says poor while packets are lost', becomes('poor'), MEDIA_DEADLINE_MS, 250);
      await heal();
      await eventually('the sign says good again once the loss ends', becomes('good'), MEDIA_DEADLINE_MS, 250);
    } catch (err) {
      err.message += `\nsigns seen: ${seen.join(' | ')}\n${await diag(pages)}`;
      throw err;
    }
    t.diagnostic(`signs seen: ${seen.join(' | ')}`);
  });

  it('two pages in one room see and hear each other; a newcomer after a leave is seen too', async (t) => {
    const pages = { alice: await openPage('alice'), bob: await openPage('bob') };
    const dana = await openPage('dana');
    t.after(() => Promise.all([...Object.values(pages), dana].map((p) => p.context().close())));
    try {
      await meeting(pages, dana);
    } catch (err) {
      err.message += `\n${await diag({ ...pages, dana })}`;
      throw err;
    }
  });

  /** Opens the meeting link of a room with a fresh token and joins. */
  async function joinPage(page, room, name) {
    const token = (await client.rooms.actions.generateJoinClientToken(room.id, {})).data.token;
    const link = new URL('/', ts.rootURL);
    link.search = new URLSearchParams({ room: room.id, token, name }).toString();
    await page.goto(link.href);
    await page.click('button[type=submit]');
    await page.waitForFunction(() => window.roomsd.state === 'joined', null, { timeout: JOIN_DEADLINE_MS });
    return page.evaluate(() => window.roomsd.participantId);
  }

  it('a simulcast camera reaches a thumbnail in its low layer and a large window in its high one', async (t) => {
    const pages = {
      camera: await openPage('camera'),
      thumb: await openPage('thumb', { watchOnly: true, viewport: { width: 240, height: 400 } }),
      large: await openPage('large', { watchOnly: true, viewport: { width: 1920, height: 1080 } }),
    };
    t.after(() => Promise.all(Object.values(pages).map((p) => p.context().close())));
    try {
      const room = (await client.rooms.create({ unique_name: 'browser-simulcast' })).data;
      const camera = await joinPage(pages.camera, room, 'camera');
      await joinPage(pages.thumb, room, 'thumb');
      await joinPage(pages.large, room, 'large');
      const size = async (page) => {
        const s = await page.evaluate(() => window.roomsd.stats());
        return { width: s.frameWidth[camera] || 0, frames: s.byParticipant[camera] || 0 };
      };
      // The camera sends 320, 640 and 1280 pixels wide. The thumbnail
      // tile is some 230 pixels wide: the 320-pixel layer fits it. The
      // large window's tile needs the full one (the browser sends it once
      // its bandwidth estimate has grown enough).
      await eventually(
        'the thumbnail decodes the low layer and the large window the high one',
        async () => {
          const [th, lg] = [await size(pages.thumb), await size(pages.large)];
          return th.frames > 0 && th.width > 0 && th.width <= 320 && lg.frames > 0 && lg.width > 640;
        },
        MEDIA_DEADLINE_MS,
        250,
      );
      // The thumbnail's window grows: it moves up to the high layer.
      await pages.thumb.setViewportSize({ width: 1920, height: 1080 });
      await eventually('the enlarged window decodes the high layer', async () => (await size(pages.thumb)).width > 640, MEDIA_DEADLINE_MS, 250);
    } catch (err) {
      err.message += `\n${await diag(pages)}`;
      throw err;
    }
  });

  it('the tile of whoever speaks lights up', async (t) => {
    // The speaker is `roomsd bot` publishing its tone, whose packets say
    // it is loud (RFC 6464 audio level), as a browser's would for speech:
    // the server names it in a speakers message and the page lights its
    // tile. (Chromium's fake microphone is too quiet to rely on.)
    const viewer = await openPage('viewer', { watchOnly: true });
    let bot;
    let botErr = '';
    t.after(async () => {
      if (bot && bot.exitCode === null) {
        bot.kill('SIGTERM');
        await waitExit(bot, STOP_DEADLINE_MS);
      }
      await viewer.context().close();
    });
    try {
      const room = (await client.rooms.create({ unique_name: 'browser-speakers' })).data;
      const me = await joinPage(viewer, room, 'viewer');
      bot = spawn(ts.bin, ['bot', '--server', ts.baseURL, '--room', room.id, '--publish', 'audio', '--duration', '10m',
        '--progress', '0', '--context', 'speaker'], { env: cleanEnv({ ROOMSD_API_KEY: ts.apiKey }), stdio: ['ignore', 'ignore', 'pipe'] });
      bot.stderr.setEncoding('utf8').on('data', (d) => (botErr += d));
      const lit = () => viewer.evaluate(() => ({
        speakers: window.roomsd.speakers,
        speaking: [...document.querySelectorAll('.tile.speaking')].map((el) => el.dataset.participant || 'self'),
        dominant: [...document.querySelectorAll('.tile.dominant')].map((el) => el.dataset.participant || 'self'),
      }));
      await eventually(
        "the speaker's tile is lit, as the loudest",
        async () => {
          const l = await lit();
          return l.speakers.length === 1 && l.speakers[0] !== me && l.dominant.length === 1 && l.dominant[0] === l.speakers[0] &&
            l.speaking.length === 1;
        },
        MEDIA_DEADLINE_MS,
        250,
      );
      // The speaker leaves: nobody is lit.
      bot.kill('SIGTERM');
      await waitExit(bot, STOP_DEADLINE_MS);
      await eventually('no tile is lit once the speaker has left', async () => (await lit()).speaking.length === 0, EVENT_DEADLINE_MS, 250);
    } catch (err) {
      err.message += `\n${await diag({ viewer })}\nbot: ${botErr}`;
      throw err;
    }
  });

  async function meeting(pages, dana) {
    const room = (await client.rooms.create({ unique_name: 'browser-meeting', max_participants: 4 })).data;
    const token = async () => (await client.rooms.actions.generateJoinClientToken(room.id, {})).data.token;
    const ids = {};

    for (const [name, page] of Object.entries(pages)) {
      // A link carries the room, the token and the name; one click joins.
      const link = new URL('/', ts.rootURL);
      link.search = new URLSearchParams({ room: room.id, token: await token(), name }).toString();
      await page.goto(link.href);
      assert.equal(await page.inputValue('input[name=room]'), room.id);
      assert.equal(await page.inputValue('input[name=name]'), name);
      await page.click('button[type=submit]');
      await page.waitForFunction(() => window.roomsd.state === 'joined', null, { timeout: JOIN_DEADLINE_MS });
      ids[name] = await page.evaluate(() => window.roomsd.participantId);
    }

    // Each page decodes the other's video and receives its audio.
    const other = { alice: 'bob', bob: 'alice' };
    await eventually(
      'remote video and audio reach both pages',
      async () => {
        for (const [name, page] of Object.entries(pages)) {
          const s = await page.evaluate(() => window.roomsd.stats());
          if (!(s.byParticipant[ids[other[name]]] > 0 && s.audioPackets[ids[other[name]]] > 0)) return false;
        }
        return true;
      },
      MEDIA_DEADLINE_MS,
      200,
    );

    // Each tile is labelled with the other's name.
    for (const [name, page] of Object.entries(pages)) {
      const caption = page.locator(`figure[data-participant="${ids[other[name]]}"] figcaption`);
      assert.equal(await caption.textContent(), other[name]);
      assert.equal(await page.locator('#self').isVisible(), true, `${name} does not see their own camera`);
    }

    // The REST API shows the two of them present in the room's session.
    const { sessions } = (await client.rooms.retrieve(room.id, { include_sessions: true })).data;
    assert.equal(sessions.length, 1);
    const present = sessions[0].participants.filter((p) => p.left_at === null);
    assert.deepEqual(present.map((p) => p.id).sort(), [ids.alice, ids.bob].sort());
    assert.deepEqual(present.map((p) => p.context).sort(), ['alice', 'bob']);
    const sessionId = sessions[0].id;

    // A mute by the host shows on both pages.
    await client.rooms.sessions.actions.mute(sessionId, { participants: [ids.alice] });
    await pages.bob.locator(`figure.muted[data-participant="${ids.alice}"]`).waitFor({ timeout: EVENT_DEADLINE_MS });
    await pages.alice.locator('#self.muted').waitFor({ timeout: EVENT_DEADLINE_MS });
    await client.rooms.sessions.actions.unmute(sessionId, { participants: [ids.alice] });
    await pages.bob.locator(`figure.muted[data-participant="${ids.alice}"]`).waitFor({ state: 'detached', timeout: EVENT_DEADLINE_MS });

    // Alice leaves with the button: Bob's page drops her tile, and the API
    // records her leave.
    await pages.alice.click('#leave');
    await pages.alice.waitForFunction(() => window.roomsd.state === 'left', null, { timeout: EVENT_DEADLINE_MS });
    assert.equal(await pages.alice.locator('#join').isVisible(), true);
    await pages.bob.locator(`figure[data-participant="${ids.alice}"]`).waitFor({ state: 'detached', timeout: EVENT_DEADLINE_MS });
    const alice = (await client.roomParticipants.retrieve(ids.alice)).data;
    assert.notEqual(alice.left_at, null);

    // Dana joins after Alice left: her tracks reach Bob on the m-lines
    // Alice's left free, and Bob's page decodes her video and hears her.
    const link = new URL('/', ts.rootURL);
    link.search = new URLSearchParams({ room: room.id, token: await token(), name: 'dana' }).toString();
    await dana.goto(link.href);
    await dana.click('button[type=submit]');
    await dana.waitForFunction(() => window.roomsd.state === 'joined', null, { timeout: JOIN_DEADLINE_MS });
    ids.dana = await dana.evaluate(() => window.roomsd.participantId);
    await eventually(
      "Dana's video and audio reach Bob's page",
      async () => {
        const s = await pages.bob.evaluate(() => window.roomsd.stats());
        return s.byParticipant[ids.dana] > 0 && s.audioPackets[ids.dana] > 0;
      },
      MEDIA_DEADLINE_MS,
      200,
    );
    assert.equal(await pages.bob.locator(`figure[data-participant="${ids.dana}"] figcaption`).textContent(), 'dana');

    // Ending the session tells Bob's and Dana's pages.
    await client.rooms.sessions.actions.end(sessionId);
    await pages.bob.waitForFunction(() => window.roomsd.state === 'ended', null, { timeout: EVENT_DEADLINE_MS });
    await dana.waitForFunction(() => window.roomsd.state === 'ended', null, { timeout: EVENT_DEADLINE_MS });
    assert.match(await status(pages.bob), /ended/);
    assert.equal(await state(pages.bob), 'ended');
  }
  it('records the page\'s camera and microphone: the recordings decode', async (t) => {
    const page = await openPage('cam');
    t.after(() => page.context().close());
    const room = (await client.rooms.create({ enable_recording: true })).data;
    const recordings = async () => (await client.roomRecordings.list({ filter: { room_id: room.id } })).data;
    try {
      await joinPage(page, room, 'cam');
      await eventually('an audio and a video recording under way',
        async () => (await recordings()).filter((r) => r.status === 'processing').length === 2, MEDIA_DEADLINE_MS);
      // Three seconds of camera and microphone, then the page leaves.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      await page.click('#leave');
      const done = await eventually('both recordings completed', async () => {
        const rs = await recordings();
        return rs.length === 2 && rs.every((r) => r.status === 'completed') && rs;
      }, MEDIA_DEADLINE_MS);
      const dir = await mkdtemp(path.join(tmpdir(), 'roomsd-browser-rec-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      for (const r of done) {
        // The signed link works without the API key, as a browser uses it.
        const res = await fetch(r.download_url);
        assert.equal(res.status, 200, `download ${r.download_url}`);
        const file = path.join(dir, `${r.id}`);
        await writeFile(file, Buffer.from(await res.arrayBuffer()));
        const { stdout } = await execFileP('ffprobe', ['-v', 'error', '-show_format', '-show_streams', '-of', 'json', file]);
        const probe = JSON.parse(stdout);
        assert.equal(probe.streams.length, 1, JSON.stringify(probe.streams));
        assert.equal(probe.streams[0].codec_type, r.type);
        assert.equal(probe.streams[0].codec_name, r.codec);
        const secs = Number(probe.format.duration);
        assert.ok(secs >= 2.5 && secs <= 6, `${r.type} recording plays ${secs} s after 3 s of camera`);
        // Every frame decodes. ffmpeg's complaints about its own output
        // (its null muxer counts time in frame periods and refuses two
        // pictures in one, as at a layer switch) are not errors of the file.
        const { stderr } = await execFileP('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, '-fps_mode', 'passthrough', '-f', 'null', '-']);
        const errors = stderr.split('\n').filter((l) => l && !l.includes('non monotonically increasing dts to muxer'));
        assert.deepEqual(errors, [], `${r.type} recording decode errors`);
      }
    } catch (err) {
      err.message += `\n${await diag({ cam: page })}`;
      throw err;
    }
  });
});
