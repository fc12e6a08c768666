'use strict';
// (j) raw WebSocket checks: ping, sessionId generation and injection, Origin handling, path.
const { assert, useServer, RawClient, tryHandshake, sleep } = require('../harness');

const fx = useServer();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

fx.test('ping with and without params', async () => {
  const raw = await fx.raw();
  // kurento-client's first frame, verbatim.
  const r0 = await raw.requestText('{"jsonrpc":"2.0","method":"ping","params":{"interval":5000},"id":0}', 0);
  assert.deepEqual(r0, { jsonrpc: '2.0', id: 0, result: { value: 'pong' } });
  const r1 = await raw.request('ping', { interval: 5000 }, { id: 1 });
  assert.deepEqual(r1, { jsonrpc: '2.0', id: 1, result: { value: 'pong' } }, 'ping on a fresh connection has no sessionId');
  const r2 = await raw.request('ping', undefined, { id: 2 });
  assert.deepEqual(r2, { jsonrpc: '2.0', id: 2, result: { value: 'pong' } }, 'ping without params');
  // ids are echoed verbatim, whatever their JSON type.
  const r3 = await raw.request('ping', undefined, { id: 'string-id' });
  assert.equal(r3.id, 'string-id');
  assert.equal(r3.result.value, 'pong');
});

fx.test('a sessionId is generated on a fresh connection and injected into later requests', async () => {
  const raw = await fx.raw();
  const d = await raw.result('describe', { object: 'manager_ServerManager' });
  assert.match(d.sessionId, UUID, `generated sessionId: ${JSON.stringify(d)}`);
  assert.equal(d.type, 'ServerManager');
  assert.equal(d.qualifiedType, 'kurento.ServerManager');
  assert.deepEqual(d.hierarchy, ['kurento.MediaObject']);
  assert.equal(d.value, undefined, 'describe has no value');
  const S = d.sessionId;

  // No sessionId in the following requests: the connection's session is used.
  const c = await raw.result('create', { type: 'MediaPipeline', properties: {} });
  assert.equal(c.sessionId, S, 'create without sessionId must use the connection session');
  assert.match(c.value, /_kurento\.MediaPipeline$/);
  const e = await raw.result('create', { type: 'PassThrough', constructorParams: { mediaPipeline: c.value }, properties: {} });
  assert.equal(e.sessionId, S);
  const i = await raw.result('invoke', { object: e.value, operation: 'getName' });
  assert.deepEqual(i, { value: e.value, sessionId: S });
  const de = await raw.result('describe', { object: e.value });
  assert.deepEqual(de, {
    type: 'PassThrough', qualifiedType: 'kurento.PassThrough', hierarchy: ['kurento.MediaElement', 'kurento.MediaObject'], sessionId: S,
  });
  const sub = await raw.result('subscribe', { object: e.value, type: 'ElementConnected' });
  assert.equal(sub.sessionId, S);
  const unsub = await raw.result('unsubscribe', { object: e.value, subscription: sub.value });
  assert.equal(unsub.sessionId, S);
  // Now that the connection has a session, ping reports it.
  const pong = await raw.result('ping');
  assert.deepEqual(pong, { value: 'pong', sessionId: S });
  const rel = await raw.result('release', { object: c.value });
  assert.deepEqual(rel, { sessionId: S });

  // Another socket gets another session.
  const raw2 = await fx.raw();
  const d2 = await raw2.result('describe', { object: 'manager_ServerManager' });
  assert.notEqual(d2.sessionId, S);
});

fx.test('void methods answer "value": null and every result is an object', async () => {
  const raw = await fx.raw();
  const { value: p, sessionId } = await raw.result('create', { type: 'MediaPipeline', properties: {} });
  const res = await raw.request('invoke', { object: p, operation: 'setName', operationParams: { name: 'x' }, sessionId });
  assert.deepEqual(res.result, { value: null, sessionId }, JSON.stringify(res));
  const parent = await raw.result('invoke', { object: p, operation: 'getParent', sessionId });
  assert.deepEqual(parent, { value: null, sessionId }, 'a pipeline has no parent');
  const children = await raw.result('invoke', { object: p, operation: 'getChildren', sessionId });
  assert.deepEqual(children, { value: [], sessionId });
  await raw.result('release', { object: p, sessionId });
  // Releasing an unknown object is not an error.
  const again = await raw.result('release', { object: p, sessionId });
  assert.deepEqual(again, { sessionId });
});

fx.test('Origin without scheme (Node kurento-client) and cross-origin browsers are accepted', async () => {
  const host = `127.0.0.1:${fx.server.port}`;
  for (const origin of [host, `http://${host}`, 'http://localhost:3000', 'https://example.org', 'null']) {
    const h = await tryHandshake(fx.url, { origin });
    assert.equal(h.refused, false, `Origin: ${origin} refused: ${h.error}`);
    const pong = await h.raw.result('ping', { interval: 5000 });
    assert.equal(pong.value, 'pong');
    h.raw.close();
  }
  // kurento-client's ws@0.x handshake header set, with access_token query as the client may add.
  const h = await tryHandshake(`${fx.url}?access_token=abc`, { origin: host });
  assert.equal(h.refused, false, `query string on /kurento refused: ${h.error}`);
  h.raw.close();
});

fx.test('paths other than /kurento are refused', async () => {
  const base = `ws://127.0.0.1:${fx.server.port}`;
  for (const p of ['/', '/kurentox', '/kurento/x', '/other', '/KURENTO']) {
    const h = await tryHandshake(base + p);
    if (h.refused) continue;
    // KMS accepts the upgrade and closes with 1002 "Invalid path"; the socket must not serve requests.
    const raw = h.raw;
    let answered = false;
    raw.request('ping', { interval: 5000 }, { timeoutMs: 1500 }).then(() => { answered = true; }, () => {});
    const closed = await raw.waitClosed(2000).catch(() => null);
    await sleep(50);
    assert.ok(closed, `path ${p}: the socket was accepted and stayed open`);
    assert.equal(answered, false, `path ${p}: a request was answered`);
    raw.close();
  }
});

fx.test('the server serves several sockets independently', async () => {
  const socks = await Promise.all([1, 2, 3].map(() => RawClient.open(fx.url, {})));
  try {
    const results = await Promise.all(socks.map((r) => r.result('describe', { object: 'manager_ServerManager' })));
    assert.equal(new Set(results.map((r) => r.sessionId)).size, 3);
  } finally {
    socks.forEach((r) => r.close());
  }
});
