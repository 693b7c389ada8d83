// Drives the Control UI in the system Chromium against a running gateway
// (ours or the reference: the same script must pass against both).
//
//   node control-ui.mjs <baseUrl> <token> [outDir] [--reply=<text>] [--approve=<deviceId>]
//   node control-ui.mjs <baseUrl> - [outDir] --open=<browserUrl> --connect-only
//
// The second form follows an `openclaw dashboard` link instead of giving
// the token: it loads <browserUrl>, waits for the connected state, then
// loads <baseUrl>/chat afresh and waits again (the page must come back on
// its own device credential), and stops there. `connects` in the summary
// lists which credential each connect carried.
//
// Loads <baseUrl>/#token=<token>, waits for the connected state, opens the
// main pages, checks that none shows an error banner and that no request
// failed (every WebSocket response with ok:false fails the run unless listed
// in EXPECTED_ERRORS), sends a chat message and waits for the scripted
// model's reply (--reply), approves a pending device from the devices page
// (--approve), screenshots each page into outDir and prints a JSON summary
// on stdout. Exit status 0 only when every check passed.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const flags = Object.fromEntries(
  process.argv
    .slice(2)
    .filter((a) => a.startsWith('--'))
    .map((a) => {
      const [key, ...rest] = a.slice(2).split('=');
      return [key, rest.join('=')];
    }),
);
const [baseArg, token, outArg] = positional;
if (!baseArg || !token) {
  console.error('usage: node control-ui.mjs <baseUrl> <token> [outDir] [--reply=<text>] [--approve=<deviceId>]');
  process.exit(2);
}
const base = baseArg.replace(/\/+$/, '');
const outDir = outArg ?? fs.mkdtempSync(path.join(os.tmpdir(), 'control-ui-shots-'));
fs.mkdirSync(outDir, { recursive: true });

// The main pages and the UI routes that show them.
const PAGES = [
  { name: 'chat', path: '/chat' },
  { name: 'sessions', path: '/sessions' },
  { name: 'devices', path: '/settings/devices' },
  { name: 'nodes', path: '/systems' },
  { name: 'config', path: '/settings/advanced' },
  { name: 'logs', path: '/logs' },
];

// Error responses that are part of normal operation (none so far).
const EXPECTED_ERRORS = [];

// HTTP failures the UI itself tolerates: images it probes for and falls back
// from (the reference answers 404 for a user or workspace without one).
const EXPECTED_HTTP_FAILURES = [/\/api\/users\/[^/]+\/avatar/, /\/__openclaw__\/workspace-icon\//, /\/avatar\//];

// What a visible error banner looks like in the UI's markup.
const ERROR_BANNERS = '.callout.danger, .oc-banner-error, .lazy-view-error';

const SETTLE_QUIET_MS = 800;
const PAGE_TIMEOUT_MS = 20_000;
const CHAT_TIMEOUT_MS = 30_000;

const failures = [];
const calls = []; // every request the UI sent, in order: {method, ok, error}
let helloAt = null;
const pending = new Map(); // request id -> entry in `calls`

function fail(message) {
  failures.push(message);
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'control-ui-profile-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  // Without the background-networking flags Chromium waits on services it
  // cannot reach from a closed network.
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  viewport: { width: 1280, height: 800 },
});

try {
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page);
  const summary = await run(page);
  console.log(JSON.stringify(summary, null, 2));
  process.exitCode = failures.length === 0 ? 0 : 1;
} catch (error) {
  fail(`aborted: ${error?.stack ?? error}`);
  console.log(JSON.stringify({ ok: false, failures, calls: calls.map((c) => c.method) }, null, 2));
  process.exitCode = 1;
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}

function watch(page) {
  page.on('websocket', (ws) => {
    ws.on('framesent', (frame) => {
      const msg = parseJson(frame.payload);
      if (msg?.type === 'req' && typeof msg.method === 'string') {
        const entry = { method: msg.method, ok: null };
        // Which credential a connect carried (names only, never values).
        if (msg.method === 'connect') entry.auth = Object.keys(msg.params?.auth ?? {}).sort();
        calls.push(entry);
        pending.set(`${msg.id}`, entry);
      }
    });
    ws.on('framereceived', (frame) => {
      const msg = parseJson(frame.payload);
      if (msg?.type !== 'res') return;
      const entry = pending.get(`${msg.id}`);
      pending.delete(`${msg.id}`);
      if (!entry) return;
      entry.ok = msg.ok === true;
      if (entry.method === 'connect' && entry.ok) helloAt = Date.now();
      if (!entry.ok) {
        entry.error = msg.error ?? null;
        const expected = EXPECTED_ERRORS.some(
          (e) => e.method === entry.method && (!e.code || e.code === msg.error?.code),
        );
        if (!expected) fail(`${entry.method} answered ok:false: ${JSON.stringify(msg.error)}`);
      }
    });
  });
  page.on('requestfailed', (request) => {
    const url = request.url();
    if (url.startsWith(base) && !EXPECTED_HTTP_FAILURES.some((re) => re.test(url))) {
      fail(`request failed: ${url} (${request.failure()?.errorText})`);
    }
  });
  page.on('response', (response) => {
    const url = response.url();
    if (response.status() >= 400 && !EXPECTED_HTTP_FAILURES.some((re) => re.test(url))) {
      fail(`HTTP ${response.status()} for ${url}`);
    }
  });
  page.on('pageerror', (error) => {
    // The stack's first frames name the bundle and function that threw.
    const where = (error.stack ?? '').split('\n').slice(1, 4).map((l) => l.trim()).join(' < ');
    fail(`page error: ${error.message}${where ? ` at ${where}` : ''}`);
  });
}

async function run(page) {
  // First load: navigation start to the connected state (hello-ok received
  // and the app rendered its chat composer).
  await page.goto(flags.open || `${base}/#token=${encodeURIComponent(token)}`);
  await waitConnected(page, 0);
  if ('connect-only' in flags) {
    await settle(page);
    const before = calls.length;
    await page.goto(`${base}/chat`);
    await waitConnected(page, before);
    await composer(page).waitFor({ state: 'visible', timeout: PAGE_TIMEOUT_MS });
    await settle(page);
    return {
      ok: failures.length === 0,
      failures,
      url: page.url(),
      calls: calls.map((c) => c.method),
      connects: calls.filter((c) => c.method === 'connect').map((c) => ({ ok: c.ok, auth: c.auth })),
    };
  }
  await composer(page).waitFor({ state: 'visible', timeout: PAGE_TIMEOUT_MS });
  const loadMs = Math.round(await page.evaluate(() => performance.now()));
  const loadCalls = await settle(page);

  const screenshots = [];
  const pages = [];
  for (const { name, path: route } of PAGES) {
    const before = calls.length;
    await page.goto(`${base}${route}`);
    await waitConnected(page, before);
    await settle(page);
    if (name === 'chat') await chat(page);
    if (name === 'devices' && flags.approve) await approveDevice(page, flags.approve);
    await checkNoBanner(page, name);
    const file = path.join(outDir, `${name}.png`);
    await page.screenshot({ path: file });
    screenshots.push(file);
    pages.push({ name, url: page.url(), calls: calls.slice(before).map((c) => c.method) });
  }

  return {
    ok: failures.length === 0,
    failures,
    loadMs,
    loadSequence: loadCalls,
    calls: calls.map((c) => c.method),
    methods: [...new Set(calls.map((c) => c.method))].sort(),
    pages,
    screenshots,
  };
}

function composer(page) {
  return page.getByRole('textbox', { name: 'Chat composer' });
}

// Waits until a `connect` sent after call index `from` was answered ok.
async function waitConnected(page, from) {
  const deadline = Date.now() + PAGE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const connect = calls.slice(from).find((c) => c.method === 'connect');
    if (connect?.ok === true) return;
    if (connect?.ok === false) throw new Error(`connect refused: ${JSON.stringify(connect.error)}`);
    await page.waitForTimeout(50);
  }
  throw new Error(`not connected within ${PAGE_TIMEOUT_MS} ms at ${page.url()}`);
}

// Waits until every request sent so far was answered and none was sent for
// SETTLE_QUIET_MS; returns the methods sent since the last page load.
async function settle(page) {
  const deadline = Date.now() + PAGE_TIMEOUT_MS;
  let seen = -1;
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    const unanswered = calls.some((c) => c.ok === null);
    if (calls.length !== seen || unanswered) {
      seen = calls.length;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= SETTLE_QUIET_MS) {
      break;
    }
    await page.waitForTimeout(100);
  }
  const lastConnect = calls.map((c) => c.method).lastIndexOf('connect');
  return calls.slice(lastConnect).map((c) => c.method);
}

async function checkNoBanner(page, name) {
  const banners = page.locator(ERROR_BANNERS);
  const count = await banners.count();
  for (let i = 0; i < count; i += 1) {
    const banner = banners.nth(i);
    if (await banner.isVisible()) {
      fail(`error banner on ${name}: ${(await banner.innerText()).trim().slice(0, 300)}`);
    }
  }
}

async function chat(page) {
  const reply = flags.reply;
  if (!reply) return;
  const box = composer(page);
  await box.waitFor({ state: 'visible', timeout: PAGE_TIMEOUT_MS });
  await box.fill(flags.message ?? 'Hello from the browser test');
  await box.press('Enter');
  try {
    await page.getByText(reply, { exact: false }).first().waitFor({ state: 'visible', timeout: CHAT_TIMEOUT_MS });
  } catch {
    fail(`the reply "${reply}" never appeared in the chat`);
  }
  const send = calls.find((c) => c.method === 'chat.send');
  if (!send) fail('the chat page never called chat.send');
  await settle(page);
}

async function approveDevice(page, deviceId) {
  const approve = page.getByRole('button', { name: /^approve$/i }).first();
  try {
    await approve.waitFor({ state: 'visible', timeout: PAGE_TIMEOUT_MS });
  } catch {
    fail(`no Approve button on the devices page for pending device ${deviceId}`);
    return;
  }
  const before = calls.length;
  await approve.click();
  const deadline = Date.now() + PAGE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const answer = calls.slice(before).find((c) => c.method === 'device.pair.approve' && c.ok !== null);
    if (answer) {
      if (!answer.ok) fail(`device.pair.approve failed: ${JSON.stringify(answer.error)}`);
      await settle(page);
      return;
    }
    await page.waitForTimeout(100);
  }
  fail('clicking Approve sent no answered device.pair.approve');
}

function parseJson(payload) {
  if (typeof payload !== 'string') return null;
  try {
    return JSON.parse(payload);
  } catch {
    return null;
  }
}
