'use strict';
// Sessions over raw frames: connect, rebinding to a new socket (event routing), duplicate
// subscriptions, garbage collection of sessions whose socket went away (server runs -gc-period 3s).
const { assert, useServer, sleep } = require('../harness');

const fx = useServer();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function pipelineWithTwo(raw) {
  const d = await raw.result('describe', { object: 'manager_ServerManager' });
  const { value: p } = await raw.result('create', { type: 'MediaPipeline', properties: {}, sessionId: d.sessionId });
  const { value: a } = await raw.result('create', { type: 'PassThrough', constructorParams: { mediaPipeline: p }, properties: {}, sessionId: d.sessionId });
  const { value: b } = await raw.result('create', { type: 'PassThrough', constructorParams: { mediaPipeline: p }, properties: {}, sessionId: d.sessionId });
  return { S: d.sessionId, p, a, b };
}

const isEvent = (type, object) => (m) => m.method === 'onEvent' && m.params && m.params.value
  && m.params.value.type === type && m.params.value.object === object;

async function pipelines(raw) {
  const r = await raw.result('invoke', { object: 'manager_ServerManager', operation: 'getPipelines' });
  assert.ok(Array.isArray(r.value), JSON.stringify(r));
  return r.value;
}

fx.test('connect without params creates a session; serverId is fixed', async () => {
  const raw = await fx.raw();
  const r1 = await raw.result('connect');
  assert.match(r1.sessionId, UUID);
  assert.match(r1.serverId, UUID);
  const raw2 = await fx.raw();
  const r2 = await raw2.result('connect', {});
  assert.match(r2.sessionId, UUID);
  assert.notEqual(r2.sessionId, r1.sessionId);
  assert.equal(r2.serverId, r1.serverId, 'serverId is fixed per server process');
});

fx.test('onEvent notification format', async () => {
  const raw = await fx.raw();
  const { S, p, a, b } = await pipelineWithTwo(raw);
  await raw.result('subscribe', { object: a, type: 'ElementConnected', sessionId: S });
  await raw.result('invoke', { object: a, operation: 'connect', operationParams: { sink: b, mediaType: 'VIDEO' }, sessionId: S });
  const ev = await raw.waitForNotification(isEvent('ElementConnected', a));
  assert.equal(ev.jsonrpc, '2.0');
  assert.equal(ev.id, undefined, 'events are notifications without id');
  const { data } = ev.params.value;
  assert.equal(data.source, a);
  assert.equal(data.sink, b);
  assert.equal(data.mediaType, 'VIDEO');
  assert.equal(data.type, 'ElementConnected');
  assert.deepEqual(data.tags, []);
  assert.match(data.timestampMillis, /^\d{13}$/);
  await raw.result('release', { object: p, sessionId: S });
});

fx.test('connect {sessionId} from a new socket moves the session and its events', async () => {
  const rawA = await fx.raw();
  const { S, p, a, b } = await pipelineWithTwo(rawA);
  await rawA.result('subscribe', { object: a, type: 'ElementConnected', sessionId: S });

  const rawB = await fx.raw();
  const c = await rawB.result('connect', { sessionId: S });
  assert.equal(c.sessionId, S);
  assert.match(c.serverId, UUID);
  // No sessionId: injected from the binding made by connect.
  const r = await rawB.result('invoke', { object: a, operation: 'connect', operationParams: { sink: b } });
  assert.equal(r.sessionId, S);
  await rawB.waitForNotification(isEvent('ElementConnected', a));
  await sleep(300);
  assert.equal(rawA.notifications.filter(isEvent('ElementConnected', a)).length, 0,
    'after the session moved, the old socket must not receive its events');
  await rawB.result('release', { object: p });
});

fx.test('duplicate subscriptions deliver each event once, until all are unsubscribed', async () => {
  const raw = await fx.raw();
  const { S, p, a, b } = await pipelineWithTwo(raw);
  const s1 = await raw.result('subscribe', { object: a, type: 'ElementConnected', sessionId: S });
  const s2 = await raw.result('subscribe', { object: a, type: 'ElementConnected', sessionId: S });
  assert.notEqual(s1.value, s2.value, 'each subscribe returns its own id');

  await raw.result('invoke', { object: a, operation: 'connect', operationParams: { sink: b, mediaType: 'VIDEO' }, sessionId: S });
  await raw.waitForNotification(isEvent('ElementConnected', a));
  await sleep(300);
  assert.equal(raw.notifications.filter(isEvent('ElementConnected', a)).length, 1, 'one delivery per session');

  await raw.result('unsubscribe', { object: a, subscription: s1.value, sessionId: S });
  raw.notifications.length = 0;
  await raw.result('invoke', { object: a, operation: 'connect', operationParams: { sink: b, mediaType: 'AUDIO' }, sessionId: S });
  await raw.waitForNotification(isEvent('ElementConnected', a));

  await raw.result('unsubscribe', { object: a, subscription: s2.value, sessionId: S });
  // Unknown subscription ids are not an error.
  await raw.result('unsubscribe', { object: a, subscription: s2.value, sessionId: S });
  raw.notifications.length = 0;
  await raw.result('invoke', { object: a, operation: 'disconnect', operationParams: { sink: b }, sessionId: S });
  await raw.result('invoke', { object: a, operation: 'connect', operationParams: { sink: b, mediaType: 'VIDEO' }, sessionId: S });
  await sleep(300);
  assert.equal(raw.notifications.filter(isEvent('ElementConnected', a)).length, 0, 'no events after unsubscribing');
  await raw.result('release', { object: p, sessionId: S });
});

fx.test('objects of a session whose socket closed are collected; connect keeps a session alive', async () => {
  const observer = await fx.raw();
  const own = await observer.result('create', { type: 'MediaPipeline', properties: {} });

  // Session A: creates a pipeline and goes away.
  const rawA = await fx.raw();
  const a = await pipelineWithTwo(rawA);
  // Session E: goes away too, but is resumed on another socket with connect.
  const rawE = await fx.raw();
  const e = await pipelineWithTwo(rawE);
  rawA.close();
  rawE.close();
  await Promise.all([rawA.waitClosed(), rawE.waitClosed()]);
  const rawE2 = await fx.raw();
  const resumed = await rawE2.result('connect', { sessionId: e.S });
  assert.equal(resumed.sessionId, e.S);

  // Objects survive at least one GC period (3 s) after the socket closed.
  assert.ok((await pipelines(observer)).includes(a.p), 'pipeline collected too early');

  const deadline = Date.now() + 20000;
  let list;
  for (;;) {
    list = await pipelines(observer);
    if (!list.includes(a.p)) break;
    assert.ok(Date.now() < deadline, 'the orphaned pipeline was not collected within 20 s (gc period 3 s)');
    await sleep(500);
  }
  assert.ok(list.includes(own.value), "a connected socket's session must not be collected");
  assert.ok(list.includes(e.p), 'a session resumed with connect must not be collected');
  const gone = await observer.error('describe', { object: a.a });
  assert.equal(gone.code, 40101, 'children of the collected pipeline are gone too');

  // The collected session cannot be resumed.
  const rawA2 = await fx.raw();
  const err = await rawA2.error('connect', { sessionId: a.S });
  assert.equal(err.code, 40007, JSON.stringify(err));
  assert.equal(err.data && err.data.type, 'INVALID_SESSION');

  await observer.result('release', { object: own.value });
  await rawE2.result('release', { object: e.p });
});
