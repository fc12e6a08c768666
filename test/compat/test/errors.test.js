'use strict';
// (h) error codes: 40101 unknown object, 40001 bad params, 40108 unknown type, -32601 unknown method,
// 40008 unknown operation, 40106 unknown event, plus the JSON-RPC level errors.
const { assert, useServer, call, expectCode, rejection } = require('../harness');

const fx = useServer();

fx.test('unknown object id: getMediaobjectById -> 40101', async () => {
  const [client] = await fx.client();
  const id = '00000000-0000-0000-0000-000000000000_kurento.MediaPipeline';
  const err = await expectCode(call(client, 'getMediaobjectById', id), 40101,
    { type: 'MEDIA_OBJECT_NOT_FOUND', message: / not found/, what: 'describe of an unknown id' });
  assert.ok(err instanceof ReferenceError, 'kurento-client maps 40101 to ReferenceError');
  assert.ok(err.message.includes(id), `message should name the id: ${err.message}`);

  const [pipeline] = await call(client, 'create', 'MediaPipeline');
  await expectCode(call(client, 'getMediaobjectById', `${pipeline.id}/nope_kurento.PassThrough`), 40101,
    { what: 'describe of an unknown child id' });
  await call(pipeline, 'release');
});

fx.test('bad parameters -> 40001', async () => {
  const [client] = await fx.client();
  const [pipeline] = await call(client, 'create', 'MediaPipeline');
  const [pt] = await call(pipeline, 'create', 'PassThrough');

  // kurento-client 7.3.0 does not type-check these parameters, so they reach the server.
  await expectCode(call(pt, 'setName', 42), 40001, { type: 'MARSHALL_ERROR', what: 'setName(42)' });
  await expectCode(call(pt, 'connect', pipeline), 40001, { type: 'MARSHALL_ERROR', what: 'connect(sink = a pipeline)' });
  const [pt2] = await call(pipeline, 'create', 'PassThrough');
  const badEnum = await rejection(call(pt, 'connect', pt2, 'NOT_A_MEDIA_TYPE'), "connect(sink, 'NOT_A_MEDIA_TYPE')");
  // An invalid enum value is a marshalling error (40001); 40005 UNSUPPORTED_MEDIA_TYPE is acceptable too.
  assert.ok([40001, 40005].includes(badEnum.code), `invalid mediaType: got ${badEnum.code} (${badEnum.message})`);

  // Raw frames for what kurento-client refuses client-side.
  const raw = await fx.raw();
  const { sessionId } = await raw.result('describe', { object: pt.id });
  let err = await raw.error('invoke', { object: pt.id, operation: 'setName', sessionId });
  assert.equal(err.code, 40001, `setName without operationParams: ${JSON.stringify(err)}`);
  err = await raw.error('invoke', { object: pt.id, operation: 'connect', operationParams: { sink: { nested: true } }, sessionId });
  assert.equal(err.code, 40001, `connect with an object as sink: ${JSON.stringify(err)}`);
  err = await raw.error('create', { type: 'PassThrough', constructorParams: {}, sessionId });
  assert.equal(err.code, 40001, `create without the required mediaPipeline: ${JSON.stringify(err)}`);
  err = await raw.error('create', { type: 'PassThrough', constructorParams: { mediaPipeline: 7 }, sessionId });
  assert.equal(err.code, 40001, `create with a number as mediaPipeline: ${JSON.stringify(err)}`);

  await call(pipeline, 'release');
});

fx.test('unknown type on create -> 40108', async () => {
  // A non-strict client lets unknown types through to the server.
  const [loose] = await fx.client({ strict: false });
  const err = await rejection(call(loose, 'create', 'NoSuchElement'), 'create NoSuchElement');
  assert.equal(err.code, 40108, `expected 40108, got ${err.code} (${err.message})`);
  assert.equal(err.data && err.data.type, 'MEDIA_OBJECT_NOT_AVAILABLE');

  const raw = await fx.raw();
  const { sessionId } = await raw.result('describe', { object: 'manager_ServerManager' });
  const e2 = await raw.error('create', { type: 'kurento.NoSuchElement', constructorParams: {}, properties: {}, sessionId });
  assert.equal(e2.code, 40108, JSON.stringify(e2));
  assert.match(e2.message, /NoSuchElement/);
  // Abstract classes have no factory either.
  const e3 = await raw.error('create', { type: 'MediaElement', constructorParams: {}, sessionId });
  assert.equal(e3.code, 40108, JSON.stringify(e3));
});

fx.test('unknown JSON-RPC method -> -32601', async () => {
  const raw = await fx.raw();
  const res = await raw.request('noSuchMethod', { sessionId: 'x' }, { id: 77 });
  assert.equal(res.jsonrpc, '2.0');
  assert.equal(res.id, 77);
  assert.ok(res.error, JSON.stringify(res));
  assert.equal(res.error.code, -32601, JSON.stringify(res));
  assert.equal(res.result, undefined);
});

fx.test('unknown operation -> 40008', async () => {
  const [client] = await fx.client();
  const [pipeline] = await call(client, 'create', 'MediaPipeline');
  const [pt] = await call(pipeline, 'create', 'PassThrough');
  // The generated API has no unknown methods: use the generic _invoke, as the upstream tests do.
  const err = await expectCode(call(pt, '_invoke', undefined, 'noSuchMethod', { a: 1 }), 40008,
    { type: 'MALFORMED_TRANSACTION', what: 'invoke noSuchMethod' });
  assert.match(err.message, /noSuchMethod/);
  // Methods of another class are unknown too (PassThrough has no getInfo).
  await expectCode(call(pt, '_invoke', undefined, 'getInfo'), 40008, { what: 'invoke getInfo on a PassThrough' });
  await call(pipeline, 'release');
});

fx.test('subscribe to an unknown event -> 40106', async () => {
  const raw = await fx.raw();
  const { sessionId } = await raw.result('describe', { object: 'manager_ServerManager' });
  const { value: p } = await raw.result('create', { type: 'MediaPipeline', properties: {}, sessionId });
  const { value: pt } = await raw.result('create', { type: 'PassThrough', constructorParams: { mediaPipeline: p }, sessionId });

  let err = await raw.error('subscribe', { object: pt, type: 'NoSuchEvent', sessionId });
  assert.equal(err.code, 40106, JSON.stringify(err));
  assert.equal(err.data && err.data.type, 'MEDIA_OBJECT_EVENT_NOT_SUPPORTED');
  // 6.x event names are not accepted; events of other classes are not either.
  err = await raw.error('subscribe', { object: pt, type: 'MediaFlowInStateChange', sessionId });
  assert.equal(err.code, 40106, JSON.stringify(err));
  err = await raw.error('subscribe', { object: pt, type: 'IceCandidateFound', sessionId });
  assert.equal(err.code, 40106, JSON.stringify(err));
  // Inherited events are accepted.
  const ok = await raw.result('subscribe', { object: pt, type: 'Error', sessionId });
  assert.equal(typeof ok.value, 'string');
  const ok2 = await raw.result('subscribe', { object: 'manager_ServerManager', type: 'ObjectCreated', sessionId });
  assert.equal(typeof ok2.value, 'string');
  // Subscribing on an unknown object.
  err = await raw.error('subscribe', { object: `${p}/nope_kurento.PassThrough`, type: 'Error', sessionId });
  assert.equal(err.code, 40101, JSON.stringify(err));

  await raw.result('release', { object: p, sessionId });
});

fx.test('JSON-RPC level errors', async () => {
  const raw = await fx.raw();
  const problems = [];
  const expectError = (what, res, code, type) => {
    if (!res.error) return problems.push(`${what}: expected error ${code}, got ${JSON.stringify(res)}`);
    if (res.error.code !== code) problems.push(`${what}: expected code ${code}, got ${JSON.stringify(res)}`);
    if (type && !(res.error.data && res.error.data.type === type)) problems.push(`${what}: expected data.type ${type}, got ${JSON.stringify(res)}`);
    return undefined;
  };
  // Missing params where they are required (PROTOCOL.md 4.10 / 7).
  expectError('invoke without params', await raw.request('invoke', undefined), -32602, 'INVALID_PARAMS');
  // Missing 'type' on create.
  expectError("create without 'type'", await raw.request('create', { constructorParams: {} }), -32000);
  // connect / keepAlive with an unknown session.
  expectError('connect with an unknown sessionId',
    await raw.request('connect', { sessionId: '11111111-2222-3333-4444-555555555555' }), 40007, 'INVALID_SESSION');
  expectError('keepAlive with an unknown sessionId',
    await raw.request('keepAlive', { sessionId: '11111111-2222-3333-4444-555555555555' }), 40007, 'INVALID_SESSION');
  // Malformed requests: answered with -32600 / -32700 and id null.
  raw.sendRaw({ jsonrpc: '1.0', method: 'ping', id: 4 });
  expectError('jsonrpc "1.0"', await raw.waitForNotification((m) => m.error && m.error.code !== -32700), -32600);
  raw.sendRaw('{"jsonrpc":"2.0","method":"ping",');
  expectError('unparsable frame', await raw.waitForNotification((m) => m.error && m.error.code === -32700), -32700);
  if (problems.length) assert.fail(problems.join('\n'));
  // The connection survives all of this.
  const pong = await raw.result('ping', { interval: 5000 });
  assert.equal(pong.value, 'pong');
});
