'use strict';
// (e) explicit transactions with newref (kurento-client), per-operation results, stop at the first
// failing operation, and the raw transaction framing.
const { assert, useServer, call } = require('../harness');

const fx = useServer();

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

fx.test('client.transaction(fn) creates a pipeline and elements in one request (newref)', async () => {
  const [client] = await fx.client();
  let pipeline, pt1, pt2, hub;
  const [result] = await call(client, 'transaction', function () {
    pipeline = this.create('MediaPipeline');
    pt1 = pipeline.create('PassThrough');
    pt2 = pipeline.create('PassThrough');
    hub = pipeline.create('Dispatcher');
  });
  assert.ok(result && Array.isArray(result.value), `transaction result: ${JSON.stringify(result)}`);
  assert.equal(result.value.length, 4);
  result.value.forEach((r, i) => {
    assert.equal(r.jsonrpc, '2.0', `operation ${i}: ${JSON.stringify(r)}`);
    assert.equal(r.id, i, `operation ${i} response id`);
    assert.ok(r.result && typeof r.result.value === 'string', `operation ${i}: ${JSON.stringify(r)}`);
  });

  assert.match(pipeline.id, /^[^/]+_kurento\.MediaPipeline$/);
  assert.equal(result.value[0].result.value, pipeline.id);
  for (const [el, type] of [[pt1, 'PassThrough'], [pt2, 'PassThrough'], [hub, 'Dispatcher']]) {
    assert.match(el.id, new RegExp(`^${escape(pipeline.id)}/[^/]+_kurento\\.${type}$`));
  }

  const [children] = await call(pipeline, 'getChildren');
  assert.deepEqual(children.map((c) => c.id).sort(), [pt1.id, pt2.id, hub.id].sort());
  const [name] = await call(pt2, 'getName');
  assert.equal(name, pt2.id);
  await call(pt1, 'connect', pt2);

  await call(pipeline, 'release');
});

fx.test('beginTransaction() + commit() with newref; operations on existing objects', async () => {
  const [client] = await fx.client();
  const [existing] = await call(client, 'create', 'MediaPipeline');
  const [existingPt] = await call(existing, 'create', 'PassThrough');

  const tx = client.beginTransaction();
  const pipeline = client.create(tx, 'MediaPipeline');
  const pt = pipeline.create(tx, 'PassThrough');
  const other = existing.create(tx, 'PassThrough');
  let nameInTx;
  existingPt.getName(tx, (err, value) => { nameInTx = err || value; });
  const [result] = await call(tx, 'commit');
  assert.equal(result.value.length, 4, `commit result: ${JSON.stringify(result)}`);
  assert.equal(nameInTx, existingPt.id, 'getName inside the transaction');

  assert.match(pipeline.id, /_kurento\.MediaPipeline$/);
  assert.ok(pt.id.startsWith(pipeline.id + '/'), `${pt.id} should start with ${pipeline.id}`);
  assert.ok(other.id.startsWith(existing.id + '/'), `${other.id} should start with ${existing.id}`);
  const [children] = await call(existing, 'getChildren');
  assert.deepEqual(children.map((c) => c.id).sort(), [existingPt.id, other.id].sort());
  const [name] = await call(pt, 'getName');
  assert.equal(name, pt.id);

  await call(pipeline, 'release');
  await call(existing, 'release');
});

fx.test('a transaction stops at the first failing operation', async () => {
  const [client] = await fx.client();
  const [pipeline] = await call(client, 'create', 'MediaPipeline');
  const [gone] = await call(pipeline, 'create', 'PassThrough');
  await call(gone, 'release');

  const outcome = [];
  const tx = client.beginTransaction();
  const first = pipeline.create(tx, 'PassThrough', (err) => { outcome[0] = err || 'ok'; });
  gone.getName(tx, (err) => { outcome[1] = err || 'ok'; });
  pipeline.create(tx, 'PassThrough', (err) => { outcome[2] = err || 'ok'; });
  const [result] = await call(tx, 'commit');

  assert.equal(result.value.length, 2, `execution must stop after the failing operation: ${JSON.stringify(result.value)}`);
  assert.equal(outcome[0], 'ok');
  assert.ok(first.id.startsWith(pipeline.id + '/'));
  assert.equal(outcome[1].code, 40101, `operation 1 should fail with 40101: ${outcome[1]}`);
  assert.match(outcome[1].message, / not found/);
  assert.ok(outcome[2] instanceof Error && /not executed/.test(outcome[2].message),
    `operation 2 should not be executed: ${outcome[2]}`);

  await call(pipeline, 'release');
});

fx.test('raw transaction frames: newref in any position, ids, errors', async () => {
  const raw = await fx.raw();
  const { sessionId } = await raw.result('describe', { object: 'manager_ServerManager' });

  const op = (id, method, params) => ({ jsonrpc: '2.0', id, method, params });
  const res = await raw.result('transaction', {
    // kurento-client sends a serialised junk object here; it must be ignored.
    object: { _events: {}, _eventsCount: 1 },
    operations: [
      op(0, 'create', { type: 'MediaPipeline', properties: {} }),
      op(1, 'create', { type: 'kurento.PassThrough', constructorParams: { mediaPipeline: 'newref:0' }, properties: {} }),
      op(2, 'invoke', { object: 'newref:1', operation: 'setName', operationParams: { name: 'tx-named' } }),
      op(3, 'invoke', { object: 'newref:1', operation: 'getName' }),
    ],
    sessionId,
  });
  assert.equal(res.sessionId, sessionId);
  assert.equal(res.value.length, 4, JSON.stringify(res));
  const [p, e, set, get] = res.value;
  assert.match(p.result.value, /_kurento\.MediaPipeline$/);
  assert.ok(e.result.value.startsWith(p.result.value + '/'), JSON.stringify(e));
  assert.match(e.result.value, /_kurento\.PassThrough$/);
  assert.equal(set.result.value, null);
  assert.equal(get.result.value, 'tx-named');
  for (const r of res.value) assert.equal(r.result.sessionId, sessionId, `per-op sessionId: ${JSON.stringify(r)}`);

  // Stop at the first error; the transaction itself succeeds.
  const res2 = await raw.result('transaction', {
    operations: [
      op(0, 'invoke', { object: e.result.value, operation: 'getName' }),
      op(1, 'create', { type: 'PassThrough', constructorParams: { mediaPipeline: 'nope_kurento.MediaPipeline' } }),
      op(2, 'create', { type: 'PassThrough', constructorParams: { mediaPipeline: p.result.value } }),
    ],
    sessionId,
  });
  assert.equal(res2.value.length, 2, JSON.stringify(res2));
  assert.equal(res2.value[0].result.value, 'tx-named');
  assert.equal(res2.value[1].id, 1);
  assert.equal(res2.value[1].error.code, 40101, JSON.stringify(res2.value[1]));

  // Operation ids must be 0, 1, 2...
  const bad = await raw.error('transaction', { operations: [op(7, 'create', { type: 'MediaPipeline' })], sessionId });
  assert.equal(bad.code, 40008, JSON.stringify(bad));
  assert.equal(bad.data && bad.data.type, 'MALFORMED_TRANSACTION');

  // newref outside a transaction.
  const outside = await raw.error('invoke', { object: 'newref:0', operation: 'getName', sessionId });
  assert.equal(outside.code, 40109, JSON.stringify(outside));

  await raw.result('release', { object: p.result.value, sessionId });
});
