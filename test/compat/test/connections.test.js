'use strict';
// (d) connect/disconnect, getSourceConnections/getSinkConnections, ElementConnected/Disconnected,
// Dispatcher and DispatcherOneToMany operations.
const { assert, useServer, call, expectCode, subscribe } = require('../harness');

const fx = useServer();

function checkConnection(c, src, sink, type) {
  assert.equal(c.source, src.id, `connection source: ${JSON.stringify(c)}`);
  assert.equal(c.sink, sink.id, `connection sink: ${JSON.stringify(c)}`);
  assert.equal(c.type, type, `connection type: ${JSON.stringify(c)}`);
  assert.equal(c.sourceDescription, 'default', `sourceDescription: ${JSON.stringify(c)}`);
  assert.equal(c.sinkDescription, 'default', `sinkDescription: ${JSON.stringify(c)}`);
}

const types = (conns) => conns.map((c) => c.type).sort();

fx.test('connect/disconnect all media types, connections and events', async () => {
  const [client] = await fx.client();
  const [pipeline] = await call(client, 'create', 'MediaPipeline');
  const [src] = await call(pipeline, 'create', 'PassThrough');
  const [sink] = await call(pipeline, 'create', 'PassThrough');

  const [none] = await call(src, 'getSinkConnections');
  assert.deepEqual(none, []);

  const connected = await subscribe(src, 'ElementConnected');
  assert.equal(typeof connected.token.value, 'string', 'subscribe should return a subscription id');
  const disconnected = await subscribe(src, 'ElementDisconnected');

  await call(src, 'connect', sink);

  const [ev] = await connected.waitFor((d) => d.mediaType === 'VIDEO');
  assert.equal(ev.sink, sink.id);
  assert.equal(ev.source, src.id);
  assert.equal(ev.type, 'ElementConnected');
  assert.equal(typeof ev.timestampMillis, 'string', 'timestampMillis is a string of ms since epoch');
  assert.ok(Math.abs(Number(ev.timestampMillis) - Date.now()) < 60000, `timestampMillis ${ev.timestampMillis}`);
  assert.equal(ev.sourceMediaDescription, 'default');
  assert.equal(ev.sinkMediaDescription, 'default');
  await connected.waitFor((d) => d.mediaType === 'AUDIO');

  // Without a media type, KMS connects AUDIO, VIDEO and DATA.
  const [srcSide] = await call(src, 'getSinkConnections');
  assert.deepEqual(types(srcSide), ['AUDIO', 'DATA', 'VIDEO'], `getSinkConnections: ${JSON.stringify(srcSide)}`);
  for (const c of srcSide) checkConnection(c, src, sink, c.type);
  const [sinkSide] = await call(sink, 'getSourceConnections');
  assert.deepEqual(types(sinkSide), ['AUDIO', 'DATA', 'VIDEO'], `getSourceConnections: ${JSON.stringify(sinkSide)}`);
  for (const c of sinkSide) checkConnection(c, src, sink, c.type);

  const [videoOnly] = await call(sink, 'getSourceConnections', 'VIDEO');
  assert.equal(videoOnly.length, 1, `getSourceConnections(VIDEO): ${JSON.stringify(videoOnly)}`);
  checkConnection(videoOnly[0], src, sink, 'VIDEO');
  const [audioOnly] = await call(src, 'getSinkConnections', 'AUDIO', 'default');
  assert.equal(audioOnly.length, 1, `getSinkConnections(AUDIO, default): ${JSON.stringify(audioOnly)}`);
  checkConnection(audioOnly[0], src, sink, 'AUDIO');
  const [wrongDesc] = await call(src, 'getSinkConnections', 'AUDIO', 'no-such-description');
  assert.deepEqual(wrongDesc, []);
  const [sinkHasNoSinks] = await call(sink, 'getSinkConnections');
  assert.deepEqual(sinkHasNoSinks, []);

  await call(src, 'disconnect', sink);
  const [dev] = await disconnected.waitFor((d) => d.mediaType === 'VIDEO');
  assert.equal(dev.sink, sink.id);
  assert.equal(dev.source, src.id);
  assert.equal(dev.type, 'ElementDisconnected');
  const [afterSrc] = await call(src, 'getSinkConnections');
  assert.deepEqual(afterSrc, []);
  const [afterSink] = await call(sink, 'getSourceConnections');
  assert.deepEqual(afterSink, []);

  await call(pipeline, 'release');
});

fx.test('connect/disconnect one media type', async () => {
  const [client] = await fx.client();
  const [pipeline] = await call(client, 'create', 'MediaPipeline');
  const [src] = await call(pipeline, 'create', 'PassThrough');
  const [sink] = await call(pipeline, 'create', 'PassThrough');
  const connected = await subscribe(src, 'ElementConnected');
  const disconnected = await subscribe(src, 'ElementDisconnected');

  await call(src, 'connect', sink, 'VIDEO');
  const [ev] = await connected.waitFor((d) => d.mediaType === 'VIDEO');
  assert.equal(ev.sink, sink.id);

  const [srcSide] = await call(src, 'getSinkConnections');
  assert.equal(srcSide.length, 1, `only VIDEO should be connected: ${JSON.stringify(srcSide)}`);
  checkConnection(srcSide[0], src, sink, 'VIDEO');
  const [audio] = await call(sink, 'getSourceConnections', 'AUDIO');
  assert.deepEqual(audio, []);
  const [video] = await call(sink, 'getSourceConnections', 'VIDEO');
  assert.equal(video.length, 1);
  checkConnection(video[0], src, sink, 'VIDEO');

  // Connecting the same pair again is harmless; the connection is not duplicated.
  await call(src, 'connect', sink, 'VIDEO');
  const [again] = await call(src, 'getSinkConnections', 'VIDEO');
  assert.equal(again.length, 1, `duplicate connection: ${JSON.stringify(again)}`);

  await call(src, 'disconnect', sink, 'VIDEO');
  const [dev] = await disconnected.waitFor((d) => d.mediaType === 'VIDEO');
  assert.equal(dev.sink, sink.id);
  const [after] = await call(sink, 'getSourceConnections');
  assert.deepEqual(after, []);

  // A sink pad accepts one source: connecting a second source replaces the first one.
  const [src2] = await call(pipeline, 'create', 'PassThrough');
  await call(src, 'connect', sink, 'VIDEO');
  await call(src2, 'connect', sink, 'VIDEO');
  const [sources] = await call(sink, 'getSourceConnections', 'VIDEO');
  assert.equal(sources.length, 1, `a sink pad has one source: ${JSON.stringify(sources)}`);
  assert.equal(sources[0].source, src2.id);
  const [oldSrc] = await call(src, 'getSinkConnections', 'VIDEO');
  assert.deepEqual(oldSrc, [], 'the replaced source no longer feeds the sink');

  // A source feeds many sinks.
  const [sink2] = await call(pipeline, 'create', 'PassThrough');
  await call(src2, 'connect', sink2, 'VIDEO');
  const [fanout] = await call(src2, 'getSinkConnections', 'VIDEO');
  assert.deepEqual(fanout.map((c) => c.sink).sort(), [sink.id, sink2.id].sort());

  await call(pipeline, 'release');
});

fx.test('connecting elements of different pipelines fails with 40004', async () => {
  const [client] = await fx.client();
  const [p1] = await call(client, 'create', 'MediaPipeline');
  const [p2] = await call(client, 'create', 'MediaPipeline');
  const [a] = await call(p1, 'create', 'PassThrough');
  const [b] = await call(p2, 'create', 'PassThrough');
  await expectCode(call(a, 'connect', b), 40004, { type: 'CONNECT_ERROR', what: 'cross-pipeline connect' });
  await call(p1, 'release');
  await call(p2, 'release');
});

fx.test('DispatcherOneToMany.setSource/removeSource and Dispatcher.connect', async () => {
  const [client] = await fx.client();
  const [pipeline] = await call(client, 'create', 'MediaPipeline');

  const [one2many] = await call(pipeline, 'create', 'DispatcherOneToMany');
  const [o1] = await call(one2many, 'createHubPort');
  const [o2] = await call(one2many, 'createHubPort');
  const [o3] = await call(one2many, 'createHubPort');
  const [r1] = await call(one2many, 'setSource', o1);
  assert.equal(r1, null);
  await call(one2many, 'setSource', o2);
  const [r2] = await call(one2many, 'removeSource');
  assert.equal(r2, null);
  await call(one2many, 'removeSource');

  const [dispatcher] = await call(pipeline, 'create', 'Dispatcher');
  const [d1] = await call(dispatcher, 'createHubPort');
  const [d2] = await call(dispatcher, 'createHubPort');
  const [d3] = await call(dispatcher, 'createHubPort');
  const [r3] = await call(dispatcher, 'connect', d1, d2);
  assert.equal(r3, null);
  await call(dispatcher, 'connect', d3, d2);
  await call(dispatcher, 'connect', d1, d3);

  // Hub ports are media elements: they connect to ordinary elements.
  const [pt] = await call(pipeline, 'create', 'PassThrough');
  await call(pt, 'connect', o3);
  const [conns] = await call(pt, 'getSinkConnections', 'VIDEO');
  assert.equal(conns.length, 1);
  assert.equal(conns[0].sink, o3.id);

  await call(pipeline, 'release');
});
