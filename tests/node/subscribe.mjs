// Subscribes to changeEvents on server A with the graphql-ws client, files,
// edits and submits a change through server B's /graphql, and prints what A's
// subscribers received as one JSON line. Also checks that a connection
// without a valid token is refused and that A's live-subscription gauge
// returns to its starting value after the clients go away.
//
// Environment: A_URL, B_URL (http://host:port), TOKEN, SYSTEM_ID (a system
// the change touches).
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const { A_URL, B_URL, TOKEN, SYSTEM_ID } = process.env;
const wsUrl = `${A_URL.replace(/^http/, 'ws')}/graphql/ws`;
const deadline = (ms, what) =>
  new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms));

async function liveSubscriptions() {
  const text = await (await fetch(`${A_URL}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('gatehouse_graphql_subscriptions_active '));
  return Number(line.split(' ')[1]);
}

async function waitForGauge(value) {
  for (let i = 0; i < 100; i += 1) {
    if ((await liveSubscriptions()) === value) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gatehouse_graphql_subscriptions_active never reached ${value} (is ${await liveSubscriptions()})`);
}

async function graphqlOnB(query, variables, expectError = false) {
  const response = await fetch(`${B_URL}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (expectError) {
    if (!body.errors) throw new Error(`expected an error: ${JSON.stringify(body)}`);
    return body.errors[0].extensions.code;
  }
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

function client(token) {
  return createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
}

// Collects events of one subscription until `count` arrived.
function collect(c, query, variables, count) {
  const events = [];
  let done;
  const finished = new Promise((resolve, reject) => {
    done = c.subscribe(
      { query, variables },
      {
        next: (value) => {
          if (value.errors) reject(new Error(JSON.stringify(value.errors)));
          events.push(value.data.changeEvents);
          if (events.length === count) resolve(events);
        },
        error: reject,
        complete: () => resolve(events),
      },
    );
  });
  return { finished, unsubscribe: () => done() };
}

const SUBSCRIPTION = `subscription($filter: ChangeEventFilter) {
  changeEvents(filter: $filter) { changeId number type action statusBefore statusAfter actorEmail occurredAt }
}`;

async function refusedWithoutToken(token) {
  const c = client(token);
  try {
    await Promise.race([
      new Promise((resolve, reject) => {
        c.subscribe({ query: SUBSCRIPTION }, { next: () => reject(new Error('accepted')), error: resolve, complete: () => reject(new Error('completed')) });
      }),
      deadline(5000, 'refusal'),
    ]);
    return true;
  } finally {
    await c.dispose();
  }
}

const before = await liveSubscriptions();
const a = client(TOKEN);
const all = collect(a, SUBSCRIPTION, {}, 3);
const submittedOnly = collect(a, SUBSCRIPTION, { filter: { statuses: ['AWAITING_APPROVAL'] } }, 1);
const otherChange = collect(a, SUBSCRIPTION, { filter: { changeId: '00000000-0000-0000-0000-000000000000' } }, 1);
await waitForGauge(before + 3);

const created = await graphqlOnB(
  `mutation($input: CreateChangeInput!) { createChange(input: $input) { id number version } }`,
  {
    input: {
      title: 'Rotate TLS certificates', description: 'Replace expiring certificates', businessJustification: 'Avoid an outage',
      type: 'normal', likelihood: 2, impact: 3,
      // What the default policy's normal changes state before submission.
      systemIds: [SYSTEM_ID],
      implementationPlan: { steps: ['install the new certificates', 'reload the proxies'], deploymentMethod: 'ROLLING' },
      testPlan: 'TLS handshake checks pass against every endpoint',
      rollbackPlan: { trigger: 'handshake failures', steps: ['restore the previous certificates'] },
      plannedStart: '2030-01-07T02:00:00Z', plannedEnd: '2030-01-07T03:00:00Z',
    },
  },
);
// Edits of a draft are events too.
await graphqlOnB(
  `mutation($id: ID!, $version: Int!, $input: UpdateChangeInput!) { updateChange(id: $id, expectedVersion: $version, input: $input) { version } }`,
  { id: created.createChange.id, version: created.createChange.version, input: { title: 'Rotate TLS certificates (all regions)' } },
);
// A refused transition writes nothing, so it must raise no event.
const refused = await graphqlOnB(`mutation($id: ID!) { closeChange(id: $id) { status } }`, { id: created.createChange.id }, true);
await graphqlOnB(`mutation($id: ID!) { submitChange(id: $id) { status } }`, { id: created.createChange.id });

const events = await Promise.race([all.finished, deadline(10000, 'three events on A')]);
const submitted = await Promise.race([submittedOnly.finished, deadline(10000, 'filtered event on A')]);
// Give a wrongly delivered event time to arrive before judging the filter.
await new Promise((r) => setTimeout(r, 300));
const unrelated = [];
otherChange.finished.then((e) => unrelated.push(...e));
all.unsubscribe();
submittedOnly.unsubscribe();
otherChange.unsubscribe();
await a.dispose();
await waitForGauge(before);

const refusedNoToken = await refusedWithoutToken(undefined);
const refusedBadToken = await refusedWithoutToken('gh_not_a_real_token');
await waitForGauge(before);

console.log(JSON.stringify({ created: created.createChange, refused, events, submitted, unrelated, refusedNoToken, refusedBadToken, gaugeBefore: before, gaugeAfter: await liveSubscriptions() }));
process.exit(0);
