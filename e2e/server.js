// Shared helpers of the end-to-end suites: building Go programs, starting
// and stopping roomsd on a free loopback port with a fresh database, making
// SDK clients for it, running the fixture program on its database, and
// small assertion helpers. Each test file starts its
// own server, so the files can run in parallel.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Telnyx from 'telnyx';

const execFileP = promisify(execFile);

export const E2E_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(E2E_DIR, '..');

export const BUILD_DEADLINE_MS = 5 * 60_000;
export const START_DEADLINE_MS = 20_000;
export const CHILD_DEADLINE_MS = 60_000;
export const STOP_DEADLINE_MS = 20_000;
export const REQUEST_TIMEOUT_MS = 15_000;

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** Environment of this process without any TELNYX_* variable. */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('TELNYX_')) env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * Runs a command to completion, killing it at the deadline.
 * Resolves to { code, signal, stdout, stderr }.
 */
export function run(cmd, args, { cwd, env, deadlineMs }) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${deadlineMs} ms\n${stderr}`));
    }, deadlineMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Builds the Go package pkg (relative to the repo root) into out. */
export async function goBuild(pkg, out) {
  const build = await run('go', ['build', '-o', out, pkg], {
    cwd: REPO_ROOT,
    env: process.env,
    deadlineMs: BUILD_DEADLINE_MS,
  });
  assert.equal(build.code, 0, `go build ${pkg} failed:\n${build.stderr}`);
  return out;
}

/** Resolves with the child's exit { code, signal }, or rejects at the deadline. */
export function waitExit(child, deadlineMs) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`process ${child.pid} did not exit within ${deadlineMs} ms`)), deadlineMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/**
 * Starts roomsd and resolves once it has logged its URL. env adds ROOMSD_*
 * settings (e.g. ROOMSD_RTC_LOOPBACK) to the defaults below.
 */
export function startServer(bin, { dbPath, apiKey, env = {}, cwd = path.dirname(dbPath) }) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['serve'], {
      cwd,
      env: cleanEnv({
        ROOMSD_ADDR: '127.0.0.1:0',
        ROOMSD_DB: dbPath,
        ROOMSD_API_KEYS: apiKey,
        // A free media port, so that servers of files run in parallel
        // do not collide on the default one.
        ROOMSD_RTC_UDP_PORT: '0',
        ...env,
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = { child, stderr: '', stdout: '', baseURL: null };
    child.stdout.setEncoding('utf8').on('data', (d) => (server.stdout += d));
    child.stderr.setEncoding('utf8');
    let settled = false;
    const finish = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(Object.assign(err, { server }));
      else resolve(server);
    };
    const timer = setTimeout(
      () => finish(new Error(`roomsd did not report its URL within ${START_DEADLINE_MS} ms; stderr:\n${server.stderr}`)),
      START_DEADLINE_MS,
    );
    child.stderr.on('data', (d) => {
      server.stderr += d;
      const m = /msg="roomsd listening".*?\burl=(\S+)/.exec(server.stderr);
      if (m && !server.baseURL) {
        server.baseURL = m[1];
        finish();
      }
    });
    child.on('error', (err) => finish(err));
    child.on('exit', (code, signal) =>
      finish(new Error(`roomsd exited early (code ${code}, signal ${signal}); stderr:\n${server.stderr}`)),
    );
  });
}

/**
 * A roomsd for one test file: a temp directory holding the binary (built
 * unless ROOMSD_BIN is set) and a fresh database, a random API key, and an
 * SDK client factory. env adds server settings. Call start() in before()
 * and close() in after().
 */
export class TestServer {
  constructor({ env = {}, prepare = null } = {}) {
    this.env = env;
    /** prepare(dbPath, dir), if given, runs before the server starts (e.g. to seed its database). */
    this.prepare = prepare;
    this.apiKey = `e2e_${randomBytes(24).toString('hex')}`;
    /** Directories removed by close(). */
    this.tempDirs = [];
    this.dir = null;
    this.dbPath = null;
    this.server = null;
  }

  get baseURL() {
    return this.server.baseURL;
  }

  /** The server's root URL, without /v2. */
  get rootURL() {
    return new URL('/', this.server.baseURL).href;
  }

  get child() {
    return this.server.child;
  }

  async start() {
    this.dir = await mkdtemp(path.join(tmpdir(), 'roomsd-e2e-'));
    this.tempDirs.push(this.dir);
    const bin = process.env.ROOMSD_BIN || (await goBuild('./cmd/roomsd', path.join(this.dir, 'roomsd')));
    /** The roomsd binary, for tests that run `roomsd bot` too. */
    this.bin = bin;
    this.dbPath = path.join(this.dir, 'roomsd.db');
    const pg = process.env.ROOMSD_E2E_POSTGRES_URL;
    if (pg) {
      // A schema of this file's own on the PostgreSQL server, dropped by
      // close(); the server and the fixture reach it by search_path.
      this.schema = `e2e_${randomBytes(8).toString('hex')}`;
      await execFileP('psql', [pg, '-qAtc', `CREATE SCHEMA ${this.schema}`], { timeout: CHILD_DEADLINE_MS });
      const u = new URL(pg);
      u.searchParams.set('search_path', this.schema);
      this.dbPath = u.href;
    }
    if (this.prepare) await this.prepare(this.dbPath, this.dir);
    try {
      this.server = await startServer(bin, {
        dbPath: this.dbPath,
        apiKey: this.apiKey,
        cwd: this.dir,
        env: { ROOMSD_DATA_DIR: path.join(this.dir, 'roomsd-data'), ...this.env },
      });
    } catch (err) {
      this.server = err.server;
      throw err;
    }
    assert.match(this.server.baseURL, /^http:\/\/127\.0\.0\.1:\d+\/v2$/);
  }

  /**
   * Builds the fixture program (./fixture) into the temp directory and
   * resolves to fx(...args), which runs one fixture command against the
   * server's database and resolves to its JSON result. Call after start().
   */
  async fixture() {
    const bin = await goBuild('./e2e/fixture', path.join(this.dir, 'fixture'));
    return async (...args) => {
      const { stdout } = await execFileP(bin, ['-db', this.dbPath, ...args], {
        env: cleanEnv(),
        timeout: CHILD_DEADLINE_MS,
      });
      return JSON.parse(stdout);
    };
  }

  /** A telnyx SDK client for this server; opts override the defaults. */
  sdk(opts = {}) {
    return new Telnyx({
      apiKey: this.apiKey,
      baseURL: this.server.baseURL,
      clientID: null,
      clientSecret: null,
      maxRetries: 0,
      timeout: REQUEST_TIMEOUT_MS,
      ...opts,
    });
  }

  /** Sends SIGTERM and resolves with the exit { code, signal }. */
  async terminate() {
    const { child } = this.server;
    const exited = waitExit(child, STOP_DEADLINE_MS);
    child.kill('SIGTERM');
    return exited;
  }

  /** Kills the server if it still runs and removes the temp directories. */
  async close() {
    const child = this.server?.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await waitExit(child, STOP_DEADLINE_MS).catch(() => {});
    }
    for (const dir of this.tempDirs) {
      await rm(dir, { recursive: true, force: true });
    }
    if (this.schema) {
      await execFileP('psql', [process.env.ROOMSD_E2E_POSTGRES_URL, '-qAtc', `DROP SCHEMA ${this.schema} CASCADE`], {
        timeout: CHILD_DEADLINE_MS,
      }).catch(() => {});
    }
  }
}

/**
 * Polls fn every intervalMs until it returns a truthy value, and resolves
 * to that value; fails after deadlineMs, saying what was awaited.
 */
/**
 * A port of 127.0.0.1 free for both UDP and TCP at the time of asking:
 * a media port (the server takes the number for both).
 */
export async function freeMediaPort() {
  for (;;) {
    const sock = dgram.createSocket('udp4');
    await new Promise((resolve, reject) => sock.once('error', reject).bind(0, '127.0.0.1', resolve));
    const { port } = sock.address();
    const tcp = net.createServer();
    const ok = await new Promise((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) await new Promise((resolve) => tcp.close(resolve));
    await new Promise((resolve) => sock.close(resolve));
    if (ok) return port;
  }
}

export async function eventually(what, fn, deadlineMs = 15_000, intervalMs = 50) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`not within ${deadlineMs} ms: ${what}`);
    await delay(intervalMs);
  }
}

/** Awaits p and returns the error it rejects with; fails if it resolves. */
export async function rejection(p) {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail('expected the request to fail');
}

/** The first entry of a Telnyx error envelope carried by an SDK APIError. */
export function firstError(err) {
  assert.ok(err.error && Array.isArray(err.error.errors), `error body is not an errors envelope: ${JSON.stringify(err.error)}`);
  assert.ok(err.error.errors.length >= 1);
  return err.error.errors[0];
}

/** Collects every item of an auto-paginated SDK list. */
export async function collect(pagePromise) {
  const out = [];
  for await (const item of pagePromise) out.push(item);
  return out;
}

/** The UTC date offsetDays from today, as YYYY-MM-DD. */
export function utcDate(offsetDays = 0) {
  return new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);
}
