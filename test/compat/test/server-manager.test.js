'use strict';
// (a) ServerManager: getInfo, getPipelines, getSessions, getUsedMemory, getCpuCount, getKmd.
const { assert, useServer, call, expectCode } = require('../harness');

const fx = useServer();

fx.test('ServerManager.getInfo lists the core, elements and filters modules', async () => {
  const [client] = await fx.client();
  const [manager] = await call(client, 'getServerManager');
  assert.equal(manager.id, 'manager_ServerManager');

  const [info] = await call(manager, 'getInfo');
  assert.ok(info && Array.isArray(info.modules), `getInfo returned ${JSON.stringify(info)}`);
  const byName = Object.fromEntries(info.modules.map((m) => [m.name, m]));
  for (const name of ['core', 'elements', 'filters']) {
    assert.ok(byName[name], `module ${name} missing from getInfo: ${JSON.stringify(info.modules.map((m) => m.name))}`);
    assert.ok(Array.isArray(byName[name].factories), `module ${name} has no factories array`);
  }
  for (const factory of ['MediaPipeline', 'PassThrough', 'HubPort']) {
    assert.ok(byName.core.factories.includes(factory), `core factories lack ${factory}: ${JSON.stringify(byName.core.factories)}`);
  }
  for (const factory of ['Dispatcher', 'DispatcherOneToMany']) {
    assert.ok(byName.elements.factories.includes(factory), `elements factories lack ${factory}: ${JSON.stringify(byName.elements.factories)}`);
  }
  assert.ok(Array.isArray(info.capabilities) && info.capabilities.includes('transactions'),
    `capabilities should advertise "transactions": ${JSON.stringify(info.capabilities)}`);
});

fx.test('ServerManager.getPipelines and getSessions', async () => {
  const [client] = await fx.client();
  const [manager] = await call(client, 'getServerManager');
  const [pipeline] = await call(client, 'create', 'MediaPipeline');

  const [pipelines] = await call(manager, 'getPipelines');
  assert.ok(Array.isArray(pipelines), 'getPipelines should return an array');
  const ids = pipelines.map((p) => p.id);
  assert.ok(ids.includes(pipeline.id), `getPipelines ${JSON.stringify(ids)} lacks ${pipeline.id}`);
  const mine = pipelines.find((p) => p.id === pipeline.id);
  assert.equal(mine.constructor.name, 'MediaPipeline');

  const [sessions] = await call(manager, 'getSessions');
  assert.ok(Array.isArray(sessions), 'getSessions should return an array');
  assert.ok(typeof client.sessionId === 'string' && client.sessionId.length > 0, 'client has no sessionId');
  assert.ok(sessions.includes(client.sessionId), `getSessions ${JSON.stringify(sessions)} lacks ${client.sessionId}`);

  await call(pipeline, 'release');
  const [after] = await call(manager, 'getPipelines');
  assert.ok(!after.map((p) => p.id).includes(pipeline.id), 'released pipeline still listed by getPipelines');
});

fx.test('ServerManager.getUsedMemory, getCpuCount, getKmd', async () => {
  const [client] = await fx.client();
  const [manager] = await call(client, 'getServerManager');

  const [mem] = await call(manager, 'getUsedMemory');
  assert.equal(typeof mem, 'number', `getUsedMemory returned ${JSON.stringify(mem)}`);
  assert.ok(mem > 0, `getUsedMemory should be > 0, got ${mem}`);

  const [cpus] = await call(manager, 'getCpuCount');
  assert.ok(Number.isInteger(cpus) && cpus >= 1, `getCpuCount should be an integer >= 1, got ${cpus}`);

  const [kmd] = await call(manager, 'getKmd', 'core');
  assert.equal(typeof kmd, 'string', 'getKmd should return the kmd as a string');
  assert.ok(kmd.trimStart().startsWith('{'), `getKmd('core') is not JSON text: ${kmd.slice(0, 80)}`);
  assert.ok(kmd.includes('"MediaObject"'), 'getKmd(core) does not mention "MediaObject"');

  await expectCode(call(manager, 'getKmd', 'no-such-module'), 40500,
    { type: 'SERVER_MANAGER_ERROR_KMD_NOT_FOUND', what: "getKmd('no-such-module')" });
});
