// Stand-in for Node's `domain` module in the browser bundle: with no Domain class, kurento-client's
// TransactionsManager falls back to its own small FakeDomain (as it does with domain-patch.js in Node).
module.exports = {};
