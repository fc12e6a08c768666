'use strict';
// Harness of the browser end-to-end suite (run by scripts/test-browser.sh inside a network namespace
// that has only `lo`).
//
// - startServer(): bin/miksilo on 127.0.0.1:0 with its WebRTC restricted to loopback; waits for the
//   JSON "listening" log line (the approach of test/compat/harness.js).
// - buildPage() / startStatic(): page/app.js (kurento-utils + kurento-client) bundled by esbuild in
//   memory and served with page/index.html by a small HTTP server on 127.0.0.1.
// - launchBrowser(): Debian's Chromium through playwright-core, one per test file, in a fresh profile.
// - useSuite(): before/after hooks for one test file; its test() attaches the server log tail, the
//   page traces and the browser console to failures.
// - waitForFrames(): polls a page's remote video until frames are decoded and rendered over time.

const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const nodeTest = require('node:test');

const lib = require('../lib/server');

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
// Restricts the server's ICE to 127.0.0.1 (flag of the WebRtcEndpoint).
const LOOPBACK_FLAG = '-webrtc-loopback-only';
const SERVER_ARGS = ['-addr', '127.0.0.1:0', '-log-format', 'json', '-log-level', 'debug', LOOPBACK_FLAG];
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
];
const TAIL_LINES = 60;
const MAX_LINE = 600;
const KEEP_LINES = 2000;

// ---------------------------------------------------------------------------------------------
// Network isolation

// assertIsolatedNetwork fails unless the only network interfaces are loopback ones: the suite must
// run in its own network namespace (scripts/test-browser.sh), where Chromium cannot use, or send ICE
// checks from, any other address. MIKSILO_BROWSER_HOST_NETWORK=1 skips the check (debugging only).
function assertIsolatedNetwork() {
  if (process.env.MIKSILO_BROWSER_HOST_NETWORK === '1') return;
  const names = Object.keys(os.networkInterfaces()).filter((n) => n !== 'lo');
  if (names.length) {
    throw new Error(`the browser suite must run in a network namespace with only 'lo' (found ${names.join(', ')}): ` +
      `use scripts/test-browser.sh (or set MIKSILO_BROWSER_HOST_NETWORK=1 to run on the host network anyway)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Server process

const cleanups = new Set(); // synchronous last-resort cleanups (Chromium profiles) on exit and signals
let handlersInstalled = false;

function installHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const runAll = () => { for (const f of cleanups) { try { f(); } catch { /* best effort */ } } };
  process.once('exit', runAll);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => { runAll(); process.exit(sig === 'SIGINT' ? 130 : 143); });
  }
}

// serverHelp returns the binary's -help text (Go's flag package prints it on stderr).
function serverHelp(bin) {
  const r = spawnSync(bin, ['-help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10000 });
  return `${r.stdout || ''}${r.stderr || ''}`;
}

// startServer starts bin/miksilo (test/lib/server.js, shared with the compat suite) and resolves the
// Server once it listens. The binary must have the loopback-only ICE flag the suite relies on.
function startServer({ bin = process.env.MIKSILO_BIN || lib.DEFAULT_BIN, args = SERVER_ARGS, timeoutMs } = {}) {
  bin = path.resolve(__dirname, bin);
  if (fs.existsSync(bin) && args.includes(LOOPBACK_FLAG) && !serverHelp(bin).includes(LOOPBACK_FLAG)) {
    return Promise.reject(new Error(`${bin} has no ${LOOPBACK_FLAG} flag (see '${bin} -help'): ` +
      'this build has no WebRtcEndpoint with loopback-only ICE, which the browser suite needs'));
  }
  return lib.startServer({
    bin, args, timeoutMs, logPrefix: 'miksilo-browser-', tailLines: TAIL_LINES, maxLine: MAX_LINE, keepLines: KEEP_LINES,
  });
}

// ---------------------------------------------------------------------------------------------
// Page bundle and static server

let bundleCache = null;

// buildPage bundles page/app.js for the browser (in memory). kurento-client and its dependencies are
// written for Node/browserify: the Node core modules they use map to the usual browser shims.
async function buildPage() {
  if (bundleCache) return bundleCache;
  const esbuild = require('esbuild');
  const shims = {
    domain: path.join(__dirname, 'page/shims/domain.js'),
    stream: require.resolve('stream-browserify'),
    events: require.resolve('events/'),
    util: require.resolve('util/'),
    buffer: require.resolve('buffer/'),
    url: require.resolve('url/'),
  };
  const result = await esbuild.build({
    entryPoints: [path.join(__dirname, 'page/app.js')],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'chrome100',
    write: false,
    sourcemap: 'inline',
    logLevel: 'silent',
    define: { global: 'globalThis' },
    inject: [path.join(__dirname, 'page/shims/node-globals.js')],
    plugins: [{
      name: 'node-shims',
      setup(build) {
        build.onResolve({ filter: /^(domain|stream|events|util|buffer|url)$/ }, (args) => ({ path: shims[args.path] }));
      },
    }],
  });
  bundleCache = {
    'index.html': { type: 'text/html; charset=utf-8', body: fs.readFileSync(path.join(__dirname, 'page/index.html')) },
    'app.js': { type: 'text/javascript; charset=utf-8', body: Buffer.from(result.outputFiles[0].contents) },
  };
  return bundleCache;
}

// startStatic serves the page on 127.0.0.1:0; resolves {url, close()}.
async function startStatic() {
  const files = await buildPage();
  const srv = http.createServer((req, res) => {
    const name = new URL(req.url, 'http://x').pathname.replace(/^\/+/, '') || 'index.html';
    const f = files[name];
    if (name === 'favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    if (!f) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-store' });
    res.end(f.body);
  });
  await new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${srv.address().port}/`,
    close: () => new Promise((resolve) => { srv.closeAllConnections && srv.closeAllConnections(); srv.close(() => resolve()); }),
  };
}

// ---------------------------------------------------------------------------------------------
// Browser

// launchBrowser starts Chromium with a fresh profile; resolves {context, profileDir, close()}.
async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: run 'scripts/install-deps.sh --test' (Debian package chromium)`);
  }
  const { chromium } = require('playwright-core');
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'miksilo-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30000,
  });
  const cleanup = () => { try { fs.rmSync(profileDir, { recursive: true, force: true }); } catch { /* ignore */ } };
  cleanups.add(cleanup);
  installHandlers();
  return {
    context,
    profileDir,
    async close() {
      try { await context.close(); } catch { /* already gone */ }
      cleanup();
      cleanups.delete(cleanup);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Per-file fixture

function useSuite({ server: withServer = true } = {}) {
  const fx = {
    server: null,
    web: null,
    browser: null,
    pages: [],
    failed: false,

    // page opens a new tab on the test page; its console output and errors are recorded.
    async page(name = `page${fx.pages.length + 1}`) {
      const page = await fx.browser.context.newPage();
      const entry = { name, page, console: [] };
      fx.pages.push(entry);
      // kurento-utils logs every SDP at debug level: keep the rest.
      page.on('console', (m) => { if (m.type() !== 'debug') entry.console.push(`[${m.type()}] ${m.text()}`.slice(0, MAX_LINE)); });
      page.on('pageerror', (e) => entry.console.push(`[pageerror] ${e.message}`.slice(0, MAX_LINE)));
      await page.goto(fx.web.url);
      await page.waitForFunction(() => !!window.miksilo, null, { timeout: 10000 });
      return page;
    },

    // report collects what the pages and the server recorded, for a failure message.
    async report() {
      const parts = [];
      for (const { name, page, console: lines } of fx.pages) {
        let trace = [];
        let peers = [];
        try {
          trace = await page.evaluate(() => window.miksilo.trace());
          peers = await page.evaluate(async () => {
            const out = [];
            for (const el of document.querySelectorAll('video[id$="-remote"], video[id$="-local"]')) {
              const id = el.id.replace(/-(remote|local)$/, '');
              if (out.some((p) => p.id === id)) continue;
              out.push({ ...window.miksilo.details(id), progress: await window.miksilo.progress(id) });
            }
            return out;
          });
        } catch (err) {
          trace = [`(could not read the page: ${err.message})`];
        }
        parts.push(`--- page ${name}: signalling trace ---\n${trace.join('\n')}`);
        for (const p of peers) {
          const { offer, answer, ...rest } = p;
          parts.push(`--- page ${name}: peer ${p.id} ---\n${JSON.stringify(rest, null, 1)}\n--- SDP answer of ${p.id} ---\n${answer || '(none)'}`);
        }
        if (lines.length) parts.push(`--- page ${name}: console (last 30) ---\n${lines.slice(-30).join('\n')}`);
      }
      if (fx.server) parts.push(fx.server.tail());
      return parts.join('\n');
    },

    test(name, opts, fn) {
      if (typeof opts === 'function') { fn = opts; opts = {}; }
      return nodeTest.test(name, { timeout: 60000, ...opts }, async (t) => {
        try {
          await fn(t);
        } catch (err) {
          fx.failed = true;
          if (fx.server) fx.server.keepLog = true;
          let rep;
          try { rep = await fx.report(); } catch (e) { rep = `(report failed: ${e.message})`; }
          if (err && typeof err === 'object') {
            try { err.message = `${err.message}\n${rep}`; } catch { /* read-only */ }
            try { if (typeof err.stack === 'string') err.stack = `${err.stack}\n${rep}`; } catch { /* read-only */ }
          } else {
            process.stderr.write(`${rep}\n`);
          }
          throw err;
        }
      });
    },
  };

  nodeTest.before(async () => {
    assertIsolatedNetwork();
    // Start the parts in parallel: the browser takes the longest.
    const [server, web, browser] = await Promise.all([
      withServer ? startServer() : null,
      startStatic(),
      launchBrowser(),
    ]);
    Object.assign(fx, { server, web, browser });
  });

  nodeTest.after(async () => {
    for (const { page } of fx.pages) {
      try { await page.evaluate(() => window.miksilo && window.miksilo.close()); } catch { /* closed */ }
    }
    if (fx.browser) await fx.browser.close();
    if (fx.web) await fx.web.close();
    if (fx.server) {
      const exit = await fx.server.stop();
      if (fx.failed) process.stderr.write(`server log kept in ${fx.server.logFile}\n`);
      if (exit && exit.signal === 'SIGKILL') process.stderr.write(`warning: server did not exit within ${lib.STOP_TIMEOUT_MS} ms of SIGTERM\n`);
    }
  });

  return fx;
}

// ---------------------------------------------------------------------------------------------
// Assertions on playing video

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// waitForFrames waits until the remote video of peer `id` on `page` plays with frames advancing:
// first until it decodes frames at all (within timeoutMs), then until the decoder's framesDecoded
// advanced by at least minFrames more (within windowMs). With render (the default) the page is
// brought to the front first (Chromium hardly paints background tabs) and the frames painted in the
// <video> (requestVideoFrameCallback) must advance as well. Resolves the last sample; fails with the
// samples seen.
async function waitForFrames(page, id, { timeoutMs = 20000, windowMs = 6000, minFrames = 10, render = true, what = id } = {}) {
  if (render) await page.bringToFront();
  const deadline = Date.now() + timeoutMs;
  const samples = [];
  const sample = async () => {
    const s = await page.evaluate((pid) => window.miksilo.progress(pid), id);
    samples.push(s);
    return s;
  };
  const show = () => samples.slice(-6).map((s) => JSON.stringify(s)).join('\n  ');
  const playing = (s) => s.video && s.video.framesDecoded > 0 && (!render || s.rvfc > 0);
  let first = await sample();
  while (!playing(first)) {
    if (Date.now() > deadline) {
      assert.fail(`${what}: no video ${render ? 'decoded and painted' : 'decoded'} within ${timeoutMs} ms; last samples:\n  ${show()}`);
    }
    await sleep(250);
    first = await sample();
  }
  const windowEnd = Date.now() + windowMs;
  let last = first;
  while (Date.now() < windowEnd) {
    await sleep(250);
    last = await sample();
    if (last.video.framesDecoded - first.video.framesDecoded >= minFrames && (!render || last.rvfc - first.rvfc >= minFrames)) {
      assert.ok(last.width > 0 && last.height > 0, `${what}: video plays without a size: ${JSON.stringify(last)}`);
      return last;
    }
  }
  assert.fail(`${what}: video frames stopped advancing (wanted +${minFrames} ${render ? 'decoded and painted' : 'decoded'} frames ` +
    `within ${windowMs} ms of the first); samples:\n  ${show()}`);
}

module.exports = {
  assert,
  useSuite,
  startServer,
  startStatic,
  buildPage,
  launchBrowser,
  waitForFrames,
  sleep,
  SERVER_ARGS,
  CHROMIUM_ARGS,
};
