'use strict';
// (b) One-to-many (kurento-one2many-call): a presenter page publishes the fake camera to a
// WebRtcEndpoint; three viewer pages, each with its own kurento-client connection and its own
// WebRtcEndpoint in the presenter's pipeline fed by presenterEndpoint.connect(viewerEndpoint), play it.
const { assert, useSuite, waitForFrames } = require('../harness');

const fx = useSuite();
const VIEWERS = 3;

fx.test(`one presenter and ${VIEWERS} viewers: every viewer plays the presenter's video`, async () => {
  const presenterPage = await fx.page('presenter');
  const p = await presenterPage.evaluate((ws) => window.miksilo.presenter(ws), fx.server.url);
  assert.ok(p.pipelineId && p.endpointId, `presenter: ${JSON.stringify(p)}`);

  const pages = [];
  for (let i = 1; i <= VIEWERS; i++) pages.push(await fx.page(`viewer${i}`));
  const viewers = await Promise.all(pages.map((page) => page.evaluate(
    ([ws, pipelineId, endpointId]) => window.miksilo.viewer(ws, pipelineId, endpointId),
    [fx.server.url, p.pipelineId, p.endpointId],
  )));
  // All three decode at the same time; then each, brought to the front in turn (Chromium hardly
  // paints background tabs), also paints the frames in its <video>.
  await Promise.all(viewers.map((v, i) => waitForFrames(pages[i], v.id, { render: false, what: `viewer ${i + 1} (decoding)` })));
  for (const [i, v] of viewers.entries()) {
    await waitForFrames(pages[i], v.id, { minFrames: 8, what: `viewer ${i + 1} (painting, in front)` });
  }

  for (const [i, v] of viewers.entries()) {
    const d = await pages[i].evaluate((id) => window.miksilo.details(id), v.id);
    assert.deepEqual(d.errors, [], `viewer ${i + 1}: errors while exchanging ICE candidates`);
    assert.ok(d.serverCandidates.length > 0, `viewer ${i + 1}: no IceCandidateFound event after gatherCandidates`);
  }
  const sent = await presenterPage.evaluate((id) => window.miksilo.progress(id), p.id);
  assert.ok(sent.outbound && sent.outbound.framesEncoded > 0, `presenter sends no video: ${JSON.stringify(sent)}`);
});
