// Sends events to a Waymark server with the real @segment/analytics-node library.
//   node node_client.cjs URL WRITE_KEY
const { Analytics } = require('@segment/analytics-node');

const [url, writeKey] = process.argv.slice(2);
const analytics = new Analytics({ writeKey, host: url, path: '/v1/batch', maxEventsInBatch: 10, flushInterval: 100, maxRetries: 1 });
const failures = [];
analytics.on('error', (error) => failures.push(String(error && (error.reason || error.message || error))));

analytics.identify({ userId: 'node-user', traits: { email: 'node@example.com' } });
analytics.track({ userId: 'node-user', event: 'Node Event', properties: { items: 3 } });
analytics.page({ anonymousId: 'node-anon', name: 'Docs', properties: { path: '/docs' } });

analytics.closeAndFlush({ timeout: 10000 }).then(() => {
  if (failures.length > 0) {
    console.error(failures.join('\n'));
    process.exit(1);
  }
  console.log('sent');
});
