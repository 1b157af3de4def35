// A far host for the browser tests that must not run on the server's
// loopback: a network namespace joined to this machine by a veth pair,
// the server's address on this side, Chromium on the other. Needs root and
// Debian's iproute2.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { CHROMIUM, launchChromium } from './chromium.js';
import { STOP_DEADLINE_MS, cleanEnv, waitExit } from './server.js';

const execFileP = promisify(execFile);
const ip = (...args) => execFileP('ip', args);

export class FarHost {
  /**
   * Makes the namespace (named prefix and a random tag) and its link:
   * serverIP on this side, hostIP in the namespace, both in a /24 of
   * 10.0.0.0/8 picked from the tag and octet, which keeps test files
   * apart.
   */
  static async create(prefix, octet) {
    const tag = randomBytes(2).toString('hex');
    const h = new FarHost();
    h.ns = `${prefix}${tag}`;
    const subnet = 150 + (parseInt(tag, 16) % 100);
    h.serverIP = `10.${subnet}.${octet}.1`;
    h.hostIP = `10.${subnet}.${octet}.2`;
    try {
      await ip('netns', 'add', h.ns);
    } catch (err) {
      throw new Error(`this test puts Chromium in a network namespace, which needs root and Debian's iproute2: ${err.message}`);
    }
    const [here, there] = [`${h.ns}a`, `${h.ns}b`];
    await ip('link', 'add', here, 'type', 'veth', 'peer', 'name', there);
    await ip('link', 'set', there, 'netns', h.ns);
    await ip('addr', 'add', `${h.serverIP}/24`, 'dev', here);
    await ip('link', 'set', here, 'up');
    await ip('netns', 'exec', h.ns, 'ip', 'addr', 'add', `${h.hostIP}/24`, 'dev', there);
    await ip('netns', 'exec', h.ns, 'ip', 'link', 'set', there, 'up');
    await ip('netns', 'exec', h.ns, 'ip', 'link', 'set', 'lo', 'up');
    return h;
  }

  /**
   * Writes a self-signed certificate and key into dir for the server's
   * address and the given DNS names (the first one its common name).
   */
  async certificate(dir, names = []) {
    const certFile = path.join(dir, 'cert.pem');
    const keyFile = path.join(dir, 'key.pem');
    const san = [...names.map((n) => `DNS:${n}`), `IP:${this.serverIP}`].join(',');
    await execFileP('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-keyout', keyFile, '-out', certFile, '-subj', `/CN=${names[0] || 'roomsd test'}`, '-addext', `subjectAltName=${san}`]);
    return { certFile, keyFile };
  }

  /** Launches Chromium in the namespace (through a wrapper in dir). */
  async chromium(dir, flags = []) {
    const wrapper = path.join(dir, 'chromium-in-netns');
    await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${this.ns} ${CHROMIUM} "$@"\n`);
    await chmod(wrapper, 0o755);
    return launchChromium(flags, { executablePath: wrapper });
  }

  /** Removes the namespace and its link. */
  async remove() {
    await ip('netns', 'del', this.ns).catch(() => {});
  }
}

/** Returns a function that calls the API at base over HTTPS, trusting certFile. */
export function httpsAPI(base, apiKey, certFile) {
  return async (method, p, body) => {
    const { stdout } = await execFileP('curl', ['-sSg', '--cacert', certFile, '-X', method, '-H', `Authorization: Bearer ${apiKey}`,
      '-H', 'Content-Type: application/json', ...(body ? ['-d', JSON.stringify(body)] : []), new URL(p, base).href]);
    return stdout ? JSON.parse(stdout) : null;
  };
}

/**
 * Starts `roomsd bot` in a room from this host, trusting certFile; it is
 * killed when the test ends. stop() ends it (SIGINT) and returns its
 * report; log() is what it said on stderr.
 */
export function startBot(t, bin, base, roomID, apiKey, certFile) {
  const bot = spawn(bin, ['bot', '--server', base, '--room', roomID, '--context', 'bot', '--duration', '10m', '--progress', '0'],
    { env: cleanEnv({ ROOMSD_API_KEY: apiKey, SSL_CERT_FILE: certFile }), stdio: ['ignore', 'pipe', 'pipe'] });
  let report = '';
  let log = '';
  bot.stdout.setEncoding('utf8').on('data', (d) => (report += d));
  bot.stderr.setEncoding('utf8').on('data', (d) => (log += d));
  t.after(async () => {
    if (bot.exitCode === null) {
      bot.kill('SIGKILL');
      await waitExit(bot, STOP_DEADLINE_MS).catch(() => {});
    }
  });
  return {
    log: () => log,
    stop: async () => {
      bot.kill('SIGINT');
      await waitExit(bot, STOP_DEADLINE_MS);
      return JSON.parse(report);
    },
  };
}
