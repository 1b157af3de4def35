// Two roomsd nodes on one PostgreSQL database (only with
// ROOMSD_E2E_POSTGRES_URL): the meeting page opened on the node that does
// not hold the room's meeting follows the redirect to the one that does,
// meets a `roomsd bot` that entered through the other node, and decodes
// its video; the official SDK sees one session on either node. When the
// node holding the meeting is killed, the page and the bot (--rejoin) join
// again through the survivor and meet there.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { launchChromium } from './chromium.js';
import { STOP_DEADLINE_MS, TestServer, cleanEnv, eventually, startServer, waitExit } from './server.js';

const JOIN_DEADLINE_MS = 20_000;
const MEDIA_DEADLINE_MS = 45_000;

describe('a two-node cluster', { skip: !process.env.ROOMSD_E2E_POSTGRES_URL && 'needs ROOMSD_E2E_POSTGRES_URL' }, () => {
  const a = new TestServer({ env: { ROOMSD_RTC_LOOPBACK: 'on', ROOMSD_NODE_ID: 'node-a', ROOMSD_NODE_LEASE: '2s' } });
  let b;
  let browser;

  before(async () => {
    await a.start();
    b = await startServer(a.bin, {
      dbPath: a.dbPath,
      apiKey: a.apiKey,
      cwd: a.dir,
      env: { ROOMSD_RTC_LOOPBACK: 'on', ROOMSD_NODE_ID: 'node-b', ROOMSD_NODE_LEASE: '2s', ROOMSD_DATA_DIR: path.join(a.dir, 'roomsd-data') },
    });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (b?.child && b.child.exitCode === null) {
      b.child.kill('SIGKILL');
      await waitExit(b.child, STOP_DEADLINE_MS).catch(() => {});
    }
    await a.close();
  });

  it('the page opened on the other node follows the redirect and meets a bot; both rejoin through b when a dies', async (t) => {
    const sdkA = a.sdk();
    const sdkB = a.sdk({ baseURL: b.baseURL });
    const room = (await sdkA.rooms.create({ unique_name: 'cluster-page' })).data;
    // The bot enters through node a: the meeting is a's.
    let botErr = '';
    const bot = spawn(a.bin, ['bot', '--server', `${a.baseURL},${b.baseURL}`, '--rejoin', '--room', room.id, '--publish', 'audio,video', '--video-bitrate', 'pattern',
      '--duration', '10m', '--progress', '0', '--loopback', '--context', 'bot-on-a'],
    { env: cleanEnv({ ROOMSD_API_KEY: a.apiKey }), stdio: ['ignore', 'ignore', 'pipe'] });
    bot.stderr.setEncoding('utf8').on('data', (d) => (botErr += d));
    const context = await browser.newContext();
    t.after(async () => {
      await context.close();
      if (bot.exitCode === null) {
        bot.kill('SIGTERM');
        await waitExit(bot, STOP_DEADLINE_MS);
      }
    });
    const session = await eventually('the bot has opened the session on a', async () => {
      const r = (await sdkB.rooms.retrieve(room.id)).data;
      return r.active_session_id;
    }, JOIN_DEADLINE_MS, 100);

    // The page comes from node b, with a token minted on b.
    const page = await context.newPage();
    const logs = [];
    page.on('pageerror', (err) => logs.push(`page error: ${err.message}`));
    try {
      const token = (await sdkB.rooms.actions.generateJoinClientToken(room.id, {})).data.token;
      const link = new URL('/', b.baseURL);
      link.search = new URLSearchParams({ room: room.id, token, name: 'page-via-b' }).toString();
      await page.goto(link.href);
      await page.click('button[type=submit]');
      await page.waitForFunction(() => window.roomsd.state === 'joined', null, { timeout: JOIN_DEADLINE_MS });
      const me = await page.evaluate(() => window.roomsd.participantId);
      const participant = (await sdkA.roomParticipants.retrieve(me)).data;
      assert.equal(participant.session_id, session, 'the page joined the session a holds');
      const media = async () => {
        const s = await page.evaluate(() => window.roomsd.stats());
        return Object.values(s.byParticipant).some((n) => n > 0) && Object.values(s.audioPackets).some((n) => n > 0);
      };
      await eventually('the page decodes the bot\'s video and receives its audio', media, MEDIA_DEADLINE_MS, 250);

      // Node a dies: the page (loaded from b) and the bot join again; b
      // takes the room over once a's lease has run out.
      a.child.kill('SIGKILL');
      await waitExit(a.child, STOP_DEADLINE_MS);
      await page.waitForFunction(() => window.roomsd.state === 'joined' && window.roomsd.rejoins === 1, null,
        { timeout: MEDIA_DEADLINE_MS });
      const again = await page.evaluate(() => window.roomsd.participantId);
      assert.notEqual(again, me);
      const rejoined = (await sdkB.roomParticipants.retrieve(again)).data;
      assert.notEqual(rejoined.session_id, session, 'the page is in the room\'s next session');
      await eventually('the page decodes the rejoined bot\'s video again', media, MEDIA_DEADLINE_MS, 250);
    } catch (err) {
      err.message += `\n${logs.join('\n')}\nstatus: ${await page.locator('#status').textContent()}\nbot: ${botErr}`;
      throw err;
    }
  });
});
