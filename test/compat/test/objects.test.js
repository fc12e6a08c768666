'use strict';
// (b) ids and the object tree, (c) name and tags, (f) getMediaobjectById from a second client,
// (g) release cascade.
const { assert, useServer, call, expectCode, subscribe } = require('../harness');

const fx = useServer();

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const childIdRe = (parentId, type) => new RegExp(`^${escape(parentId)}/[^/]+_kurento\\.${type}$`);

// tree creates a pipeline with two PassThrough, a DispatcherOneToMany and a Dispatcher with two
// HubPorts each.
async function tree(client) {
  const [pipeline] = await call(client, 'create', 'MediaPipeline');
  const [pt1] = await call(pipeline, 'create', 'PassThrough');
  const [pt2] = await call(pipeline, 'create', 'PassThrough');
  const [one2many] = await call(pipeline, 'create', 'DispatcherOneToMany');
  const [dispatcher] = await call(pipeline, 'create', 'Dispatcher');
  const [oPort1] = await call(one2many, 'createHubPort');
  const [oPort2] = await call(one2many, 'createHubPort');
  const [dPort1] = await call(dispatcher, 'createHubPort');
  const [dPort2] = await call(dispatcher, 'createHubPort');
  return { pipeline, pt1, pt2, one2many, dispatcher, oPort1, oPort2, dPort1, dPort2 };
}

fx.test('ids follow the Kurento format and the object tree is consistent', async () => {
  const [client] = await fx.client();
  const o = await tree(client);

  assert.match(o.pipeline.id, /^[^/]+_kurento\.MediaPipeline$/);
  assert.match(o.pt1.id, childIdRe(o.pipeline.id, 'PassThrough'));
  assert.match(o.pt2.id, childIdRe(o.pipeline.id, 'PassThrough'));
  assert.notEqual(o.pt1.id, o.pt2.id);
  assert.match(o.one2many.id, childIdRe(o.pipeline.id, 'DispatcherOneToMany'));
  assert.match(o.dispatcher.id, childIdRe(o.pipeline.id, 'Dispatcher'));
  for (const port of [o.oPort1, o.oPort2]) assert.match(port.id, childIdRe(o.one2many.id, 'HubPort'));
  for (const port of [o.dPort1, o.dPort2]) assert.match(port.id, childIdRe(o.dispatcher.id, 'HubPort'));

  const [children] = await call(o.pipeline, 'getChildren');
  const childIds = children.map((c) => c.id).sort();
  assert.deepEqual(childIds, [o.pt1.id, o.pt2.id, o.one2many.id, o.dispatcher.id].sort(),
    'getChildren of the pipeline should list its elements and hubs (hub ports belong to their hub)');

  const [hubChildren] = await call(o.dispatcher, 'getChildren');
  assert.deepEqual(hubChildren.map((c) => c.id).sort(), [o.dPort1.id, o.dPort2.id].sort());

  const [parent] = await call(o.pt1, 'getParent');
  assert.equal(parent.id, o.pipeline.id);
  const [mp] = await call(o.pt1, 'getMediaPipeline');
  assert.equal(mp.id, o.pipeline.id);
  // (A pipeline's getParent is null; kurento-client cannot handle that, see raw-protocol.test.js.)

  // kurento-client's createHubPort() proxies cannot resolve returned ids (no _describe listener), so
  // the hub port's getParent/getMediaPipeline go through a proxy built by a second client's describe.
  const [client2] = await fx.client();
  const [port] = await call(client2, 'getMediaobjectById', o.dPort1.id);
  assert.equal(port.constructor.name, 'HubPort');
  const [portParent] = await call(port, 'getParent');
  assert.equal(portParent.id, o.dispatcher.id, 'getParent of a hub port is its hub');
  assert.equal(portParent.constructor.name, 'Dispatcher');
  const [portPipeline] = await call(port, 'getMediaPipeline');
  assert.equal(portPipeline.id, o.pipeline.id, 'getMediaPipeline of a hub port is the pipeline');

  const [ctime] = await call(o.pt1, 'getCreationTime');
  const now = Date.now() / 1000;
  assert.ok(Number.isInteger(ctime) && Math.abs(ctime - now) < 120, `getCreationTime should be seconds since epoch, got ${ctime}`);

  await call(o.pipeline, 'release');
});

fx.test('name, tags and sendTagsInEvents', async () => {
  const [client] = await fx.client();
  const [pipeline] = await call(client, 'create', 'MediaPipeline');
  const [src] = await call(pipeline, 'create', 'PassThrough');
  const [sink] = await call(pipeline, 'create', 'PassThrough');

  const [name0] = await call(src, 'getName');
  assert.equal(name0, src.id, 'the default name is the id');
  const [pname] = await call(pipeline, 'getName');
  assert.equal(pname, pipeline.id);
  await call(src, 'setName', 'source-one');
  const [name1] = await call(src, 'getName');
  assert.equal(name1, 'source-one');

  await call(src, 'addTag', 'room', 'blue');
  await call(src, 'addTag', 'user', 'alice');
  const [room] = await call(src, 'getTag', 'room');
  assert.equal(room, 'blue');
  const [tags] = await call(src, 'getTags');
  assert.ok(Array.isArray(tags), `getTags should return an array, got ${JSON.stringify(tags)}`);
  const asMap = Object.fromEntries(tags.map((t) => [t.key, t.value]));
  assert.deepEqual(asMap, { room: 'blue', user: 'alice' });
  await call(src, 'addTag', 'room', 'red');
  const [room2] = await call(src, 'getTag', 'room');
  assert.equal(room2, 'red', 'addTag on an existing key replaces the value');

  await call(src, 'removeTag', 'user');
  await expectCode(call(src, 'getTag', 'user'), 40110, { type: 'MEDIA_OBJECT_TAG_KEY_NOT_FOUND', what: 'getTag of a removed key' });
  await expectCode(call(src, 'getTag', 'never-set'), 40110, { what: 'getTag of an unknown key' });
  const [tags2] = await call(src, 'getTags');
  assert.deepEqual(tags2.map((t) => t.key), ['room']);

  const [send0] = await call(src, 'getSendTagsInEvents');
  assert.equal(send0, false, 'sendTagsInEvents defaults to false');

  // Events carry no tags until setSendTagsInEvents(true).
  const connected = await subscribe(src, 'ElementConnected');
  await call(src, 'connect', sink, 'VIDEO');
  const [ev1] = await connected.waitFor((d) => d.mediaType === 'VIDEO');
  assert.deepEqual(ev1.tags, [], 'tags must be empty while sendTagsInEvents is false');
  await call(src, 'disconnect', sink, 'VIDEO');

  await call(src, 'setSendTagsInEvents', true);
  const [send1] = await call(src, 'getSendTagsInEvents');
  assert.equal(send1, true);
  connected.events.length = 0;
  await call(src, 'connect', sink, 'AUDIO');
  const [ev2] = await connected.waitFor((d) => d.mediaType === 'AUDIO');
  assert.ok(Array.isArray(ev2.tags) && ev2.tags.some((t) => t.key === 'room' && t.value === 'red'),
    `event tags should contain room=red: ${JSON.stringify(ev2.tags)}`);

  await call(pipeline, 'release');
});

fx.test('getMediaobjectById from a second client (describe) builds typed proxies', async () => {
  const [client] = await fx.client();
  const [pipeline] = await call(client, 'create', 'MediaPipeline');
  const [pt] = await call(pipeline, 'create', 'PassThrough');
  const [hub] = await call(pipeline, 'create', 'DispatcherOneToMany');
  const [port] = await call(hub, 'createHubPort');
  await call(pt, 'setName', 'named-by-client-1');

  const [client2] = await fx.client();
  assert.notEqual(client2.sessionId, client.sessionId, 'a second client gets its own session');

  const [pt2] = await call(client2, 'getMediaobjectById', pt.id);
  assert.equal(pt2.id, pt.id);
  assert.equal(pt2.constructor.name, 'PassThrough');
  const [name] = await call(pt2, 'getName');
  assert.equal(name, 'named-by-client-1');

  const [p2] = await call(client2, 'getMediaobjectById', pipeline.id);
  assert.equal(p2.constructor.name, 'MediaPipeline');
  const [h2] = await call(client2, 'getMediaobjectById', hub.id);
  assert.equal(h2.constructor.name, 'DispatcherOneToMany');
  const [port2] = await call(client2, 'getMediaobjectById', port.id);
  assert.equal(port2.constructor.name, 'HubPort');

  // The second client can operate on them.
  await call(pt2, 'setName', 'renamed-by-client-2');
  const [name2] = await call(pt, 'getName');
  assert.equal(name2, 'renamed-by-client-2');

  await call(pipeline, 'release');
});

fx.test('releasing a pipeline releases its elements, hubs and hub ports', async () => {
  const [client] = await fx.client();
  const o = await tree(client);
  const objs = [o.pt1, o.pt2, o.one2many, o.dispatcher, o.oPort1, o.oPort2, o.dPort1, o.dPort2];
  const ids = [o.pipeline.id, ...objs.map((x) => x.id)];

  await call(o.pipeline, 'release');

  // The objects still exist as client-side proxies: every request must fail with 40101.
  for (const obj of objs) {
    await expectCode(call(obj, 'getName'), 40101,
      { type: 'MEDIA_OBJECT_NOT_FOUND', message: / not found/, what: `getName on released ${obj.id}` });
  }
  await expectCode(call(o.pipeline, 'getName'), 40101, { message: / not found/, what: 'getName on the released pipeline' });

  // A fresh client cannot describe them either.
  const [client2] = await fx.client();
  for (const id of ids) {
    await expectCode(call(client2, 'getMediaobjectById', id), 40101, { message: / not found/, what: `describe ${id}` });
  }

  // Releasing an already released object is not an error.
  await call(o.pipeline, 'release');
});
