'use strict';
// (k) Composite and HubPort through kurento-client 7.3.0 (Kurento's own constructor params and
// createHubPort), and the Miksilo extension methods through raw JSON-RPC (kurento-client has no
// proxies for them; any JSON-RPC client can call them with "invoke").
const { assert, useServer, call, expectCode } = require('../harness');

const fx = useServer();

fx.test('Composite with width/height/framerate, createHubPort, connections, release', async () => {
  const [client] = await fx.client();
  const [pipeline] = await call(client, 'create', 'MediaPipeline');
  const [composite] = await call(pipeline, 'create', 'Composite', { width: 320, height: 240, framerate: 15 });
  assert.equal(composite.constructor.name, 'Composite');
  assert.match(composite.id, /_kurento\.Composite$/);

  const [port1] = await call(composite, 'createHubPort');
  const [port2] = await call(composite, 'createHubPort');
  assert.match(port1.id, new RegExp(`^${composite.id.replace(/[.]/g, '\\.')}/.*_kurento\\.HubPort$`));

  // Hosts publish into their ports; the mix leaves through every port's source side.
  const [host1] = await call(pipeline, 'create', 'WebRtcEndpoint');
  const [host2] = await call(pipeline, 'create', 'WebRtcEndpoint');
  const [viewer] = await call(pipeline, 'create', 'WebRtcEndpoint');
  await call(host1, 'connect', port1);
  await call(port1, 'connect', host1);
  await call(host2, 'connect', port2);
  await call(port2, 'connect', viewer);
  const [sinks] = await call(port2, 'getSinkConnections', 'VIDEO');
  assert.deepEqual(sinks.map((c) => c.sink), [viewer.id]);
  const [sources] = await call(port1, 'getSourceConnections', 'AUDIO');
  assert.deepEqual(sources.map((c) => c.source), [host1.id]);

  const [children] = await call(composite, 'getChildren');
  assert.deepEqual(children.map((c) => c.id).sort(), [port1.id, port2.id].sort());

  // Releasing a port leaves the Composite running; releasing the pipeline takes everything.
  await call(port1, 'release');
  const [left] = await call(composite, 'getChildren');
  assert.deepEqual(left.map((c) => c.id), [port2.id]);
  await call(pipeline, 'release');
  const [pipelines] = await call(await serverManager(client), 'getPipelines');
  assert.ok(!pipelines.some((p) => p.id === pipeline.id), 'pipeline still listed after release');
});

fx.test('Composite constructor errors', async () => {
  const [client] = await fx.client();
  const [pipeline] = await call(client, 'create', 'MediaPipeline');
  await expectCode(call(pipeline, 'create', 'Composite', { width: 7 }), 40107, { type: 'MEDIA_OBJECT_ILLEGAL_PARAM_ERROR', what: 'odd width' });
  await expectCode(call(pipeline, 'create', 'Composite', { framerate: 0 }), 40107, { type: 'MEDIA_OBJECT_ILLEGAL_PARAM_ERROR', what: 'framerate 0' });
  const raw = await fx.raw();
  // Extensions are plain constructor params on the wire.
  const bad = await raw.error('create', { type: 'Composite', constructorParams: { mediaPipeline: pipeline.id, codec: 'VP7' }, properties: {} });
  assert.equal(bad.code, 40107, JSON.stringify(bad));
  assert.match(bad.message, /codec/);
  await call(pipeline, 'release');
});

fx.test('Miksilo extensions over raw JSON-RPC: setLayout, setMixMinus, setGain, setMute', async () => {
  const raw = await fx.raw();
  const { value: pipeline } = await raw.result('create', { type: 'MediaPipeline', properties: {} });
  const { value: composite } = await raw.result('create', {
    type: 'Composite', constructorParams: { mediaPipeline: pipeline, width: 320, height: 240, background: '#202020', codec: 'H264' }, properties: {},
  });
  const { value: port } = await raw.result('create', { type: 'HubPort', constructorParams: { hub: composite }, properties: {} });
  const invoke = (operation, operationParams) => ({ object: composite, operation, operationParams });

  await raw.result('invoke', invoke('setLayout', { layout: JSON.stringify([{ port, x: 0, y: 0, width: 160, height: 120, zOrder: 1 }]) }));
  await raw.result('invoke', invoke('setLayout', { layout: '' }));
  const badLayout = await raw.error('invoke', invoke('setLayout', { layout: '{not json' }));
  assert.equal(badLayout.code, 40107, JSON.stringify(badLayout));

  await raw.result('invoke', invoke('setMixMinus', { port, enabled: true }));
  await raw.result('invoke', invoke('setGain', { port, gain: 0.5 }));
  await raw.result('invoke', invoke('setMute', { port, muted: true }));
  const badGain = await raw.error('invoke', invoke('setGain', { port, gain: 11 }));
  assert.equal(badGain.code, 40107, JSON.stringify(badGain));

  // A port of another hub is refused.
  const { value: other } = await raw.result('create', { type: 'Dispatcher', constructorParams: { mediaPipeline: pipeline }, properties: {} });
  const { value: foreign } = await raw.result('create', { type: 'HubPort', constructorParams: { hub: other }, properties: {} });
  const badPort = await raw.error('invoke', invoke('setMute', { port: foreign, muted: true }));
  assert.equal(badPort.code, 40107, JSON.stringify(badPort));

  // The registry declares the extensions: describe/getKmd show them like Kurento's own methods.
  const kmd = await raw.result('invoke', { object: 'manager_ServerManager', operation: 'getKmd', operationParams: { moduleName: 'elements' } });
  const parsed = JSON.parse(kmd.value);
  const cls = parsed.remoteClasses.find((c) => c.name === 'Composite');
  assert.ok(cls, 'getKmd(elements) lists Composite');
  const methods = cls.methods.map((m) => m.name).sort();
  for (const m of ['setGain', 'setLayout', 'setMixMinus', 'setMute']) assert.ok(methods.includes(m), `kmd lacks ${m}: ${methods}`);
  assert.deepEqual(cls.constructor.params.slice(0, 4).map((p) => p.name), ['mediaPipeline', 'width', 'height', 'framerate']);

  await raw.result('release', { object: pipeline });
});

async function serverManager(client) {
  const [m] = await call(client, 'getServerManager');
  return m;
}
