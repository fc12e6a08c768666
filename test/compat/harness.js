'use strict';
// Test harness for the kurento-client compatibility suite.
//
// - startServer(): runs bin/miksilo on 127.0.0.1:0, waits for its JSON "listening" log line and keeps
//   its output in a temp file (the tail is attached to failing tests).
// - useServer(): one server per test file, started in before() and stopped in after(); its test()
//   wraps node:test's test() so a failure carries the server log tail.
// - Small promise helpers around kurento-client's callback API. kurento-client objects are
//   thenables: resolving a promise with one (or awaiting one) yields a copy that fails the client's own
//   type checks. Every helper therefore resolves to an ARRAY ([value]) and never to the object itself:
//       const [pipeline] = await call(client, 'create', 'MediaPipeline');
// - TcpProxy: a cuttable TCP relay to force kurento-client's automatic reconnection.
// - RawClient: a plain WebSocket JSON-RPC client (npm ws) for frames kurento-client cannot produce.

const assert = require('node:assert/strict');
const net = require('node:net');
const nodeTest = require('node:test');

const lib = require('../lib/server');
const kurento = require('kurento-client');
const WebSocket = require('ws');

const SERVER_ARGS = ['-addr', '127.0.0.1:0', '-log-format', 'json', '-log-level', 'debug', '-gc-period', '3s'];
const CALL_TIMEOUT_MS = 15000;
const TAIL_LINES = 40;
const MAX_LINE = 500;
const KEEP_LINES = 400;

// ---------------------------------------------------------------------------------------------
// Server process (test/lib/server.js, shared with the browser suite)

// startServer starts the server binary and resolves (boxed: [server]) once it listens.
async function startServer({ bin, args = SERVER_ARGS, timeoutMs } = {}) {
  const server = await lib.startServer({
    bin, args, timeoutMs, logPrefix: 'miksilo-compat-', tailLines: TAIL_LINES, maxLine: MAX_LINE, keepLines: KEEP_LINES,
  });
  return [server];
}

// ---------------------------------------------------------------------------------------------
// Per-file fixture

// useServer registers before/after hooks that start one server for the calling test file and stop it
// (and every client opened through the fixture) at the end. Returns the fixture; fixture.server is set
// once before() ran.
function useServer() {
  const fx = {
    server: null,
    clients: [],
    raws: [],
    proxies: [],
    failed: false,

    get url() { return fx.server.url; },

    // client opens a kurento-client connected to url (default: the server) and resolves [client] once
    // the client is ready (strict mode: after getInfo). Closed automatically in after().
    client(opts = {}, url = fx.server.url) {
      return openClient(url, opts).then(([c]) => { fx.clients.push(c); return [c]; });
    },

    raw(opts = {}, url = fx.server.url) {
      return RawClient.open(url, opts).then((r) => { fx.raws.push(r); return r; });
    },

    async proxy() {
      const p = new TcpProxy(fx.server.port);
      await p.start();
      fx.proxies.push(p);
      return p;
    },

    // test wraps node:test's test(): on failure it appends the server log tail to the error.
    test(name, opts, fn) {
      if (typeof opts === 'function') { fn = opts; opts = {}; }
      return nodeTest.test(name, { timeout: 60000, ...opts }, async (t) => {
        try {
          await fn(t);
        } catch (err) {
          fx.failed = true;
          if (fx.server) {
            fx.server.keepLog = true;
            const tail = fx.server.tail();
            if (err && typeof err === 'object') {
              // The reporter prints the stack (captured with the original message) for some errors and the
              // message for others: extend both.
              try { err.message = `${err.message}\n${tail}`; } catch { /* read-only */ }
              try {
                if (typeof err.stack === 'string' && !err.stack.includes(tail)) err.stack = `${err.stack}\n${tail}`;
              } catch { /* read-only */ }
            } else {
              process.stderr.write(`${tail}\n`);
            }
          }
          throw err;
        }
      });
    },
  };

  nodeTest.before(async () => {
    [fx.server] = await startServer();
  });

  nodeTest.after(async () => {
    for (const c of fx.clients) closeClient(c);
    for (const r of fx.raws) r.close();
    for (const p of fx.proxies) p.close();
    // Let the clients' close frames go out before the server is stopped.
    await sleep(100);
    if (fx.server) {
      const exit = await fx.server.stop();
      if (fx.failed) process.stderr.write(`server log kept in ${fx.server.logFile}\n`);
      // A clean shutdown on SIGTERM is part of the contract: report anything else.
      if (exit && exit.signal === 'SIGKILL') {
        process.stderr.write(`warning: server did not exit within ${lib.STOP_TIMEOUT_MS} ms of SIGTERM\n`);
      }
    }
  });

  return fx;
}

// ---------------------------------------------------------------------------------------------
// kurento-client helpers

// duplicates_timeout: kurento-jsonrpc keeps a timer per processed response for this long (default 20 s),
// which would keep each test file alive that long after its last request.
const DEFAULT_CLIENT_OPTS = { failAfter: 5, request_timeout: 10000, duplicates_timeout: 1000 };

// openClient resolves [client] when the client is connected and (strict mode) checked getInfo.
function openClient(url, opts = {}) {
  return new Promise((resolve, reject) => {
    let client;
    const timer = setTimeout(() => reject(new Error(`kurento-client did not become ready within ${CALL_TIMEOUT_MS} ms`)), CALL_TIMEOUT_MS);
    // The callback receives a disguised copy of the client; keep the real one.
    client = kurento(url, { ...DEFAULT_CLIENT_OPTS, ...opts }, (err) => {
      clearTimeout(timer);
      if (err) { closeClient(client); return reject(err); }
      resolve([client]);
    });
  });
}

function closeClient(client) {
  try { client.close(); } catch { /* already closed */ }
}

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout: no answer to ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

function label(obj) {
  if (obj && typeof obj.id === 'string') return obj.id.replace(/^.*\//, '');
  return obj && obj.constructor ? obj.constructor.name : String(obj);
}

// call invokes obj.method(...args, callback) and resolves [value] (boxed, see top of file).
function call(obj, method, ...args) {
  const p = new Promise((resolve, reject) => {
    if (typeof obj[method] !== 'function') throw new TypeError(`${label(obj)} has no method ${method}`);
    obj[method](...args, (err, value) => (err ? reject(err) : resolve([value])));
  });
  return withTimeout(p, CALL_TIMEOUT_MS, `${label(obj)}.${method}()`);
}

// rejection resolves the error a promise rejects with (fails if it fulfils).
async function rejection(promise, what = 'call') {
  let value;
  try {
    [value] = await promise;
  } catch (err) {
    return err;
  }
  assert.fail(`${what} succeeded (${JSON.stringify(value && value.id ? value.id : value)}) but an error was expected`);
}

// expectCode awaits a failing call and checks err.code (and data.type when given).
async function expectCode(promise, code, { type, what = 'call', message } = {}) {
  const err = await rejection(promise, what);
  assert.equal(err.code, code, `${what}: expected error code ${code}, got ${err.code} (${err.message})`);
  if (type !== undefined) {
    assert.equal(err.data && err.data.type, type, `${what}: expected data.type ${type}, got ${JSON.stringify(err.data)}`);
  }
  if (message !== undefined) {
    assert.match(String(err.message), message, `${what}: unexpected message`);
  }
  return err;
}

// EventRecorder collects the data of every event of one type emitted on one kurento-client object.
class EventRecorder {
  constructor(obj, type) {
    this.obj = obj;
    this.type = type;
    this.events = [];
    this.waiters = [];
    this.handler = (data) => {
      this.events.push(data);
      for (const w of this.waiters.slice()) {
        if (w.pred(data)) { w.resolve([data]); this.waiters.splice(this.waiters.indexOf(w), 1); }
      }
    };
  }

  // waitFor resolves [data] for the first (past or future) event matching pred.
  waitFor(pred = () => true, timeoutMs = 5000) {
    const found = this.events.find(pred);
    if (found) return Promise.resolve([found]);
    const p = new Promise((resolve) => this.waiters.push({ pred, resolve }));
    return withTimeout(p, timeoutMs, `${this.type} event on ${label(this.obj)}`);
  }

  stop() {
    this.obj.removeListener(this.type, this.handler);
  }
}

// subscribe adds a listener for `type` on a kurento-client object and resolves once the server
// acknowledged the resulting `subscribe` request (kurento-client itself offers no completion signal:
// it sends the request from inside on()). Resolves the recorder; token = the subscribe result.
function subscribe(obj, type) {
  const rec = new EventRecorder(obj, type);
  const p = new Promise((resolve, reject) => {
    const hadOwn = Object.prototype.hasOwnProperty.call(obj, 'emit');
    const origEmit = obj.emit;
    let hooked = false;
    obj.emit = function (name, tx, method, params, cb) {
      if (!hooked && name === '_rpc' && method === 'subscribe' && params && params.type === type) {
        hooked = true;
        return origEmit.call(this, name, tx, method, params, (err, token) => {
          // On error do not call kurento-client's callback: it re-emits 'error', which throws.
          if (err) return reject(err);
          cb(null, token);
          rec.token = token;
          resolve();
        });
      }
      return origEmit.apply(this, arguments);
    };
    try {
      obj.on(type, rec.handler);
    } catch (err) {
      reject(err);
    } finally {
      if (hadOwn) obj.emit = origEmit; else delete obj.emit;
    }
    if (!hooked) reject(new Error(`kurento-client sent no subscribe for ${type} (a listener already existed?)`));
  });
  return withTimeout(p, CALL_TIMEOUT_MS, `subscribe ${type} on ${label(obj)}`).then(() => rec);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// Cuttable TCP proxy

class TcpProxy {
  constructor(targetPort, targetHost = '127.0.0.1') {
    this.targetPort = targetPort;
    this.targetHost = targetHost;
    this.pairs = new Set();
    this.accepted = 0;
    this.server = net.createServer((client) => this.onConnection(client));
  }

  start() {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve();
      });
    });
  }

  url(pathname = '/kurento') {
    return `ws://127.0.0.1:${this.port}${pathname}`;
  }

  onConnection(client) {
    this.accepted++;
    const upstream = net.connect(this.targetPort, this.targetHost);
    const pair = { client, upstream };
    this.pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  // cut drops every live connection (both directions) without closing the listener; returns how many.
  cut() {
    const n = this.pairs.size;
    for (const { client, upstream } of [...this.pairs]) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
    return n;
  }

  close() {
    this.cut();
    this.server.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Raw JSON-RPC over WebSocket

class RawClient {
  constructor(ws) {
    this.ws = ws;
    this.nextId = 1000;
    this.pending = new Map();
    this.notifications = [];
    this.waiters = [];
    this.received = [];
    this.closed = null;
    ws.on('message', (data) => this.onMessage(String(data)));
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
      for (const [, p] of this.pending) p.reject(new Error(`socket closed (code ${code}) before the response`));
      this.pending.clear();
    });
    ws.on('error', () => { /* reported through close */ });
  }

  // open resolves a RawClient once the WebSocket handshake succeeded.
  static open(url, { origin, headers, timeoutMs = 5000 } = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { origin, headers, handshakeTimeout: timeoutMs });
      ws.once('open', () => resolve(new RawClient(ws)));
      ws.once('unexpected-response', (req, res) => {
        reject(Object.assign(new Error(`handshake refused: HTTP ${res.statusCode}`), { statusCode: res.statusCode }));
        req.destroy();
      });
      ws.once('error', reject);
    });
  }

  onMessage(text) {
    let msg;
    try { msg = JSON.parse(text); } catch { msg = { unparsable: text }; }
    this.received.push(msg);
    if (msg && msg.id !== undefined && msg.id !== null && this.pending.has(msg.id) && msg.method === undefined) {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      p.resolve(msg);
      return;
    }
    this.notifications.push(msg);
    for (const w of this.waiters.slice()) {
      if (w.pred(msg)) { w.resolve(msg); this.waiters.splice(this.waiters.indexOf(w), 1); }
    }
  }

  sendRaw(text) {
    this.ws.send(typeof text === 'string' ? text : JSON.stringify(text));
  }

  // request sends {"jsonrpc":"2.0","method":..,"params":..,"id":..} and resolves the whole response.
  // params === undefined omits the member.
  request(method, params, { id = this.nextId++, timeoutMs = CALL_TIMEOUT_MS } = {}) {
    const msg = { jsonrpc: '2.0', method };
    if (params !== undefined) msg.params = params;
    msg.id = id;
    return this.requestText(JSON.stringify(msg), id, { timeoutMs });
  }

  // requestText sends a verbatim frame and resolves the response carrying `id`.
  requestText(text, id, { timeoutMs = CALL_TIMEOUT_MS } = {}) {
    const p = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.sendRaw(text);
    return withTimeout(p, timeoutMs, `raw frame ${text.slice(0, 60)} (id ${JSON.stringify(id)})`);
  }

  // result sends a request and resolves its result, failing with the error object if there is one.
  async result(method, params, opts) {
    const res = await this.request(method, params, opts);
    assert.equal(res.jsonrpc, '2.0', `response without "jsonrpc":"2.0": ${JSON.stringify(res)}`);
    if (res.error) assert.fail(`${method} ${JSON.stringify(params)} failed: ${JSON.stringify(res.error)}`);
    assert.ok(res.result && typeof res.result === 'object', `${method}: result is not an object: ${JSON.stringify(res)}`);
    return res.result;
  }

  // error sends a request and resolves its error object, failing if it succeeded.
  async error(method, params, opts) {
    const res = await this.request(method, params, opts);
    assert.equal(res.jsonrpc, '2.0', `response without "jsonrpc":"2.0": ${JSON.stringify(res)}`);
    assert.ok(res.error, `${method} ${JSON.stringify(params)}: expected an error, got ${JSON.stringify(res)}`);
    assert.equal(res.result, undefined, `response carries both result and error: ${JSON.stringify(res)}`);
    return res.error;
  }

  waitForNotification(pred = () => true, timeoutMs = 5000) {
    const found = this.notifications.find(pred);
    if (found) return Promise.resolve(found);
    const p = new Promise((resolve) => this.waiters.push({ pred, resolve }));
    return withTimeout(p, timeoutMs, 'notification');
  }

  waitClosed(timeoutMs = 5000) {
    if (this.closed) return Promise.resolve(this.closed);
    const p = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    return withTimeout(p, timeoutMs, 'socket close');
  }

  close() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }
}

// tryHandshake opens a WebSocket and reports how the server treated it without throwing:
// {refused: true, status|error} when the handshake failed, else {refused: false, raw}.
function tryHandshake(url, opts = {}) {
  return RawClient.open(url, opts).then(
    (raw) => ({ refused: false, raw }),
    (err) => ({ refused: true, status: err.statusCode, error: err.message }),
  );
}

module.exports = {
  assert,
  startServer,
  useServer,
  openClient,
  closeClient,
  call,
  rejection,
  expectCode,
  subscribe,
  EventRecorder,
  TcpProxy,
  RawClient,
  tryHandshake,
  withTimeout,
  sleep,
  kurento,
  SERVER_ARGS,
};
