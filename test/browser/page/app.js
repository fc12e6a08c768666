// Page script of the browser suite, bundled by esbuild (see ../harness.js) and served as /app.js.
//
// It does what a browser-only Kurento application does (kurento-tutorial-js "hello world"):
// kurento-utils' WebRtcPeer owns the RTCPeerConnection and kurento-client speaks JSON-RPC to the media
// server over a WebSocket. The tests drive it through window.miksilo.* with page.evaluate(); every
// function resolves to plain JSON, never to a kurento-client object (those are thenables).
// No 'use strict' here: esbuild would hoist it over the whole bundle, and old browserify-era
// dependencies (websocket-stream's ws shim) find the global object through a sloppy-mode `this`.
//
// Signalling order, per peer (the order of the tutorials' application servers):
//   WebRtcPeer created, generateOffer (the browser starts gathering: its candidates are queued)
//   -> create MediaPipeline / WebRtcEndpoint (or look them up by id)
//   -> subscribe IceCandidateFound (+ diagnostic events)
//   -> addIceCandidate for every queued browser candidate  (i.e. BEFORE processOffer)
//   -> processOffer -> gatherCandidates -> WebRtcPeer.processAnswer
//   later browser candidates go straight to addIceCandidate; IceCandidateFound -> WebRtcPeer.addIceCandidate.

const kurentoUtils = require('kurento-utils');
const kurentoClient = require('kurento-client');

const IceCandidate = kurentoClient.getComplexType('IceCandidate');
const CALL_TIMEOUT_MS = 10000;
// Events recorded for diagnostics besides IceCandidateFound (all in the WebRtcEndpoint's kmd).
const DIAG_EVENTS = ['IceGatheringDone', 'IceComponentStateChanged', 'NewCandidatePairSelected', 'MediaStateChanged', 'ConnectionStateChanged'];

const t0 = performance.now();
const trace = []; // the page's side of the signalling, attached to failing tests
function note(msg) {
  trace.push(`+${((performance.now() - t0) / 1000).toFixed(3)}s ${msg}`);
}

function short(v, n = 300) {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s && s.length > n ? `${s.slice(0, n)}…` : s;
}

function errText(err) {
  if (!err) return String(err);
  if (typeof err === 'string') return err;
  let s = err.message || String(err);
  if (err.code !== undefined) s += ` (code ${err.code})`;
  if (err.data !== undefined) s += ` data=${short(err.data)}`;
  return s;
}

// fail makes an Error without the bundle's stack frames (playwright reports message and stack).
function fail(msg) {
  const err = new Error(msg);
  err.stack = `Error: ${msg}`;
  return err;
}

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(fail(`timeout: no answer to ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

function label(obj) {
  if (obj && typeof obj.id === 'string') return obj.id.replace(/^.*\//, '');
  return obj && obj.constructor ? obj.constructor.name : String(obj);
}

// call invokes obj.method(...args, cb) and resolves [value] (boxed: see the top of the file).
function call(obj, method, ...args) {
  const what = `${label(obj)}.${method}(${args.map((a) => short(a && a.id ? label(a) : a, 60)).join(', ')})`;
  note(`-> ${what}`);
  const p = new Promise((resolve, reject) => {
    if (typeof obj[method] !== 'function') throw fail(`${label(obj)} has no method ${method}`);
    obj[method](...args, (err, value) => {
      if (err) {
        note(`<- ${method} ERROR ${errText(err)}`);
        return reject(fail(`${what} failed: ${errText(err)}`));
      }
      note(`<- ${method} ${short(value && value.id ? label(value) : value, 120)}`);
      resolve([value]);
    });
  });
  return withTimeout(p, CALL_TIMEOUT_MS, what);
}

// subscribe adds a listener and resolves once the server acknowledged the `subscribe` request
// (kurento-client sends it from inside on() and offers no completion signal of its own).
function subscribe(obj, type, handler) {
  const p = new Promise((resolve, reject) => {
    const hadOwn = Object.prototype.hasOwnProperty.call(obj, 'emit');
    const origEmit = obj.emit;
    let hooked = false;
    obj.emit = function (name, tx, method, params, cb) {
      if (!hooked && name === '_rpc' && method === 'subscribe' && params && params.type === type) {
        hooked = true;
        return origEmit.call(this, name, tx, method, params, (err, token) => {
          // On error kurento-client's own callback re-emits 'error', which throws: report it here.
          if (err) return reject(fail(`subscribe ${type} on ${label(obj)} failed: ${errText(err)}`));
          cb(null, token);
          resolve();
        });
      }
      return origEmit.apply(this, arguments);
    };
    try {
      obj.on(type, handler);
    } catch (err) {
      reject(err);
    } finally {
      if (hadOwn) obj.emit = origEmit; else delete obj.emit;
    }
    if (!hooked) reject(fail(`kurento-client sent no subscribe for ${type}`));
  });
  return withTimeout(p, CALL_TIMEOUT_MS, `subscribe ${type} on ${label(obj)}`);
}

function connectClient(wsUri) {
  note(`connect ${wsUri}`);
  const p = new Promise((resolve, reject) => {
    // The callback receives a disguised copy of the client; keep the real one.
    const client = kurentoClient(wsUri, { failAfter: 3, request_timeout: CALL_TIMEOUT_MS, duplicates_timeout: 1000 }, (err) => {
      if (err) {
        note(`connect ERROR ${errText(err)}`);
        try { client.close(); } catch { /* not open */ }
        return reject(fail(`kurento-client could not connect to ${wsUri}: ${errText(err)}`));
      }
      note('connected');
      resolve([client]);
    });
  });
  return withTimeout(p, CALL_TIMEOUT_MS, `kurento-client connect to ${wsUri}`);
}

// ---------------------------------------------------------------------------------------------
// Peers: one WebRtcPeer (or a raw RTCPeerConnection for the self-test) plus the <video> it plays.

const peers = {};
let nextPeer = 1;

function makeVideo(id) {
  const video = document.createElement('video');
  video.id = id;
  video.autoplay = true;
  video.muted = true; // autoplay without a user gesture
  video.playsInline = true;
  document.getElementById('videos').appendChild(video);
  return video;
}

function newPeer(role) {
  const id = `${role}${nextPeer++}`;
  const rec = {
    id,
    role,
    remoteVideo: role === 'presenter' ? null : makeVideo(`${id}-remote`),
    localVideo: role === 'viewer' ? null : makeVideo(`${id}-local`),
    rvfc: 0, // requestVideoFrameCallback count on the remote video
    pending: [], // browser candidates gathered before the endpoint exists
    browserCandidates: [],
    serverCandidates: [],
    addedBeforeOffer: 0,
    events: [],
    errors: [],
    endpoint: null,
    webRtcPeer: null,
    pc: null,
    hubPort: null, // the HubPort of this peer (Composite scenarios)
  };
  if (rec.remoteVideo && typeof rec.remoteVideo.requestVideoFrameCallback === 'function') {
    const onFrame = () => {
      rec.rvfc++;
      rec.remoteVideo.requestVideoFrameCallback(onFrame);
    };
    rec.remoteVideo.requestVideoFrameCallback(onFrame);
  }
  peers[id] = rec;
  return rec;
}

function peerConnection(rec) {
  return rec.pc || (rec.webRtcPeer && rec.webRtcPeer.peerConnection);
}

const DEFAULT_VIDEO = { width: 640, height: 480, frameRate: 15 };

// createWebRtcPeer creates a kurento-utils WebRtcPeer of the given kind and resolves its SDP offer.
// video: the camera constraints (getUserMedia) of a sending peer.
function createWebRtcPeer(rec, kind, video = DEFAULT_VIDEO) {
  return new Promise((resolve, reject) => {
    const options = {
      localVideo: rec.localVideo || undefined,
      remoteVideo: rec.remoteVideo || undefined,
      mediaConstraints: { audio: true, video },
      // No STUN/TURN: there is no network but loopback (the suite runs in its own network namespace).
      configuration: { iceServers: [] },
      onicecandidate: (candidate) => {
        rec.browserCandidates.push(candidate.candidate);
        if (!rec.endpoint) {
          rec.pending.push(candidate);
          return;
        }
        addCandidate(rec, candidate, 'after processOffer').catch((err) => rec.errors.push(err.message));
      },
    };
    note(`${rec.id}: WebRtcPeer${kind}`);
    rec.webRtcPeer = kurentoUtils.WebRtcPeer[`WebRtcPeer${kind}`](options, function (err) {
      if (err) return reject(fail(`WebRtcPeer${kind}: ${errText(err)}`));
      this.generateOffer((err2, offer) => {
        if (err2) return reject(fail(`generateOffer: ${errText(err2)}`));
        note(`${rec.id}: offer ready (${offer.length} bytes)`);
        rec.offer = offer;
        resolve(offer);
      });
    });
    const pc = rec.webRtcPeer.peerConnection;
    pc.addEventListener('iceconnectionstatechange', () => note(`${rec.id}: iceConnectionState ${pc.iceConnectionState}`));
    pc.addEventListener('connectionstatechange', () => note(`${rec.id}: connectionState ${pc.connectionState}`));
  });
}

function addCandidate(rec, candidate, when) {
  if (when === 'before processOffer') rec.addedBeforeOffer++;
  return call(rec.endpoint, 'addIceCandidate', new IceCandidate(candidate));
}

// negotiate runs the signalling between rec.webRtcPeer (offer ready) and a WebRtcEndpoint.
async function negotiate(rec, endpoint) {
  await subscribe(endpoint, 'IceCandidateFound', (ev) => {
    const c = ev.candidate;
    rec.serverCandidates.push(c && c.candidate);
    rec.webRtcPeer.addIceCandidate(c, (err) => {
      if (err) rec.errors.push(`WebRtcPeer.addIceCandidate(${short(c)}): ${errText(err)}`);
    });
  });
  for (const type of DIAG_EVENTS) {
    await subscribe(endpoint, type, (ev) => {
      const { type: t, source, tags, timestamp, timestampMillis, ...rest } = ev;
      rec.events.push(`${type} ${short(rest, 200)}`);
    });
  }
  rec.endpoint = endpoint;
  // Browser candidates gathered while the endpoint was being created: added before processOffer.
  for (const c of rec.pending.splice(0)) await addCandidate(rec, c, 'before processOffer');
  const [answer] = await call(endpoint, 'processOffer', rec.offer);
  rec.answer = answer;
  await call(endpoint, 'gatherCandidates');
  await new Promise((resolve, reject) => {
    rec.webRtcPeer.processAnswer(answer, (err) => (err ? reject(fail(`WebRtcPeer.processAnswer: ${errText(err)}\nanswer:\n${answer}`)) : resolve()));
  });
  note(`${rec.id}: answer applied`);
}

function summary(rec, extra = {}) {
  return {
    id: rec.id,
    endpointId: rec.endpoint ? rec.endpoint.id : null,
    addedBeforeOffer: rec.addedBeforeOffer,
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------
// Scenarios

const clients = [];

// helloWorld: pipeline + one WebRtcEndpoint connected to itself, the fake camera sent and played back.
async function helloWorld(wsUri) {
  const rec = newPeer('loopback');
  await createWebRtcPeer(rec, 'Sendrecv');
  const [client] = await connectClient(wsUri);
  clients.push(client);
  const [pipeline] = await call(client, 'create', 'MediaPipeline');
  const [endpoint] = await call(pipeline, 'create', 'WebRtcEndpoint');
  await call(endpoint, 'connect', endpoint);
  await negotiate(rec, endpoint);
  return summary(rec, { pipelineId: pipeline.id });
}

// presenter: a sendonly WebRtcPeer publishing to its own WebRtcEndpoint in a new pipeline.
async function presenter(wsUri) {
  const rec = newPeer('presenter');
  await createWebRtcPeer(rec, 'Sendonly');
  const [client] = await connectClient(wsUri);
  clients.push(client);
  const [pipeline] = await call(client, 'create', 'MediaPipeline');
  const [endpoint] = await call(pipeline, 'create', 'WebRtcEndpoint');
  await negotiate(rec, endpoint);
  return summary(rec, { pipelineId: pipeline.id });
}

// viewer: a recvonly WebRtcPeer with its own WebRtcEndpoint in the presenter's pipeline (looked up
// by id over this page's own connection: kurento-client's getMediaobjectById), fed by presenterEndpoint.connect(viewerEndpoint).
async function viewer(wsUri, pipelineId, presenterEndpointId) {
  const rec = newPeer('viewer');
  await createWebRtcPeer(rec, 'Recvonly');
  const [client] = await connectClient(wsUri);
  clients.push(client);
  const [pipeline] = await call(client, 'getMediaobjectById', pipelineId);
  const [source] = await call(client, 'getMediaobjectById', presenterEndpointId);
  const [endpoint] = await call(pipeline, 'create', 'WebRtcEndpoint');
  await call(source, 'connect', endpoint);
  await negotiate(rec, endpoint);
  return summary(rec, { pipelineId });
}

// createComposite: the page of a "live show" organiser (Kurento's group call): a new pipeline and a
// Composite with Kurento's own constructor params (e.g. {width, height, framerate}). No media here.
async function createComposite(wsUri, params) {
  const [client] = await connectClient(wsUri);
  clients.push(client);
  const [pipeline] = await call(client, 'create', 'MediaPipeline');
  const [composite] = await call(pipeline, 'create', 'Composite', params);
  return { pipelineId: pipeline.id, compositeId: composite.id };
}

// lookUp resolves the pipeline and the Composite of another page by id over this page's connection.
async function lookUp(client, pipelineId, compositeId) {
  const [pipeline] = await call(client, 'getMediaobjectById', pipelineId);
  const [composite] = await call(client, 'getMediaobjectById', compositeId);
  return { pipeline, composite };
}

// compositeHost: a sendrecv WebRtcPeer (camera constraints `video`) with its own WebRtcEndpoint and
// its own HubPort of the Composite, connected both ways as in Kurento's group call:
// endpoint.connect(hubPort) publishes, hubPort.connect(endpoint) brings the mix back.
async function compositeHost(wsUri, pipelineId, compositeId, video) {
  const rec = newPeer('host');
  await createWebRtcPeer(rec, 'Sendrecv', video);
  const [client] = await connectClient(wsUri);
  clients.push(client);
  const { pipeline, composite } = await lookUp(client, pipelineId, compositeId);
  const [endpoint] = await call(pipeline, 'create', 'WebRtcEndpoint');
  const [hubPort] = await call(composite, 'createHubPort');
  rec.hubPort = hubPort;
  await call(endpoint, 'connect', hubPort);
  await call(hubPort, 'connect', endpoint);
  await negotiate(rec, endpoint);
  return summary(rec, { pipelineId, hubPortId: hubPort.id });
}

// compositeViewer: a recvonly WebRtcPeer whose WebRtcEndpoint is fed by a HubPort of its own
// (hubPort.connect(endpoint)): it receives the mix and publishes nothing.
async function compositeViewer(wsUri, pipelineId, compositeId) {
  const rec = newPeer('viewer');
  await createWebRtcPeer(rec, 'Recvonly');
  const [client] = await connectClient(wsUri);
  clients.push(client);
  const { pipeline, composite } = await lookUp(client, pipelineId, compositeId);
  const [endpoint] = await call(pipeline, 'create', 'WebRtcEndpoint');
  const [hubPort] = await call(composite, 'createHubPort');
  rec.hubPort = hubPort;
  await call(hubPort, 'connect', endpoint);
  await negotiate(rec, endpoint);
  return summary(rec, { pipelineId, hubPortId: hubPort.id });
}

// releaseHubPort releases the HubPort a peer of this page was given (a host leaving the show).
async function releaseHubPort(id) {
  const rec = peers[id];
  if (!rec || !rec.hubPort) throw fail(`no HubPort for peer ${id}`);
  await call(rec.hubPort, 'release');
  rec.hubPort = null;
}

// selfTest: no server: two RTCPeerConnections in this page, the fake camera from one to the other.
async function selfTest() {
  const rec = newPeer('self');
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480, frameRate: 15 } });
  rec.localVideo.srcObject = stream;
  const a = new RTCPeerConnection({ iceServers: [] });
  const b = new RTCPeerConnection({ iceServers: [] });
  rec.pc = b;
  rec.pcA = a;
  a.onicecandidate = (e) => { if (e.candidate) { rec.browserCandidates.push(e.candidate.candidate); b.addIceCandidate(e.candidate); } };
  b.onicecandidate = (e) => { if (e.candidate) { rec.serverCandidates.push(e.candidate.candidate); a.addIceCandidate(e.candidate); } };
  b.ontrack = (e) => { if (rec.remoteVideo.srcObject !== e.streams[0]) rec.remoteVideo.srcObject = e.streams[0]; };
  for (const track of stream.getTracks()) a.addTrack(track, stream);
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  return summary(rec);
}

// progress samples what the remote video of a peer shows: requestVideoFrameCallback count, the
// inbound RTP statistics and the state of the RTCPeerConnection.
async function progress(id) {
  const rec = peers[id];
  if (!rec) throw fail(`no peer ${id}`);
  const pc = peerConnection(rec);
  const out = {
    rvfc: rec.rvfc,
    video: null,
    audio: null,
    width: rec.remoteVideo ? rec.remoteVideo.videoWidth : 0,
    height: rec.remoteVideo ? rec.remoteVideo.videoHeight : 0,
    paused: rec.remoteVideo ? rec.remoteVideo.paused : null,
    iceConnectionState: pc ? pc.iceConnectionState : null,
    connectionState: pc ? pc.connectionState : null,
    outbound: null,
  };
  if (pc) {
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && (s.kind === 'video' || s.kind === 'audio')) {
        out[s.kind] = {
          packetsReceived: s.packetsReceived || 0,
          bytesReceived: s.bytesReceived || 0,
          framesDecoded: s.framesDecoded || 0,
          framesReceived: s.framesReceived || 0,
          keyFramesDecoded: s.keyFramesDecoded || 0,
          frameWidth: s.frameWidth || 0,
          frameHeight: s.frameHeight || 0,
          codec: s.codecId ? (stats.get(s.codecId) || {}).mimeType : undefined,
        };
      }
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        out.outbound = {
          packetsSent: s.packetsSent || 0,
          framesEncoded: s.framesEncoded || 0,
          frameWidth: s.frameWidth || 0,
          frameHeight: s.frameHeight || 0,
        };
      }
    });
  }
  return out;
}

// lumaGrid draws the frame the remote video of a peer shows now into a canvas and returns the mean
// luminance (0-255) of each cell of a cols x rows grid over it, row by row (for layout checks: a
// Composite's background is black, Chromium's fake camera is grey with a moving pattern).
function lumaGrid(id, cols, rows) {
  const rec = peers[id];
  if (!rec || !rec.remoteVideo) throw fail(`no remote video for peer ${id}`);
  const v = rec.remoteVideo;
  const w = v.videoWidth;
  const h = v.videoHeight;
  if (!w || !h) return { width: w, height: h, grid: [] };
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const g = canvas.getContext('2d', { willReadFrequently: true });
  g.drawImage(v, 0, 0, w, h);
  const data = g.getImageData(0, 0, w, h).data;
  const grid = [];
  for (let r = 0; r < rows; r++) {
    const line = [];
    const y0 = Math.floor((r * h) / rows);
    const y1 = Math.floor(((r + 1) * h) / rows);
    for (let c = 0; c < cols; c++) {
      const x0 = Math.floor((c * w) / cols);
      const x1 = Math.floor(((c + 1) * w) / cols);
      let sum = 0;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const i = (y * w + x) * 4;
          sum += 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
        }
      }
      line.push(Math.round(sum / ((y1 - y0) * (x1 - x0))));
    }
    grid.push(line);
  }
  return { width: w, height: h, grid };
}

// details returns everything recorded about a peer (for assertions and failure reports).
function details(id) {
  const rec = peers[id];
  if (!rec) throw fail(`no peer ${id}`);
  return {
    id,
    browserCandidates: rec.browserCandidates,
    serverCandidates: rec.serverCandidates,
    addedBeforeOffer: rec.addedBeforeOffer,
    events: rec.events,
    errors: rec.errors,
    offer: rec.offer || null,
    answer: rec.answer || null,
  };
}

function close() {
  for (const rec of Object.values(peers)) {
    try { if (rec.webRtcPeer) rec.webRtcPeer.dispose(); } catch { /* ignore */ }
    try { if (rec.pc) rec.pc.close(); if (rec.pcA) rec.pcA.close(); } catch { /* ignore */ }
  }
  for (const c of clients.splice(0)) {
    try { c.close(); } catch { /* ignore */ }
  }
}

window.miksilo = {
  helloWorld,
  presenter,
  viewer,
  createComposite,
  compositeHost,
  compositeViewer,
  releaseHubPort,
  selfTest,
  progress,
  lumaGrid,
  details,
  close,
  trace: () => trace.slice(),
};
