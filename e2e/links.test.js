// Meeting links in the page (headless Chromium, fake devices): a link made
// with the API key greets its guest by name, joins, and keeps the page's
// token fresh during the meeting; it still joins after the first token
// it minted has expired; once its guest is kicked, joining again through
// it is refused with a plain message, as is a link that has expired, was
// revoked or was cut short.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { launchChromium } from './chromium.js';
import { TestServer, eventually } from './server.js';

const JOIN_DEADLINE_MS = 20_000;

describe('meeting links in the page', () => {
  const ts = new TestServer({ env: { ROOMSD_RTC_LOOPBACK: 'on', ROOMSD_RTC_UDP_PORT: '0' } });
  let browser;
  let client;
  /** A link that expires a minute after the suite starts. */
  let expiring;

  before(async () => {
    await ts.start();
    client = ts.sdk();
    expiring = client.rooms.create({ unique_name: 'links-expired' }).then(({ data }) => makeLink(data.id, { ttl_secs: 60 }));
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await ts.close();
  });

  /** Makes a meeting link with the API key (roomsd's own API). */
  async function makeLink(roomId, body) {
    const res = await fetch(new URL(`/roomsd/rooms/${roomId}/links`, ts.rootURL), {
      method: 'POST', headers: { Authorization: `Bearer ${ts.apiKey}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    assert.equal(res.status, 201);
    return (await res.json()).data;
  }

  async function openPage(t) {
    const context = await browser.newContext();
    t.after(() => context.close());
    return context.newPage();
  }
  const status = (page) => page.locator('#status').textContent();

  it('greets by name, joins, refreshes the token, and is refused after a kick', async (t) => {
    const room = (await client.rooms.create({ unique_name: 'links-kick' })).data;
    const link = await makeLink(room.id, { name: 'Ann', token_ttl_secs: 10 });
    const page = await openPage(t);
    await page.goto(link.url);
    await eventually('the page greets Ann', async () => (await page.inputValue('input[name=name]')) === 'Ann', JOIN_DEADLINE_MS);
    assert.match(await status(page), /invited to a meeting/);
    assert.equal(await page.locator('input[name=room]').isVisible(), false, 'no room id to type with a link');
    await page.click('button[type=submit]');
    await page.waitForFunction(() => window.roomsd.state === 'joined', null, { timeout: JOIN_DEADLINE_MS });
    const me = await page.evaluate(() => window.roomsd.participantId);
    assert.equal((await client.roomParticipants.retrieve(me)).data.context, 'Ann');
    // The token lasts 10 s: the page renews it before then.
    await page.waitForFunction(() => window.roomsd.tokenRefreshes >= 1, null, { timeout: 30_000 });

    const session = (await client.rooms.retrieve(room.id)).data.active_session_id;
    await client.rooms.sessions.actions.kick(session, { participants: [me] });
    await page.waitForFunction(() => window.roomsd.state === 'kicked', null, { timeout: JOIN_DEADLINE_MS });
    await page.click('button[type=submit]');
    await page.waitForFunction(() => window.roomsd.state === 'error', null, { timeout: JOIN_DEADLINE_MS });
    assert.match(await status(page), /^You were removed from this meeting\. You can join again from \d\d:\d\d/);
  });

  it('still joins once the first token it minted has expired', async (t) => {
    const room = (await client.rooms.create({ unique_name: 'links-later' })).data;
    const link = await makeLink(room.id, { name: 'Bob', token_ttl_secs: 10 });
    const secret = new URL(link.url).hash.slice('#link='.length);
    const res = await fetch(new URL('/roomsd/links/actions/open', ts.rootURL), {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ link: secret }),
    });
    const first = (await res.json()).data;
    // Until the first token has expired (waiting for a time, not for an event).
    await delay(Math.max(0, Date.parse(first.token_expires_at) - Date.now() + 1000));
    const page = await openPage(t);
    await page.goto(link.url);
    await page.click('button[type=submit]');
    await page.waitForFunction(() => window.roomsd.state === 'joined', null, { timeout: JOIN_DEADLINE_MS });
  });

  it('says plainly when a link is revoked or cut short', async (t) => {
    const room = (await client.rooms.create({ unique_name: 'links-revoked' })).data;
    const link = await makeLink(room.id, {});
    const revoke = await fetch(new URL(`/roomsd/links/${link.id}/actions/revoke`, ts.rootURL), {
      method: 'POST', headers: { Authorization: `Bearer ${ts.apiKey}` },
    });
    assert.equal(revoke.status, 200);
    const page = await openPage(t);
    await page.goto(link.url);
    await eventually('the page says the link was revoked', async () => /revoked; ask whoever sent it for a new one/.test(await status(page)), JOIN_DEADLINE_MS);
    // A link cut short when copied.
    const cut = await openPage(t);
    await cut.goto(link.url.slice(0, -4));
    await eventually('the page says the link is incomplete', async () => /check that the whole link was copied/.test(await status(cut)), JOIN_DEADLINE_MS);
  });

  it('says plainly when a link has expired', async (t) => {
    // Made before the other tests, with the shortest life a link may have.
    const link = await expiring;
    await eventually('the link has expired', async () => Date.now() > Date.parse(link.expires_at) + 1000, 2 * 60_000, 250);
    const page = await openPage(t);
    await page.goto(link.url);
    await eventually('the page says the link expired', async () => /^This meeting link expired at .*; ask whoever sent it for a new one\.$/.test(await status(page)), JOIN_DEADLINE_MS);
  });
});
