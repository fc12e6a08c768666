'use strict';
// (a) Hello world (kurento-tutorial-js): one MediaPipeline, one WebRtcEndpoint connected to itself;
// the page sends Chromium's fake camera and microphone and plays what comes back.
const { assert, useSuite, waitForFrames, sleep } = require('../harness');

const fx = useSuite();
let hello = null; // {page, id} once the loopback call is up

fx.test('hello world: a WebRtcEndpoint connected to itself plays the fake camera back', async () => {
  const page = await fx.page('hello');
  const r = await page.evaluate((ws) => window.miksilo.helloWorld(ws), fx.server.url);
  await waitForFrames(page, r.id, { what: 'looped-back video' });
  hello = { page, id: r.id };

  const d = await page.evaluate((id) => window.miksilo.details(id), r.id);
  assert.deepEqual(d.errors, [], 'errors while exchanging ICE candidates');
  // The browser gathers while the pipeline and endpoint are created: those candidates reach the
  // endpoint before processOffer, as with the tutorials' application servers.
  assert.ok(d.addedBeforeOffer > 0, `no browser candidate was added before processOffer (harness timing?): ${JSON.stringify(d)}`);
  // Trickle ICE from the server after gatherCandidates, and only on loopback (-webrtc-loopback-only).
  assert.ok(d.serverCandidates.length > 0, 'no IceCandidateFound event after gatherCandidates');
  for (const c of d.serverCandidates) {
    assert.match(String(c), /^candidate:\S+ \d+ (udp|tcp|UDP|TCP) \d+ 127\.0\.0\.1 \d+ typ /, `server candidate not on 127.0.0.1: ${c}`);
  }
});

fx.test('hello world: the fake microphone loops back too', async (t) => {
  if (!hello) return t.skip('the video call did not come up');
  const { page, id } = hello;
  const a = await page.evaluate((pid) => window.miksilo.progress(pid), id);
  await sleep(1500);
  const b = await page.evaluate((pid) => window.miksilo.progress(pid), id);
  assert.ok(a.audio && b.audio, `no inbound audio RTP stream: ${JSON.stringify(b)}`);
  assert.ok(b.audio.packetsReceived - a.audio.packetsReceived >= 20,
    `audio packets are not arriving: ${a.audio.packetsReceived} -> ${b.audio.packetsReceived} in 1.5 s`);
});
