// Drives ferry's web console in Debian's chromium, as a person would, for
// tests/tests/console: sign in, read the overview, create a topic and watch
// its task succeed, see its partitions, produce to it (through the Rust
// test, with a native Kafka client) and see the count and a chart follow,
// create, pause, resume, change and delete a changefeed between two
// MariaDB servers, plan a pasted desired-state document and apply it as a
// changeset, mint a token (shown once), check that a viewer sees no control that
// changes anything, see a lost connection said and recovered from, and
// check accessibility basics on every page. Any error in the page's
// console fails the run. Screenshots of each page go
// to SCREENSHOT_DIR.
//
// Settings (environment): FERRY_URL, FERRY_ADMIN_TOKEN, FERRY_CLUSTER_ID,
// FERRY_CLUSTER_NAME, FERRY_TOPIC, FERRY_UPSTREAM_ID and
// FERRY_DOWNSTREAM_ID (registered MySQL clusters), FERRY_FEED_RULE,
// SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium). It asks its parent to produce records by printing
// `ferry-test: produce <topic>` and waits for a line on stdin.

import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is not set`);
  return value;
};
const URL_ = env('FERRY_URL');
const ADMIN = env('FERRY_ADMIN_TOKEN');
const CLUSTER = env('FERRY_CLUSTER_ID');
const CLUSTER_NAME = env('FERRY_CLUSTER_NAME');
const TOPIC = env('FERRY_TOPIC');
const UPSTREAM = env('FERRY_UPSTREAM_ID');
const DOWNSTREAM = env('FERRY_DOWNSTREAM_ID');
const FEED_RULE = env('FERRY_FEED_RULE');
const FEED = 'console-feed';
const SHOTS = env('SCREENSHOT_DIR');
// This run's screenshots only: a failed earlier run's would mislead.
rmSync(SHOTS, { recursive: true, force: true });
mkdirSync(SHOTS, { recursive: true });

// Controls whose presence means the page lets its reader change something.
const MUTATING = /^(Create|Delete|Remove|Cancel task|Pause|Resume|Update|Revoke|Mint|Plan|Apply|Approve|Check drift|Start|Stop)/;
const SLOW = { timeout: 60_000 };

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function askParent(request) {
  console.log(`ferry-test: ${request}`);
  const answer = await lines.next();
  assert.equal(answer.value, 'ok', `the test did not do: ${request}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-background-networking'],
});
const problems = [];

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error on ${page.url()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

async function step(name, page, work) {
  process.stderr.write(`console test: ${name}\n`);
  try {
    await work();
  } catch (err) {
    await shot(page, `failed-${name.replace(/\W+/g, '-')}`).catch(() => {});
    throw err;
  }
}

// Every visible control has an accessible name, every page one h1, and
// `expected` (accessible names) are reached by Tab from the page's start.
async function accessible(page, expected) {
  const unnamed = await page.evaluate(() => {
    const visible = (el) => el.offsetParent !== null || el.getClientRects().length > 0;
    const name = (el) => {
      const aria = el.getAttribute('aria-label') || '';
      const labelled = [...(el.labels || [])].map((l) => l.textContent).join(' ');
      return (aria || labelled || (el.tagName === 'INPUT' ? '' : el.textContent) || el.title || '').trim();
    };
    return [...document.querySelectorAll('button, input, select, textarea, a[href]')]
      .filter((el) => visible(el) && !el.closest('dialog:not([open])') && !name(el))
      .map((el) => el.outerHTML.slice(0, 120));
  });
  assert.deepEqual(unnamed, [], `controls without an accessible name on ${page.url()}`);
  assert.equal(await page.locator('h1').count(), 1, `one h1 on ${page.url()}`);
  await page.locator('body').focus();
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  const reached = new Set();
  for (let i = 0; i < 80 && reached.size < 400; i += 1) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return '';
      const label = [...(el.labels || [])].map((l) => l.textContent).join(' ');
      return (el.getAttribute('aria-label') || label || el.textContent || '').trim();
    });
    reached.add(focused);
  }
  for (const name of expected) {
    assert.ok(reached.has(name), `${name} is not reachable by Tab on ${page.url()}: reached ${[...reached].join(' | ')}`);
  }
}

const page = await newPage();

await step('sign in', page, async () => {
  await page.goto(`${URL_}/`);
  await page.getByRole('heading', { name: 'Sign in to ferry' }).waitFor();
  await accessible(page, ['Token', 'Sign in']);
  await shot(page, 'sign-in');
  await page.getByLabel('Token').fill(ADMIN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  await page.getByText('admin (global admin)').waitFor();
});

await step('overview', page, async () => {
  const clusters = page.getByRole('table', { name: 'Clusters' });
  const row = clusters.getByRole('row', { name: new RegExp(CLUSTER_NAME) });
  await row.getByText('reachable').waitFor(SLOW);
  assert.equal(await row.getByRole('cell').nth(3).textContent(), '1', 'tansu has one broker');
  // The failed ping the test submitted, with its message.
  const failures = page.getByRole('table', { name: 'Recent failures' });
  await failures.getByText('the console shows this failure').waitFor();
  assert.equal(await page.locator('[data-count="failed"]').textContent(), '1');
  await accessible(page, ['Overview', 'Tasks', 'Clusters', 'Changefeeds', 'Admin', 'Sign out']);
  await shot(page, 'overview');
});

let taskUrl;
await step('create a topic and watch its task', page, async () => {
  await page.goto(`${URL_}/#/clusters/${CLUSTER}`);
  await page.getByRole('table', { name: 'Brokers' }).waitFor();
  // The controller's configs, as the broker reports them (tansu keeps none
  // of its own, so the section may say so instead of listing them).
  const brokerConfigs = page.getByRole('region', { name: 'Broker configs' });
  await brokerConfigs.getByRole('table', { name: /^Configs of broker \d+ \(\d+ set, \d+ defaults\)$/ })
    .or(brokerConfigs.getByText('none reported by the broker.')).waitFor(SLOW);
  await accessible(page, ['Tasks', 'Topic name', 'Partitions', 'Create topic']);
  await shot(page, 'cluster');
  await page.getByLabel('Topic name').fill(TOPIC);
  await page.getByLabel('Partitions').fill('3');
  await page.getByRole('textbox', { name: /^Configs/ }).fill('cleanup.policy=compact');
  await page.getByRole('button', { name: 'Create topic' }).click();
  await page.waitForURL(/#\/tasks\/[0-9a-f-]+$/, SLOW);
  taskUrl = page.url();
  await page.getByRole('heading', { name: /^Task / }).waitFor();
  const statusCell = page.locator('dt:text-is("Status") + dd');
  await statusCell.getByText('succeeded').waitFor(SLOW);
  assert.equal(await page.locator('dt:text-is("Kind") + dd').textContent(), 'topic.create');
  assert.equal(await page.locator('dt:text-is("Subject") + dd').textContent(), TOPIC);
  assert.match(await page.locator('section[aria-labelledby="s-payload"] pre').textContent(), new RegExp(TOPIC));
  // The audit trail of the call that made it, and of no other call (the
  // log also holds the cluster's registration and the failed ping).
  const trail = page.getByRole('table', { name: /Audit entries/ });
  await trail.getByText(`POST /v3/clusters/${CLUSTER}/topics`).waitFor();
  assert.equal(await trail.locator('tbody tr').count(), 1, 'the trail is filtered by the request');
  // A finished task cannot be cancelled.
  assert.equal(await page.getByRole('button', { name: 'Cancel task' }).count(), 0);
  await accessible(page, ['Tasks']);
  await shot(page, 'task');
});

await step('tasks list', page, async () => {
  await page.goto(`${URL_}/#/tasks?kind=topic.create`);
  const list = page.getByRole('table', { name: /^Tasks, page 1 of 1/ });
  await list.getByRole('row', { name: new RegExp(TOPIC) }).getByText('succeeded').waitFor();
  assert.equal(await page.getByLabel('Kind').inputValue(), 'topic.create');
  await page.getByLabel('Status').selectOption('failed');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByText('no task matches.').waitFor();
  assert.match(page.url(), /status=failed/);
  await accessible(page, ['Status', 'Kind', 'Cluster id', 'Subject', 'Filter', 'Follow new tasks live']);
  await page.goto(`${URL_}/#/tasks`);
  await page.getByRole('table', { name: /^Tasks, page 1 of 1 \(2 in all\)/ }).waitFor();
  await shot(page, 'tasks');
});

await step('topic page', page, async () => {
  await page.goto(`${URL_}/#/clusters/${CLUSTER}/topics/${TOPIC}`);
  const partitions = page.getByRole('table', { name: 'Partitions (3)' });
  await partitions.waitFor(SLOW);
  assert.equal(await partitions.locator('tbody tr').count(), 3);
  for (let p = 0; p < 3; p += 1) {
    const leader = await partitions.locator('tbody tr').nth(p).locator('td').nth(1).textContent();
    assert.match(leader, /^\d+$/, `partition ${p} has a leader`);
  }
  // The config set at creation, marked default or overridden as the API
  // says (tansu 0.6 reports it as DEFAULT_CONFIG; a real Kafka as
  // DYNAMIC_TOPIC_CONFIG).
  const configs = page.getByRole('table', { name: /^Configs \(/ });
  const policy = configs.locator('tbody tr').filter({ hasText: 'cleanup.policy' });
  assert.equal(await policy.locator('td').nth(1).textContent(), 'compact');
  const listed = await (await fetch(`${URL_}/v3/clusters/${CLUSTER}/topics/${TOPIC}/configs`, {
    headers: { Authorization: `Bearer ${ADMIN}` },
  })).json();
  const stated = listed.data.find((c) => c.name === 'cleanup.policy');
  assert.equal(await policy.locator('td').nth(2).textContent(), stated.is_default ? 'default' : 'overridden');
  assert.equal(await policy.locator('td').nth(3).textContent(), stated.source);
  await page.getByRole('heading', { name: 'Over time' }).waitFor();
  await accessible(page, ['Delete topic', 'Window']);
});

await step('produce and see the count, lag and chart follow', page, async () => {
  await askParent(`produce ${TOPIC}`);
  const endOffset = page.getByRole('table', { name: 'Partitions (3)' }).locator('tbody tr').first().locator('td').nth(5);
  const chart = page.locator('figure', { has: page.getByText('Messages', { exact: true }) }).locator('svg');
  for (let i = 0; ; i += 1) {
    await page.reload();
    await page.getByRole('table', { name: 'Partitions (3)' }).waitFor(SLOW);
    const drawn = await chart.count();
    const label = drawn ? await chart.getAttribute('aria-label') : '';
    if ((await endOffset.textContent()) === '6' && /latest .*\b6\b/.test(label)) break;
    assert.ok(i < 20, `the count and chart did not reach 6 records: end offset ${await endOffset.textContent()}, chart ${label}`);
    await page.waitForTimeout(3000);
  }
  assert.ok(await chart.locator('polyline, circle').count() > 0, 'the chart draws its series');
  const groups = page.getByRole('table', { name: /Consumer groups reading this topic/ });
  const row = groups.locator('tbody tr').filter({ hasText: 'console-group' })
    .filter({ has: page.locator('td:nth-child(2):text-is("0")') });
  assert.equal(await row.locator('td').nth(4).textContent(), '2', 'the group lags 2 records on partition 0');
  await shot(page, 'topic');
});

await step('typed confirmation', page, async () => {
  await page.getByRole('button', { name: 'Delete topic' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  const confirm = dialog.getByRole('button', { name: 'Delete topic' });
  assert.ok(await confirm.isDisabled(), 'deleting waits for the name');
  await dialog.getByLabel(`Type ${TOPIC} to confirm`).fill(`${TOPIC}x`);
  assert.ok(await confirm.isDisabled(), 'a wrong name does not delete');
  await dialog.getByLabel(`Type ${TOPIC} to confirm`).fill(TOPIC);
  assert.ok(await confirm.isEnabled(), 'the right name enables it');
  await shot(page, 'confirm-delete');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'hidden' });
});

// The changefeed page's fields, by term.
const field = (p, term) => p.locator(`dt:text-is("${term}") + dd`);

let feedUrl;
await step('create, pause, resume and change a changefeed', page, async () => {
  await page.goto(`${URL_}/#/changefeeds`);
  await page.getByRole('heading', { name: 'Changefeeds' }).waitFor();
  await page.getByText('Changefeeds (0): none yet.').waitFor();
  await accessible(page, ['Name', 'Upstream cluster id', 'Create changefeed']);
  await page.getByLabel('Name', { exact: true }).fill(FEED);
  await page.getByLabel('Upstream cluster id').fill(UPSTREAM);
  await page.getByLabel('Downstream type').selectOption('mysql');
  await page.getByLabel('Downstream cluster id').fill(DOWNSTREAM);
  await page.getByLabel('Rules, comma-separated').fill(FEED_RULE);
  await page.getByRole('button', { name: 'Create changefeed' }).click();
  await page.waitForURL(/#\/changefeeds\/[^/]+$/, SLOW);
  feedUrl = page.url();
  await page.getByRole('heading', { name: FEED }).waitFor();
  await field(page, 'State').getByText('Normal').waitFor({ timeout: 90_000 });
  await field(page, 'Operation in flight').getByText('no').waitFor(SLOW);
  assert.match(await field(page, 'Lag').textContent(), /^\d+(\.\d)? (ms|s|min|h)$/);
  // The lag chart gains a point at every refresh while the page is open.
  const lagChart = page.getByRole('img', { name: /^Lag since this page opened: latest lag \d/ });
  await lagChart.waitFor();
  await page.waitForFunction(() => {
    const line = document.querySelector('figure.chart polyline');
    return line && line.getAttribute('points').trim().split(' ').length >= 2;
  }, null, SLOW);
  assert.equal(await page.locator('section[aria-labelledby="s-rules"] li').textContent(), FEED_RULE);
  const downstream = await page.locator('section[aria-labelledby="s-downstream"] pre').textContent();
  assert.match(downstream, new RegExp(`"targetClusterId": "${DOWNSTREAM}"`));
  for (const [, value] of downstream.matchAll(/"password\w*": "([^"]*)"/gi)) {
    assert.ok(value === '******' || value === '', `a password is shown: ${value}`);
  }
  await shot(page, 'changefeed');

  await page.getByRole('button', { name: 'Pause' }).click();
  const said = page.getByRole('status').filter({ hasText: /^Pause: task/ });
  await said.waitFor(SLOW);
  assert.match(await said.textContent(), /^Pause: task [0-9a-f-]+ is \w+/);
  await field(page, 'State').getByText('Stopped').waitFor({ timeout: 90_000 });
  await page.getByRole('button', { name: 'Resume' }).waitFor(SLOW);
  assert.equal(await page.getByRole('button', { name: 'Pause' }).count(), 0, 'a stopped feed is not paused again');
  await shot(page, 'changefeed-paused');
  // The pause's own task, linked from the page.
  await said.getByRole('link').click();
  await field(page, 'Kind').getByText('changefeed.pause').waitFor();
  await field(page, 'Status').getByText('succeeded').waitFor(SLOW);
  await page.goto(feedUrl);
  await page.getByRole('button', { name: 'Resume' }).click();
  await field(page, 'State').getByText('Normal').waitFor({ timeout: 90_000 });

  // A change of rules: paused, changed and resumed by its task.
  const wider = `${FEED_RULE}, !${FEED_RULE.replace('.*', '.tmp_*')}`;
  await page.getByLabel('New rules, comma-separated').fill(wider);
  await page.getByRole('button', { name: 'Update changefeed' }).click();
  await page.getByRole('status').filter({ hasText: /^Update: task/ }).waitFor(SLOW);
  const rules = page.locator('section[aria-labelledby="s-rules"] li');
  await rules.nth(1).waitFor(SLOW);
  assert.deepEqual(await rules.allTextContents(), wider.split(', '));
  await field(page, 'State').getByText('Normal').waitFor({ timeout: 90_000 });
  await field(page, 'Operation in flight').getByText('no').waitFor({ timeout: 90_000 });

  await page.goto(`${URL_}/#/changefeeds`);
  const row = page.getByRole('table', { name: 'Changefeeds (1)' }).getByRole('row', { name: new RegExp(FEED) });
  await row.getByText('Normal').waitFor();
  await shot(page, 'changefeeds');
});

// A changeset: one topic, planned from a pasted document, applied.
const CHANGESET = 'console-changeset';
const CHANGESET_TOPIC = 'console.changeset';
let changesetUrl;
await step('plan and apply a changeset', page, async () => {
  await page.goto(`${URL_}/#/changesets`);
  await page.getByRole('heading', { name: 'Changesets', level: 1 }).waitFor();
  await page.getByText('Changesets (0): none yet.').waitFor();
  await accessible(page, ['Status', 'Name', 'Filter', 'Desired state (YAML or JSON)', 'Plan']);
  await page.getByLabel('Desired state (YAML or JSON)').fill(
    `cluster: ${CLUSTER}\nname: ${CHANGESET}\ntopics:\n  - name: ${CHANGESET_TOPIC}\n    partitions: 2\n`);
  await page.getByRole('button', { name: 'Plan', exact: true }).click();
  await page.waitForURL(/#\/changesets\/[^/]+$/, SLOW);
  changesetUrl = page.url();
  await page.getByRole('heading', { name: CHANGESET }).waitFor();
  await field(page, 'Status').getByText('planned').waitFor();
  const changes = page.getByRole('table', { name: /^Changes/ });
  const row = changes.getByRole('row', { name: new RegExp(CHANGESET_TOPIC.replace('.', '\\.')) });
  assert.equal(await row.getByRole('cell').nth(2).textContent(), 'create');
  await page.getByText('Plan: 1 to create, 0 to update, 0 to delete').waitFor();
  await accessible(page, ['Apply']);
  await shot(page, 'changeset-planned');

  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: 'Apply changeset' }).click();
  await dialog.waitFor({ state: 'hidden' });
  // The page follows the changeset until its tasks are done.
  await field(page, 'Status').getByText('applied', { exact: true }).waitFor({ timeout: 90_000 });
  const steps = page.getByRole('table', { name: /^Steps/ });
  await steps.getByRole('link').first().waitFor(SLOW);
  await steps.getByText('succeeded').first().waitFor(SLOW);
  assert.equal(await page.getByRole('button', { name: 'Apply', exact: true }).count(), 0, 'an applied changeset is not applied again');
  await page.getByRole('button', { name: 'Check drift now' }).waitFor();
  await accessible(page, ['Check drift now']);
  await shot(page, 'changeset-applied');

  await page.goto(`${URL_}/#/changesets`);
  const listed = page.getByRole('table', { name: 'Changesets (1)' }).getByRole('row', { name: new RegExp(CHANGESET) });
  await listed.getByText('applied').waitFor();
  await shot(page, 'changesets');
});

let viewerToken;
await step('admin: mint a token, shown once', page, async () => {
  await page.goto(`${URL_}/#/admin`);
  await page.getByRole('heading', { name: 'Administration' }).waitFor();
  await page.getByLabel('Token name').fill('console-viewer');
  await page.getByLabel('Role').selectOption('viewer');
  await page.getByRole('button', { name: 'Mint token' }).click();
  viewerToken = await page.getByLabel('New token').inputValue();
  assert.match(viewerToken, /^fy_/);
  await page.getByRole('table', { name: 'Global tokens' }).getByText('console-viewer').waitFor();
  await shot(page, 'admin-minted');
  await page.reload();
  await page.getByRole('table', { name: 'Global tokens' }).getByText('console-viewer').waitFor();
  await page.getByRole('table', { name: /^Audit log/ }).getByText('POST /api/v1/tokens').first().waitFor();
  assert.ok(!(await page.content()).includes(viewerToken), 'the token is shown only once');
  await page.getByLabel('Actor').fill('nobody');
  await page.getByRole('button', { name: 'Filter audit log' }).click();
  await page.getByText('no entry matches.').waitFor();
  await accessible(page, ['Token name', 'Role', 'Mint token', 'Project id', 'Create project', 'Actor']);
  await page.goto(`${URL_}/#/admin`);
  await page.getByRole('table', { name: /^Audit log/ }).waitFor();
  await shot(page, 'admin');
});

let projectToken;
await step('admin: a project, its grant and its token', page, async () => {
  await page.goto(`${URL_}/#/admin`);
  const create = page.getByRole('form', { name: 'Create a project' });
  await create.getByLabel('Project id').fill('teama');
  await create.getByLabel('Project name').fill('Team A');
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.getByRole('button', { name: 'Manage project teama' }).click();
  const panel = page.getByRole('region', { name: 'Project teama' });
  await panel.getByRole('table', { name: 'Grants of teama' }).or(panel.getByText('none: the project reaches no cluster.')).waitFor();
  await panel.getByLabel('Cluster', { exact: true }).selectOption(CLUSTER);
  await panel.getByLabel('Topic prefix (Kafka)').fill('teama.');
  await panel.getByRole('button', { name: 'Grant cluster' }).click();
  await panel.getByRole('table', { name: 'Grants of teama' }).getByText('teama.').waitFor();
  await panel.getByLabel('Token name').fill('teama-client');
  await panel.getByLabel('Role in the project').selectOption('CLIENT');
  await panel.getByRole('button', { name: 'Mint project token' }).click();
  projectToken = await panel.getByLabel('New project token').inputValue();
  assert.match(projectToken, /^fy_/);
  await panel.getByRole('table', { name: 'Tokens of teama' }).getByText('teama-client').waitFor();
  await accessible(page, ['Token name', 'Mint token', 'Create project', 'Manage project teama', 'Grant cluster']);
  await shot(page, 'admin-project');
});

const member = await newPage();
await step('a project token sees only its project', member, async () => {
  await member.goto(`${URL_}/`);
  await member.getByLabel('Token').fill(projectToken);
  await member.getByRole('button', { name: 'Sign in' }).click();
  const clusters = member.getByRole('table', { name: 'Clusters' });
  await clusters.getByText(CLUSTER_NAME).waitFor(SLOW);
  assert.equal(await clusters.getByText('console-upstream').count(), 0, 'an ungranted cluster is not listed');
  assert.ok(await member.getByRole('link', { name: 'Admin' }).isHidden(), 'no Admin page for a project token');
  // The project has submitted nothing: none of the admin's tasks show.
  await member.goto(`${URL_}/#/tasks`);
  await member.getByText('no task matches.').waitFor();
  await shot(member, 'project-tasks');
});

const viewer = await newPage();
await step('a viewer sees no control that changes anything', viewer, async () => {
  await viewer.goto(`${URL_}/`);
  await viewer.getByLabel('Token').fill(viewerToken);
  await viewer.getByRole('button', { name: 'Sign in' }).click();
  await viewer.getByText('console-viewer (global viewer)').waitFor();
  assert.ok(await viewer.getByRole('link', { name: 'Admin' }).isHidden(), 'no Admin page for a viewer');
  const hashOf = (url) => url.slice(url.indexOf('#'));
  const pages = [
    ['overview', '#/', 'Overview', (p) => p.getByRole('table', { name: 'Clusters' })],
    ['tasks', '#/tasks', 'Tasks', (p) => p.getByRole('table', { name: /^Tasks/ })],
    ['task', hashOf(taskUrl), /^Task /, (p) => p.locator('dt:text-is("Status")')],
    ['cluster', `#/clusters/${CLUSTER}`, /^Cluster /, (p) => p.getByRole('table', { name: /^Topics/ })],
    ['topic', `#/clusters/${CLUSTER}/topics/${TOPIC}`, /^Topic /, (p) => p.getByRole('table', { name: 'Partitions (3)' })],
    ['changefeeds', '#/changefeeds', 'Changefeeds', (p) => p.getByRole('table', { name: 'Changefeeds (1)' })],
    ['changefeed', hashOf(feedUrl), 'Changefeed', (p) => p.getByRole('heading', { name: FEED })],
    ['changesets', '#/changesets', 'Changesets', (p) => p.getByRole('table', { name: 'Changesets (1)' })],
    ['changeset', hashOf(changesetUrl), /^Changeset /, (p) => p.getByRole('heading', { name: CHANGESET })],
    ['admin', '#/admin', 'Administration', (p) => p.getByText('Only a global admin token administers ferry.')],
  ];
  for (const [name, hash, heading, loaded] of pages) {
    await viewer.goto(`${URL_}/${hash}`);
    await viewer.getByRole('heading', { name: heading, level: 1 }).waitFor();
    await loaded(viewer).first().waitFor(SLOW);
    const names = await viewer.getByRole('button').evaluateAll((els) => els
      .filter((el) => el.offsetParent !== null).map((el) => el.textContent.trim()));
    const mutating = names.filter((n) => MUTATING.test(n));
    assert.deepEqual(mutating, [], `a viewer sees ${mutating} on ${hash}`);
    assert.equal(await viewer.locator('form[aria-label^="Create"], form[aria-label^="Mint"], form[aria-label^="Update"], form[aria-label^="Plan"]').count(), 0, hash);
    await accessible(viewer, ['Overview', 'Sign out']);
    await shot(viewer, `viewer-${name}`);
  }
});

await step('a lost connection shows a banner, and the page recovers', viewer, async () => {
  await viewer.goto(`${URL_}/#/`);
  await viewer.getByRole('table', { name: 'Clusters' }).waitFor();
  const banner = viewer.getByRole('alert').filter({ hasText: 'The connection to ferry is lost; retrying' });
  await viewer.context().setOffline(true);
  await banner.waitFor(SLOW);
  await shot(viewer, 'connection-lost');
  await viewer.context().setOffline(false);
  await banner.waitFor({ state: 'hidden', timeout: 60_000 });
  await viewer.getByRole('table', { name: 'Clusters' }).waitFor();
});

await step('delete the changefeed, typing its name', page, async () => {
  await page.goto(feedUrl);
  await page.getByRole('button', { name: 'Delete changefeed' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel(`Type ${FEED} to confirm`).fill(FEED);
  await dialog.getByRole('button', { name: 'Delete changefeed' }).click();
  await page.waitForURL(/#\/tasks\/[0-9a-f-]+$/, SLOW);
  await field(page, 'Kind').getByText('changefeed.delete').waitFor();
  await field(page, 'Status').getByText('succeeded').waitFor({ timeout: 90_000 });
  await page.goto(`${URL_}/#/changefeeds`);
  await page.getByText('Changefeeds (0): none yet.').waitFor();
});

await browser.close();
// The requests cut off on purpose are the only errors allowed.
const unexpected = problems.filter((p) => !p.includes('net::ERR_INTERNET_DISCONNECTED'));
assert.deepEqual(unexpected, [], 'the page logged errors');
console.log('ferry-test: done');
process.exit(0);
