// The overview: every cluster the token reaches with whether it answers,
// tasks by status, changefeeds by state with their lag, and what failed
// lately and why. It refreshes itself every few seconds.

import { api, seg } from './api.js';
import { badge, errorBox, every, fill, h, link, number, section, status, table, time, duration } from './ui.js';

const STATUSES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'];

// A Kafka cluster answers when its brokers can be listed; the answer says
// how many there are. MySQL and TiDB clusters are not probed from here.
async function reach(cluster) {
  if (cluster.kind !== 'kafka') return { text: 'not probed', kind: 'muted' };
  try {
    const brokers = await api(`/v3/clusters/${seg(cluster.id)}/brokers`);
    return { text: 'reachable', kind: 'succeeded', brokers: brokers.data.length };
  } catch (err) {
    return { text: `unreachable: ${err.message}`, kind: 'failed' };
  }
}

async function clustersPart() {
  const clusters = (await api('/api/v1/clusters')).data;
  const reached = await Promise.all(clusters.map(reach));
  return section('Clusters', table('Clusters', ['Name', 'Kind', 'Reachability', 'Brokers'],
    clusters.map((c, i) => [
      c.kind === 'kafka' ? link(`#/clusters/${seg(c.id)}`, c.name) : c.name,
      c.kind,
      badge(reached[i].text, reached[i].kind),
      reached[i].brokers === undefined ? '—' : number(reached[i].brokers),
    ]), 'none registered yet.'));
}

async function tasksPart() {
  // One small page per status: its `total` is the count of the last hour.
  const since = encodeURIComponent(new Date(Date.now() - 3600 * 1000).toISOString());
  const totals = await Promise.all(STATUSES.map((s) => api(`/api/v1/tasks?status=${s}&pageSize=1&createdSince=${since}`)));
  return section('Tasks by status, last hour', h('ul', { class: 'counts' },
    STATUSES.map((s, i) => h('li', {},
      link(`#/tasks?status=${s}`, [status(s), ' ', h('strong', { 'data-count': s }, number(totals[i].total))])))));
}

async function changefeedsPart() {
  const feeds = (await api('/api/v1/changefeeds/?pageSize=100')).data;
  const byState = {};
  for (const f of feeds) byState[f.status] = (byState[f.status] || 0) + 1;
  return section('Changefeeds',
    h('ul', { class: 'counts' }, Object.entries(byState).map(([s, n]) => h('li', {}, status(s), ' ', h('strong', {}, n)))),
    table('Changefeeds', ['Name', 'State', 'Lag'], feeds.map((f) => [
      link(`#/changefeeds/${seg(f.id)}`, f.name),
      status(f.status),
      duration(Math.max(0, f.upstreamUpdateUnix - f.downstreamSyncUnix)),
    ]), 'none yet.'));
}

async function failuresPart() {
  const failed = (await api('/api/v1/tasks?status=failed&pageSize=10')).data;
  return section('Recent failures', table('Recent failures', ['Task', 'Kind', 'Subject', 'Finished', 'Why'],
    failed.map((t) => [
      link(`#/tasks/${seg(t.id)}`, t.id.slice(0, 8)),
      t.kind,
      t.subject ?? '—',
      time(t.finishedAt),
      h('span', { class: 'why' }, t.failure ? `${t.failure}: ` : '', t.lastError ?? ''),
    ]), 'nothing failed.'));
}

export async function overviewPage({ view, alive }) {
  view.append(h('h1', {}, 'Overview'));
  const body = h('div', { class: 'grid' });
  view.append(body);
  const draw = async () => {
    const parts = await Promise.all([clustersPart, tasksPart, changefeedsPart, failuresPart]
      .map((part) => part().catch(errorBox)));
    if (alive()) fill(body, parts);
  };
  await draw();
  return every(5000, draw);
}
