// One topic: its partitions (leader, replicas, in-sync replicas, offsets),
// its configs (which are defaults and which are set on the topic), the
// consumer groups reading it with their lag per partition, and charts of
// the statistics the workers sample, over a chosen window.

import { api, query, seg } from './api.js';
import { lineChart } from './chart.js';
import { replicasOf } from './clusters.js';
import {
  act, badge, configTable, confirmAction, errorBox, fill, h, labelled, number, section, select, table,
} from './ui.js';

const WINDOWS = [['3600', 'last hour'], ['21600', 'last 6 hours'], ['86400', 'last day'], ['604800', 'last 7 days']];
const METRICS = [
  ['MESSAGE_COUNT', 'Messages', ''],
  ['BYTE_IN_RATE', 'Bytes in per second', ' B/s'],
  ['BYTE_OUT_RATE', 'Bytes out per second', ' B/s'],
  ['CONSUMER_LAG', 'Lag per consumer group', ''],
  ['LOG_SIZE_PER_PARTITION', 'Size per partition', ' B'],
];
// Partitions whose offsets are read one call each; more are shown
// without offsets.
const OFFSETS_UP_TO = 64;

async function partitionsPart(base, topic) {
  const brokers = (await api(`${base}/brokers`)).data;
  const [partitions, replicas] = await Promise.all([
    api(`${base}/topics/${seg(topic)}/partitions`).then((p) => p.data),
    replicasOf(base, brokers, topic),
  ]);
  const offsets = await Promise.all(partitions.map((p, i) => (i < OFFSETS_UP_TO
    ? api(`${base}/topics/${seg(topic)}/partitions/${p.partition_id}/offsets`).catch(() => null)
    : null)));
  const byPartition = (id) => replicas.filter((r) => r.partition_id === id);
  return section('Partitions', table(`Partitions (${partitions.length})`,
    ['Partition', 'Leader', 'Replicas', 'In sync', 'Beginning offset', 'End offset'],
    partitions.map((p, i) => {
      const rs = byPartition(p.partition_id);
      const leader = rs.find((r) => r.is_leader);
      return [
        String(p.partition_id),
        leader ? String(leader.broker_id) : badge('none', 'failed'),
        rs.map((r) => r.broker_id).join(', ') || '—',
        rs.filter((r) => r.is_in_sync).map((r) => r.broker_id).join(', ') || '—',
        offsets[i] ? number(offsets[i].beginning_offset) : '—',
        offsets[i] ? number(offsets[i].end_offset) : '—',
      ];
    })));
}

async function configsPart(base, topic) {
  const configs = (await api(`${base}/topics/${seg(topic)}/configs`)).data;
  const set = configs.filter((c) => !c.is_default).length;
  return section('Configs', configTable(`Configs (${set} set on the topic, ${configs.length - set} defaults)`, configs));
}

// The groups with a committed offset on this topic, and their lag per
// partition (one call per group).
async function groupsPart(base, topic) {
  const groups = (await api(`${base}/consumer-groups`)).data.slice(0, 100);
  const lags = await Promise.all(groups.map((g) => api(`${base}/consumer-groups/${seg(g.consumer_group_id)}/lags`)
    .then((l) => l.data.filter((x) => x.topic_name === topic)).catch(() => [])));
  const rows = lags.flat().map((l) => [
    l.consumer_group_id, String(l.partition_id), number(l.current_offset), number(l.log_end_offset),
    number(l.lag), l.consumer_id || '—',
  ]);
  return section('Consumer groups', table('Consumer groups reading this topic, per partition',
    ['Group', 'Partition', 'Committed offset', 'End offset', 'Lag', 'Member'], rows, 'none reads it.'));
}

function chartsPart(id, topic) {
  const windowSelect = select('window', WINDOWS, '3600');
  const charts = h('div', { class: 'charts', 'aria-live': 'polite' });
  const draw = async () => {
    const end = new Date();
    const start = new Date(end.getTime() - Number(windowSelect.value) * 1000);
    const results = await Promise.all(METRICS.map(([metric, title, unit]) => api(`/api/v1/clusters/${seg(id)}/statistics${query({
      metricsType: metric, topicName: topic, startDateTime: start.toISOString(), endDateTime: end.toISOString(),
    })}`).then((stats) => lineChart(title, stats, unit)).catch(errorBox)));
    fill(charts, results);
  };
  windowSelect.addEventListener('change', draw);
  return { part: section('Over time', labelled('Window', windowSelect), charts), draw };
}

function deleteTopic(id, base, topic) {
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', {
    type: 'button',
    class: 'danger',
    onclick: async () => {
      const go = await confirmAction({
        title: `Delete topic ${topic}?`,
        text: 'Its records are lost for good.',
        typed: topic,
        action: 'Delete topic',
      });
      if (go) {
        await act(button, out, async () => {
          await api(`${base}/topics/${seg(topic)}`, { method: 'DELETE' });
          location.hash = `#/clusters/${seg(id)}`;
        });
      }
    },
  }, 'Delete topic');
  return h('div', { class: 'actions' }, button, out);
}

export async function topicPage({ view, session, args: [id, topic], alive }) {
  const base = `/v3/clusters/${seg(id)}`;
  const t = await api(`${base}/topics/${seg(topic)}`);
  view.append(h('h1', {}, 'Topic ', h('code', {}, t.topic_name)),
    h('p', {}, `Cluster ${id}: ${t.partitions_count} partitions, replication factor ${t.replication_factor}.`));
  if (session.can('client')) view.append(deleteTopic(id, base, topic));
  const parts = h('div');
  const charts = chartsPart(id, topic);
  view.append(parts, charts.part);
  const drawn = await Promise.all([partitionsPart, configsPart, groupsPart]
    .map((part) => part(base, topic).catch(errorBox)));
  if (!alive()) return null;
  fill(parts, drawn);
  await charts.draw();
  // New samples arrive once a sampling interval (60 s by default).
  const timer = setInterval(() => alive() && charts.draw(), 30000);
  return () => clearInterval(timer);
}
