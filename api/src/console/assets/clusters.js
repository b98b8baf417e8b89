// Clusters: the registered clusters, and one Kafka cluster's brokers
// (rack, controller), topics (partitions, replication, replicas out of
// sync) and consumer groups (state, members, lag), read through the
// Confluent v3 routes. A client creates topics here; a global admin
// removes the cluster.

import { api, query, seg } from './api.js';
import {
  act, badge, configTable, confirmAction, errorBox, fields, h, labelled, link, number, section, table, time,
} from './ui.js';

export async function clustersPage({ view }) {
  const clusters = (await api('/api/v1/clusters')).data;
  view.append(h('h1', {}, 'Clusters'), table('Registered clusters',
    ['Id', 'Name', 'Kind', 'Address', 'Registered'],
    clusters.map((c) => [
      c.id,
      c.kind === 'kafka' ? link(`#/clusters/${seg(c.id)}`, c.name) : c.name,
      c.kind,
      c.bootstrapServers ?? `${c.host}:${c.port}`,
      time(c.createdAt),
    ]), 'none registered yet.'));
}

// The last number of a related link (`.../brokers/3` -> 3).
const lastId = (rel) => (rel ? Number(rel.related.split('/').pop()) : null);

// Every replica of the cluster, from each broker's list: one call per
// broker instead of one per partition.
export async function replicasOf(base, brokers, topic) {
  const lists = await Promise.all(brokers.map((b) => api(`${base}/brokers/${b.broker_id}/partition-replicas`)));
  const replicas = lists.flatMap((l) => l.data);
  return topic ? replicas.filter((r) => r.topic_name === topic) : replicas;
}

// Groups with their state, members and total lag (one call per group for
// members and lag; a cluster with very many groups shows the first 100).
export async function groupsOf(base) {
  const groups = (await api(`${base}/consumer-groups`)).data.slice(0, 100);
  return Promise.all(groups.map(async (g) => {
    const id = seg(g.consumer_group_id);
    const [members, lag] = await Promise.all([
      api(`${base}/consumer-groups/${id}/consumers`).then((m) => m.data.length).catch(() => null),
      api(`${base}/consumer-groups/${id}/lag-summary`).then((s) => s.total_lag).catch(() => null),
    ]);
    return { ...g, members, lag };
  }));
}

function createTopicForm(id, base) {
  const out = h('div', { 'aria-live': 'polite' });
  const name = h('input', { name: 'topic_name', required: true, pattern: '[A-Za-z0-9._\\-]{1,249}' });
  const partitions = h('input', { name: 'partitions_count', type: 'number', min: 1, max: 10000, value: 1 });
  const replication = h('input', { name: 'replication_factor', type: 'number', min: 1, max: 32, value: 1 });
  const configs = h('input', { name: 'configs', size: 30, placeholder: 'cleanup.policy=compact' });
  const button = h('button', { type: 'submit' }, 'Create topic');
  const form = h('form', { class: 'inline', 'aria-label': 'Create a topic' },
    labelled('Topic name', name), labelled('Partitions', partitions), labelled('Replication factor', replication),
    labelled('Configs (name=value, comma-separated)', configs), button, out);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(button, out, async () => {
      const topic = name.value.trim();
      const answer = await api(`${base}/topics`, {
        method: 'POST',
        body: {
          topic_name: topic,
          partitions_count: Number(partitions.value),
          replication_factor: Number(replication.value),
          configs: configs.value.split(',').map((c) => c.trim()).filter(Boolean).map((c) => {
            const [key, ...value] = c.split('=');
            return { name: key.trim(), value: value.join('=').trim() };
          }),
        },
      });
      // A 202 names the task; a 201 means it already succeeded, and the
      // task is the newest creation of that topic.
      let task = answer && answer.task_id;
      if (!task) {
        const found = await api(`/api/v1/tasks${query({ kind: 'topic.create', clusterId: id, subject: topic, pageSize: 1 })}`);
        task = found.data[0] && found.data[0].id;
      }
      location.hash = task ? `#/tasks/${seg(task)}` : `#/clusters/${seg(id)}/topics/${seg(topic)}`;
    });
  });
  return section('Create a topic', form);
}

function removeCluster(cluster) {
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', {
    type: 'button',
    class: 'danger',
    onclick: async () => {
      const go = await confirmAction({
        title: `Remove cluster ${cluster.name}?`,
        text: 'ferry forgets the cluster and the projects\' grants on it; the cluster itself is not touched.',
        typed: cluster.name,
        action: 'Remove cluster',
      });
      if (go) {
        await act(button, out, async () => {
          await api(`/api/v1/clusters/${seg(cluster.id)}`, { method: 'DELETE' });
          location.hash = '#/clusters';
        });
      }
    },
  }, 'Remove cluster');
  return h('div', { class: 'actions' }, button, out);
}

export async function clusterPage({ view, session, args: [id] }) {
  const base = `/v3/clusters/${seg(id)}`;
  const cluster = await api(`/api/v1/clusters/${seg(id)}`);
  view.append(h('h1', {}, 'Cluster ', cluster.name));
  if (session.globalAdmin) view.append(removeCluster(cluster));
  view.append(fields([
    ['Id', cluster.id],
    ['Kind', cluster.kind],
    ['Bootstrap servers', cluster.bootstrapServers],
    ['TLS', cluster.tls && cluster.tls.enabled ? 'on' : 'off'],
    ['SASL', cluster.sasl ? `${cluster.sasl.mechanism} as ${cluster.sasl.username}` : 'none'],
  ]));
  if (cluster.kind !== 'kafka') return null;
  const [meta, brokers, topics] = await Promise.all([
    api(base), api(`${base}/brokers`).then((b) => b.data), api(`${base}/topics`).then((t) => t.data),
  ]);
  const controller = lastId(meta.controller);
  view.append(section('Brokers', table('Brokers', ['Broker', 'Host', 'Port', 'Rack', 'Role'],
    brokers.map((b) => [String(b.broker_id), b.host, String(b.port), b.rack ?? '—',
      b.broker_id === controller ? badge('controller', 'running') : '—']))));
  if (session.can('client')) view.append(createTopicForm(id, base));
  const [replicas, groups, configs] = await Promise.all([
    replicasOf(base, brokers).catch(() => []),
    groupsOf(base).catch((err) => err),
    controller === null ? [] : api(`${base}/brokers/${controller}/configs`).then((c) => c.data).catch((err) => err),
  ]);
  const outOfSync = {};
  for (const r of replicas) if (!r.is_in_sync) outOfSync[r.topic_name] = (outOfSync[r.topic_name] || 0) + 1;
  view.append(section('Topics', table(`Topics (${topics.length})`,
    ['Topic', 'Partitions', 'Replication factor', 'Replicas out of sync', 'Internal'],
    topics.map((t) => [
      link(`#/clusters/${seg(id)}/topics/${seg(t.topic_name)}`, t.topic_name),
      number(t.partitions_count),
      number(t.replication_factor),
      outOfSync[t.topic_name] ? badge(String(outOfSync[t.topic_name]), 'failed') : '0',
      t.is_internal ? 'yes' : 'no',
    ]), 'none yet.')));
  view.append(brokerConfigs(controller, configs));
  view.append(section('Consumer groups', groups instanceof Error ? errorBox(groups)
    : table('Consumer groups', ['Group', 'State', 'Members', 'Total lag', 'Assignor'],
      groups.map((g) => [g.consumer_group_id, badge(g.state), number(g.members), number(g.lag), g.partition_assignor || '—']),
      'none.')));
  return null;
}

// The controller's configs, those set on the broker or the cluster first:
// which values are Kafka's defaults and which someone chose.
function brokerConfigs(controller, configs) {
  if (configs instanceof Error) return section('Broker configs', errorBox(configs));
  const sorted = [...configs].sort((a, b) => Number(a.is_default) - Number(b.is_default) || a.name.localeCompare(b.name));
  const set = configs.filter((c) => !c.is_default).length;
  return section('Broker configs', configTable(`Configs of broker ${controller} (${set} set, ${configs.length - set} defaults)`,
    sorted, 'none reported by the broker.'));
}
