// Headless Chromium for the browser suites: Debian's chromium package
// (never a downloaded build), driven through playwright-core, with a fake
// camera and microphone.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const LAUNCH_DEADLINE_MS = 60_000;

const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  // The server's media is on 127.0.0.1 (ROOMSD_RTC_LOOPBACK=on).
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  // Pages that watch without a camera would otherwise hide their
  // addresses behind mDNS names, which the server does not resolve.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

/**
 * Launches Chromium, or throws saying how to install it; extraFlags are
 * added to the usual ones. executablePath runs another program that
 * starts Chromium (a wrapper that puts it in a network namespace, say).
 */
export async function launchChromium(extraFlags = [], { executablePath = CHROMIUM } = {}) {
  try {
    await access(CHROMIUM, constants.X_OK);
  } catch {
    throw new Error(
      `Chromium is required for the browser tests and was not found at ${CHROMIUM}. ` +
        'Install it with `apt-get install -y chromium` (.ci/run does this) or set CHROMIUM_PATH.',
    );
  }
  return chromium.launch({ executablePath, headless: true, args: [...CHROMIUM_FLAGS, ...extraFlags], timeout: LAUNCH_DEADLINE_MS });
}
