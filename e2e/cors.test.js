// CORS in a real browser: headless Chromium from the system (Debian's
// chromium package; never a downloaded build), driven through
// playwright-core. roomsd runs with ROOMSD_CORS_ORIGINS naming the origin of
// a small page server on 127.0.0.1 (another port than roomsd's, so another
// origin). A page of that origin refreshes a client token with a JSON POST
// (which the browser preflights) and reads the API's 401; a page of a
// second page server, an origin not listed, is refused by the browser.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { launchChromium } from './chromium.js';
import { TestServer } from './server.js';

/**
 * Serves one HTML page on a free port of 127.0.0.1 and resolves to
 * { origin, close }.
 */
async function pageServer() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>a page of another origin</title><p>page</p>');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Runs fetch(url, init) in the page and resolves to what its script sees:
 * { status, requestId, body } or { error: 'TypeError: ...' }.
 */
function fetchInPage(page, url, init = {}) {
  return page.evaluate(
    async ({ url, init }) => {
      try {
        const res = await fetch(url, init);
        return { status: res.status, requestId: res.headers.get('x-request-id'), body: await res.json() };
      } catch (err) {
        return { error: `${err.name}: ${err.message}` };
      }
    },
    { url, init },
  );
}

describe('CORS in headless Chromium', () => {
  let allowed;
  let other;
  let ts;
  let browser;
  let client;

  before(async () => {
    allowed = await pageServer();
    other = await pageServer();
    ts = new TestServer({ env: { ROOMSD_CORS_ORIGINS: allowed.origin } });
    await ts.start();
    assert.notEqual(new URL(ts.baseURL).origin, allowed.origin);
    client = ts.sdk();
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await ts?.close();
    await allowed?.close();
    await other?.close();
  });

  /** A page of origin, in a browser context of its own. */
  async function openPage(t, origin) {
    const context = await browser.newContext();
    t.after(() => context.close());
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    assert.equal(await page.evaluate(() => window.location.origin), origin);
    return page;
  }

  /** A refresh token of a new room, and the URL to refresh it at. */
  async function refreshable() {
    const room = (await client.rooms.create({})).data;
    const tokens = (await client.rooms.actions.generateJoinClientToken(room.id, {})).data;
    return {
      url: `${ts.baseURL}/rooms/${room.id}/actions/refresh_client_token`,
      init: {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: tokens.refresh_token }),
      },
    };
  }

  it('a page of the listed origin refreshes a client token (preflighted JSON POST, no API key)', async (t) => {
    const page = await openPage(t, allowed.origin);
    const { url, init } = await refreshable();
    const res = await fetchInPage(page, url, init);
    assert.equal(res.error, undefined, `the browser refused the request: ${res.error}`);
    assert.equal(res.status, 201);
    assert.match(res.body.data.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.match(res.body.data.token_expires_at, /Z$/);
    // X-Request-Id is exposed to the page's script.
    assert.ok(res.requestId, 'X-Request-Id is not readable by the page');
  });

  it("a page of the listed origin reads the API's 401 without a key", async (t) => {
    const page = await openPage(t, allowed.origin);
    const res = await fetchInPage(page, `${ts.baseURL}/rooms`);
    assert.equal(res.error, undefined, `the browser refused the request: ${res.error}`);
    assert.equal(res.status, 401);
    assert.equal(res.body.errors[0].code, '10009');
  });

  it('a page of an origin not listed is refused by the browser', async (t) => {
    const page = await openPage(t, other.origin);
    const { url, init } = await refreshable();
    assert.deepEqual(await fetchInPage(page, url, init), { error: 'TypeError: Failed to fetch' });
    // Without a preflight, the request is sent but its answer is not
    // given to the page.
    assert.deepEqual(await fetchInPage(page, `${ts.baseURL}/rooms`), { error: 'TypeError: Failed to fetch' });
    // Outside a browser, the same refresh works: CORS only tells browsers
    // which pages may read the answers.
    const direct = await fetch(url, init);
    assert.equal(direct.status, 201);
  });
});
