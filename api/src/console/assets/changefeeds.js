// Changefeeds (the TiEM routes): their state, whether an operation is in
// flight, checkpoint, fetched and upstream positions with the lag between
// them, rules and downstream; a client creates, pauses, resumes, changes
// and deletes them, and sees the task each operation started.

import { api, query, seg } from './api.js';
import { lineChart } from './chart.js';
import {
  act, confirmAction, duration, errorBox, every, fields, fill, h, labelled, link, pre, section,
  select, status, table, time,
} from './ui.js';

// Lag samples the changefeed page keeps: ten minutes at one every 3 s.
const LAG_POINTS = 200;
const lag = (f) => duration(Math.max(0, f.upstreamUpdateUnix - f.downstreamSyncUnix));
const at = (unixMs) => (unixMs > 0 ? time(new Date(unixMs).toISOString()) : '—');

// The API already masks the password; the page masks any field named like
// one again, so that no secret is drawn even from an older ferry.
function masked(value) {
  if (Array.isArray(value)) return value.map(masked);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, /password|secret/i.test(k) && v ? '******' : masked(v)]));
  }
  return value;
}

function createForm(session) {
  const out = h('div', { 'aria-live': 'polite' });
  const name = h('input', { name: 'name', required: true });
  const upstream = h('input', { name: 'clusterId', required: true, inputmode: 'numeric', size: 6 });
  const type = select('downstreamType', [['mysql', 'mysql'], ['tidb', 'tidb'], ['kafka', 'kafka']], 'mysql');
  const target = h('input', { name: 'targetClusterId', required: true, inputmode: 'numeric', size: 6 });
  const topicName = h('input', { name: 'topicName' });
  const rules = h('input', { name: 'rules', value: '*.*', size: 24 });
  const paused = h('input', { type: 'checkbox', name: 'startPaused' });
  const button = h('button', { type: 'submit' }, 'Create changefeed');
  const form = h('form', { class: 'inline', 'aria-label': 'Create a changefeed' },
    labelled('Name', name), labelled('Upstream cluster id', upstream), labelled('Downstream type', type),
    labelled('Downstream cluster id', target), labelled('Kafka topic (kafka only)', topicName),
    labelled('Rules, comma-separated', rules), labelled('Start paused', paused), button, out);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(button, out, async () => {
      const downstream = { targetClusterId: target.value.trim() };
      if (type.value === 'kafka') downstream.topicName = topicName.value.trim();
      const answer = await api('/api/v1/changefeeds/', {
        method: 'POST',
        body: {
          name: name.value.trim(),
          clusterId: upstream.value.trim(),
          downstreamType: type.value,
          downstream,
          rules: rules.value.split(',').map((r) => r.trim()).filter(Boolean),
          startPaused: paused.checked,
        },
      });
      location.hash = `#/changefeeds/${seg(answer.data.id)}`;
    });
  });
  return session.can('client') ? section('Create a changefeed', form) : null;
}

export async function changefeedsPage({ view, session, alive }) {
  const list = h('div', { 'aria-live': 'polite' });
  view.append(h('h1', {}, 'Changefeeds'), list, createForm(session));
  const draw = async () => {
    const feeds = await api('/api/v1/changefeeds/?pageSize=100').catch((err) => err);
    if (!alive()) return;
    fill(list, feeds instanceof Error ? errorBox(feeds) : table(`Changefeeds (${feeds.page.total})`,
      ['Name', 'State', 'Operation in flight', 'Upstream', 'Downstream', 'Checkpoint', 'Lag'],
      feeds.data.map((f) => [
        link(`#/changefeeds/${seg(f.id)}`, f.name), status(f.status), f.unsteady ? 'yes' : 'no',
        `cluster ${f.clusterId}`, f.downstreamType, at(f.downstreamSyncUnix), lag(f),
      ]), 'none yet.'));
  };
  await draw();
  return every(5000, draw);
}

// The task an operation started: the newest of its kind on this
// changefeed.
async function latestTask(kind, id) {
  const found = await api(`/api/v1/tasks${query({ kind, subject: id, pageSize: 1 })}`);
  return found.data[0];
}

function operations(f, out, redraw) {
  const run = (label, kind, path, method, confirm) => h('button', {
    type: 'button',
    class: method === 'DELETE' ? 'danger' : null,
    onclick: async (e) => {
      if (confirm && !(await confirmAction(confirm))) return;
      await act(e.target, out, async () => {
        await api(path, { method });
        const task = await latestTask(kind, f.id).catch(() => null);
        if (method === 'DELETE') {
          location.hash = task ? `#/tasks/${seg(task.id)}` : '#/changefeeds';
          return;
        }
        fill(out, h('p', { role: 'status' }, `${label}: `, task ? link(`#/tasks/${seg(task.id)}`, `task ${task.id} is ${task.status}`) : 'done'));
        await redraw();
      });
    },
  }, label);
  const base = `/api/v1/changefeeds/${seg(f.id)}`;
  return h('div', { class: 'actions' },
    f.status !== 'Stopped' ? run('Pause', 'changefeed.pause', `${base}/pause`, 'POST') : null,
    ['Stopped', 'Error', 'Failed'].includes(f.status) ? run('Resume', 'changefeed.resume', `${base}/resume`, 'POST') : null,
    run('Delete changefeed', 'changefeed.delete', base, 'DELETE', {
      title: `Delete changefeed ${f.name}?`,
      text: 'Replication stops and the changefeed is removed; the downstream keeps what it has.',
      typed: f.name,
      action: 'Delete changefeed',
    }));
}

// Changes a changefeed's name and rules: a Normal one is paused, changed
// and resumed by its `changefeed.update` task. Drawn once, outside the part
// that refreshes, so that what the person types is not redrawn away.
function updateForm(f, out, redraw) {
  const name = h('input', { name: 'name', required: true, value: f.name });
  const rules = h('input', { name: 'rules', required: true, size: 40, value: f.rules.join(', ') });
  const button = h('button', { type: 'submit' }, 'Update changefeed');
  const form = h('form', { class: 'inline', 'aria-label': 'Update the changefeed' },
    labelled('New name', name), labelled('New rules, comma-separated', rules), button);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(button, out, async () => {
      await api(`/api/v1/changefeeds/${seg(f.id)}/update`, {
        method: 'POST',
        body: { name: name.value.trim(), rules: rules.value.split(',').map((r) => r.trim()).filter(Boolean) },
      });
      const task = await latestTask('changefeed.update', f.id).catch(() => null);
      fill(out, h('p', { role: 'status' }, 'Update: ', task ? link(`#/tasks/${seg(task.id)}`, `task ${task.id} is ${task.status}`) : 'done'));
      await redraw();
    });
  });
  return section('Change it', form);
}

export async function changefeedPage({ view, session, args: [id], alive }) {
  const out = h('div', { 'aria-live': 'polite' });
  const body = h('div');
  view.append(h('h1', {}, 'Changefeed'), out, body);
  let drawn = false;
  // The lag as this page reads it every 3 s: ferry keeps a changefeed's
  // positions, not their history, so the chart starts when the page opens
  // and keeps the last ten minutes.
  const lagSeries = [];
  const draw = async () => {
    const f = (await api(`/api/v1/changefeeds/${seg(id)}/`)).data;
    if (!alive()) return;
    const lagMs = f.upstreamUpdateUnix - f.downstreamSyncUnix;
    if (Number.isFinite(lagMs)) lagSeries.push({ timestamp: Date.now() / 1000, value: Math.max(0, lagMs) / 1000 });
    if (lagSeries.length > LAG_POINTS) lagSeries.shift();
    if (!drawn && session.can('client')) view.append(updateForm(f, out, draw));
    drawn = true;
    fill(body,
      h('h2', {}, f.name),
      session.can('client') ? operations(f, out, draw) : null,
      fields([
        ['State', status(f.status)],
        ['Operation in flight', f.unsteady ? 'yes' : 'no'],
        ['Upstream cluster', `cluster ${f.clusterId}`],
        ['Downstream type', f.downstreamType],
        ['Checkpoint (committed downstream)', at(f.downstreamSyncUnix)],
        ['Fetched from upstream', at(f.downstreamFetchUnix)],
        ['Newest upstream change', at(f.upstreamUpdateUnix)],
        ['Lag', lag(f)],
        ['Started at', at(f.startUnix)],
        ['Created', time(f.createTime)],
        ['Error', f.errorMessage ? h('span', { class: 'why' }, f.errorMessage) : '—'],
      ]),
      lineChart('Lag since this page opened', { data: [{ labels: { topic: 'lag' }, values: lagSeries }] }, ' s'),
      section('Rules', h('ul', {}, f.rules.map((r) => h('li', {}, h('code', {}, r))))),
      section('Downstream', pre(masked(f.downstream))));
  };
  await draw();
  return every(3000, () => draw().catch((err) => fill(out, errorBox(err))));
}
