'use strict';
// Harness self-test, no media server: two RTCPeerConnections in one page send Chromium's fake camera
// to each other over loopback. When this fails, the other files' failures are about Chromium, its
// flags or the network namespace, not about Miksilo.
const { assert, useSuite, waitForFrames } = require('../harness');

const fx = useSuite({ server: false });

fx.test('Chromium plays its fake camera through a loopback RTCPeerConnection pair', async () => {
  const page = await fx.page('self');
  const { id } = await page.evaluate(() => window.miksilo.selfTest());
  const last = await waitForFrames(page, id, { timeoutMs: 15000, what: 'self-test video' });
  const d = await page.evaluate((pid) => window.miksilo.details(pid), id);
  // Inside the namespace the only usable address is loopback: every host candidate says 127.0.0.1.
  const hosts = d.browserCandidates.filter((c) => / typ host/.test(c));
  assert.ok(hosts.length > 0, `no host candidates: ${JSON.stringify(d.browserCandidates)}`);
  for (const c of hosts) assert.match(c, / 127\.0\.0\.1 /, `non-loopback host candidate: ${c}`);
  assert.equal(last.connectionState, 'connected');
});
