'use strict';
// Preloaded with `node --require ./domain-patch.js`.
//
// kurento-client 7.3.0 derives its Transaction class from `require('domain').Domain` and calls the
// parent constructor ES5-style (`Domain.call(this)`). Since Node 12 Domain is an ES class, so every
// explicit transaction (client.transaction(), client.beginTransaction()) throws "Class constructor
// Domain cannot be invoked without 'new'". With Domain hidden, kurento-client falls back to its own
// small FakeDomain, which is all it needs.
require('domain').Domain = undefined;
