'use strict';
// The server process for the Node suites (test/compat, test/browser): starts bin/miksilo on
// 127.0.0.1:0, waits for its JSON {"msg":"listening","addr":"127.0.0.1:PORT"} log line, keeps its
// output in a temp file and the last lines in memory (attached to failing tests), and makes sure
// no server outlives the test process (exit, SIGINT, SIGTERM). Node built-ins only, so both suites
// can require it whatever their own node_modules hold.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const DEFAULT_BIN = path.resolve(__dirname, '../../bin/miksilo');
const START_TIMEOUT_MS = 10000;
const STOP_TIMEOUT_MS = 5000;

class Server {
  constructor(proc, logDir, logFile, { tailLines, maxLine, keepLines }) {
    this.proc = proc;
    this.logDir = logDir;
    this.logFile = logFile;
    this.lines = [];
    this.exit = null; // {code, signal} once exited
    this.url = null;
    this.addr = null;
    this.port = 0;
    this.keepLog = false;
    this.tailLines = tailLines;
    this.maxLine = maxLine;
    this.keepLines = keepLines;
  }

  record(line) {
    this.lines.push(line);
    if (this.lines.length > this.keepLines) this.lines.splice(0, this.lines.length - this.keepLines);
  }

  // tail returns the last n lines of the server output (from memory; the full log is in logFile).
  tail(n = this.tailLines) {
    const lines = this.lines.slice(-n).map((l) => (l.length > this.maxLine ? `${l.slice(0, this.maxLine)}…` : l));
    let s = `--- last ${lines.length} lines of the server log (${this.logFile}) ---\n${lines.join('\n')}\n--- end of server log ---`;
    if (this.exit) s += `\n(server exited: code=${this.exit.code} signal=${this.exit.signal})`;
    return s;
  }

  async stop() {
    if (!this.exit) {
      const exited = new Promise((resolve) => this.proc.once('exit', resolve));
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(t);
    }
    await new Promise((resolve) => this.logStream.end(resolve));
    if (!this.keepLog) fs.rmSync(this.logDir, { recursive: true, force: true });
    return this.exit;
  }
}

const live = new Set(); // running servers, killed if this process ends first
let handlersInstalled = false;

function installHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const killAll = () => { for (const s of live) { try { s.proc.kill('SIGKILL'); } catch { /* best effort */ } } };
  process.once('exit', killAll);
  // The test runner sends SIGTERM to a test file that hangs.
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => { killAll(); process.exit(sig === 'SIGINT' ? 130 : 143); });
  }
}

// startServer starts the binary with args and resolves the Server once it logged that it listens.
//   bin        path of the binary (default $MIKSILO_BIN or bin/miksilo)
//   args       command line (must make it listen on 127.0.0.1:0 and log JSON)
//   logPrefix  name prefix of the temp log directory
//   tailLines, maxLine, keepLines: how much of the log failures show and memory keeps
function startServer({
  bin = process.env.MIKSILO_BIN || DEFAULT_BIN,
  args,
  logPrefix = 'miksilo-test-',
  timeoutMs = START_TIMEOUT_MS,
  tailLines = 40,
  maxLine = 500,
  keepLines = 400,
} = {}) {
  bin = path.resolve(bin);
  if (!fs.existsSync(bin)) {
    return Promise.reject(new Error(`server binary ${bin} not found: run 'make build' first (or set MIKSILO_BIN)`));
  }
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), logPrefix));
  const logFile = path.join(logDir, 'server.log');
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const server = new Server(proc, logDir, logFile, { tailLines, maxLine, keepLines });
  server.logStream = fs.createWriteStream(logFile);
  live.add(server);
  installHandlers();

  return new Promise((resolve, reject) => {
    let ready = false;
    const timer = setTimeout(() => {
      if (ready) return;
      proc.kill('SIGKILL');
      server.keepLog = true;
      reject(new Error(`server did not log "listening" within ${timeoutMs} ms\n${server.tail()}`));
    }, timeoutMs);

    const onLine = (line) => {
      server.logStream.write(line + '\n');
      server.record(line);
      if (ready) return;
      let rec;
      try { rec = JSON.parse(line); } catch { return; }
      if (rec && rec.msg === 'listening' && typeof rec.addr === 'string') {
        const m = /^127\.0\.0\.1:(\d+)$/.exec(rec.addr);
        if (!m) return;
        ready = true;
        clearTimeout(timer);
        server.addr = rec.addr;
        server.port = Number(m[1]);
        server.url = `ws://${rec.addr}/kurento`;
        resolve(server);
      }
    };
    readline.createInterface({ input: proc.stderr, crlfDelay: Infinity }).on('line', onLine);
    readline.createInterface({ input: proc.stdout, crlfDelay: Infinity }).on('line', onLine);

    proc.once('error', (err) => {
      clearTimeout(timer);
      server.exit = { code: null, signal: null, error: err };
      reject(new Error(`cannot start ${bin}: ${err.message}`));
    });
    proc.once('exit', (code, signal) => {
      server.exit = { code, signal };
      live.delete(server);
      if (!ready) {
        clearTimeout(timer);
        server.keepLog = true;
        // Give readline a moment to flush the last lines before reporting.
        setImmediate(() => reject(new Error(`server exited before listening (code=${code} signal=${signal})\n${server.tail()}`)));
      }
    });
  });
}

module.exports = { startServer, Server, DEFAULT_BIN, STOP_TIMEOUT_MS };
