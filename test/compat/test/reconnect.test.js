'use strict';
// (i) kurento-client's automatic reconnection: after the TCP connection is cut the client reconnects,
// sends ping + connect {sessionId}, and the session (objects, subscriptions) continues on the new socket.
const { assert, useServer, call, subscribe, withTimeout } = require('../harness');

const fx = useServer();

function nextReconnect(client) {
  // Resolves [sameSession].
  return withTimeout(new Promise((resolve) => client.once('reconnected', (same) => resolve([same]))), 15000,
    "kurento-client 'reconnected' event");
}

fx.test('objects and subscriptions survive a reconnection', async () => {
  const proxy = await fx.proxy();
  const [client] = await fx.client({}, proxy.url());
  const [pipeline] = await call(client, 'create', 'MediaPipeline');
  const [src] = await call(pipeline, 'create', 'PassThrough');
  const [sink] = await call(pipeline, 'create', 'PassThrough');
  await call(src, 'setName', 'before-cut');
  const connected = await subscribe(src, 'ElementConnected');
  const sessionId = client.sessionId;
  assert.ok(sessionId, 'client has a session');

  const reconnected = nextReconnect(client);
  assert.equal(proxy.cut(), 1, 'exactly one connection to cut');
  const [same] = await reconnected;
  assert.equal(same, true, 'connect {sessionId} must succeed: reconnected(true), not 40007');
  assert.equal(proxy.accepted, 2, 'the client reconnected through the proxy');
  assert.equal(client.sessionId, sessionId, 'the session is unchanged');

  const [name] = await call(src, 'getName');
  assert.equal(name, 'before-cut');
  const [children] = await call(pipeline, 'getChildren');
  assert.deepEqual(children.map((c) => c.id).sort(), [src.id, sink.id].sort());

  // The subscription made on the old socket delivers on the new one.
  await call(src, 'connect', sink, 'VIDEO');
  const [ev] = await connected.waitFor((d) => d.mediaType === 'VIDEO' && d.sink === sink.id);
  assert.equal(ev.source, src.id);

  // New subscriptions and objects work too.
  const disconnected = await subscribe(src, 'ElementDisconnected');
  await call(src, 'disconnect', sink, 'VIDEO');
  await disconnected.waitFor((d) => d.mediaType === 'VIDEO');
  const [third] = await call(pipeline, 'create', 'PassThrough');
  assert.ok(third.id.startsWith(pipeline.id + '/'));

  await call(pipeline, 'release');
});

fx.test('two reconnections in a row', async () => {
  const proxy = await fx.proxy();
  const [client] = await fx.client({}, proxy.url());
  const [pipeline] = await call(client, 'create', 'MediaPipeline');
  const [src] = await call(pipeline, 'create', 'PassThrough');
  const [sink] = await call(pipeline, 'create', 'PassThrough');
  const connected = await subscribe(src, 'ElementConnected');
  const sessionId = client.sessionId;

  for (let i = 0; i < 2; i++) {
    const reconnected = nextReconnect(client);
    proxy.cut();
    const [same] = await reconnected;
    assert.equal(same, true, `reconnection ${i + 1}`);
  }
  assert.equal(proxy.accepted, 3);
  assert.equal(client.sessionId, sessionId);
  await call(src, 'connect', sink, 'AUDIO');
  await connected.waitFor((d) => d.mediaType === 'AUDIO');
  await call(pipeline, 'release');
});
