// Tasks: the list with the native API's filters (status, kind, cluster,
// subject), newest first and followed live, and one task's page with its
// payload, result, attempts, error, timing and audit trail.

import { api, query, seg } from './api.js';
import {
  act, confirmAction, duration, every, errorBox, fields, fill, h, labelled, link, pre, section,
  select, status, table, time,
} from './ui.js';

const STATUSES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'];
const KINDS = [
  'ping', 'topic.create', 'topic.delete', 'topic.config', 'topic.partitions', 'broker.config',
  'broker.remove', 'partition.reassign', 'acl.create', 'acl.delete', 'changefeed.create',
  'changefeed.pause', 'changefeed.resume', 'changefeed.update', 'changefeed.delete',
];
const PAGE_SIZE = 25;
const FINISHED = ['succeeded', 'failed', 'cancelled'];

function filterForm(params) {
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter tasks' },
    labelled('Status', select('status', [['', 'any'], ...STATUSES.map((s) => [s, s])], params.get('status') || '')),
    labelled('Kind', select('kind', [['', 'any'], ...KINDS.map((k) => [k, k])], params.get('kind') || '')),
    labelled('Cluster id', h('input', { name: 'clusterId', inputmode: 'numeric', size: 6, value: params.get('clusterId') || '' })),
    labelled('Subject', h('input', { name: 'subject', value: params.get('subject') || '' })),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    location.hash = `#/tasks${query(data)}`;
  });
  return form;
}

function rows(tasks) {
  return tasks.map((t) => [
    link(`#/tasks/${seg(t.id)}`, t.id),
    t.kind,
    status(t.status),
    t.clusterId ? link(`#/clusters/${seg(t.clusterId)}`, t.clusterId) : '—',
    t.subject ?? '—',
    `${t.attempts}/${t.maxAttempts}`,
    time(t.createdAt),
    t.lastError ? h('span', { class: 'why' }, t.lastError) : '—',
  ]);
}

export async function tasksPage({ view, params, alive }) {
  const page = Math.max(1, Number(params.get('page')) || 1);
  const filters = Object.fromEntries(['status', 'kind', 'clusterId', 'subject'].map((k) => [k, params.get(k)]));
  const follow = h('input', { type: 'checkbox', id: 'follow', checked: true });
  const list = h('div', { 'aria-live': 'polite' });
  view.append(h('h1', {}, 'Tasks'), filterForm(params),
    h('p', {}, follow, ' ', h('label', { for: 'follow' }, 'Follow new tasks live')), list);
  const draw = async () => {
    let answer;
    try {
      answer = await api(`/api/v1/tasks${query({ ...filters, page, pageSize: PAGE_SIZE })}`);
    } catch (err) {
      if (alive()) fill(list, errorBox(err));
      return;
    }
    if (!alive()) return;
    const pages = Math.max(1, Math.ceil(answer.total / answer.pageSize));
    const to = (n) => `#/tasks${query({ ...filters, page: n })}`;
    fill(list,
      table(`Tasks, page ${page} of ${pages} (${answer.total} in all)`,
        ['Id', 'Kind', 'Status', 'Cluster', 'Subject', 'Attempts', 'Created', 'Last error'], rows(answer.data),
        'no task matches.'),
      h('nav', { class: 'pager', 'aria-label': 'Pages of tasks' },
        page > 1 ? link(to(page - 1), 'Previous page') : null,
        h('span', {}, `Page ${page} of ${pages}`),
        page < pages ? link(to(page + 1), 'Next page') : null));
  };
  await draw();
  return every(3000, () => (follow.checked ? draw() : null));
}

// The audit rows of the call that recorded the task (global admins read
// the audit log; others do not see it).
async function auditTrail(task, session) {
  if (!session.can('admin') || !task.requestId) return null;
  const rows = (await api(`/api/v1/audit${query({ requestId: task.requestId, pageSize: 50 })}`)).data;
  return section('Audit trail', table('Audit entries of the request that made this task',
    ['At', 'Actor', 'Call', 'Status', 'Outcome'],
    rows.map((r) => [time(r.at), r.actor, `${r.method} ${r.path}`, String(r.status), r.outcome]),
    'no audit entry.'));
}

function cancellable(task, session) {
  if (FINISHED.includes(task.status) || !session.can('client')) return false;
  // Only global admins cancel a task that has started.
  return task.status === 'pending' || (session.globalAdmin && task.status === 'running');
}

export async function taskPage({ view, session, args: [id], alive }) {
  const body = h('div');
  const out = h('div', { 'aria-live': 'polite' });
  view.append(h('h1', {}, 'Task ', h('code', {}, id)), out, body);
  let trail = null;
  const draw = async () => {
    const t = await api(`/api/v1/tasks/${seg(id)}`);
    if (!trail) trail = await auditTrail(t, session).catch(errorBox);
    if (!alive()) return t;
    const ran = t.startedAt ? (t.finishedAt ? new Date(t.finishedAt) : new Date()) - new Date(t.startedAt) : null;
    const cancel = cancellable(t, session) && h('button', {
      type: 'button',
      class: 'danger',
      onclick: async (e) => {
        const go = await confirmAction({ title: 'Cancel this task?', text: `${t.kind} ${t.subject ?? ''}`, action: 'Cancel task' });
        if (go) await act(e.target, out, async () => { await api(`/api/v1/tasks/${seg(id)}/cancel`, { method: 'POST' }); await draw(); });
      },
    }, 'Cancel task');
    fill(body,
      h('div', { class: 'actions' }, cancel),
      fields([
        ['Status', status(t.status)],
        ['Kind', t.kind],
        ['Cluster', t.clusterId ? link(`#/clusters/${seg(t.clusterId)}`, t.clusterId) : '—'],
        ['Subject', t.subject],
        ['Attempts', `${t.attempts} of at most ${t.maxAttempts}`],
        ['Failure', t.failure],
        ['Last error', t.lastError ? h('span', { class: 'why' }, t.lastError) : '—'],
        ['Created by', t.createdBy],
        ['Project', t.projectId],
        ['Request', t.requestId],
        ['Worker', t.worker],
        ['Created', time(t.createdAt)],
        ['Started', time(t.startedAt)],
        ['Finished', time(t.finishedAt)],
        ['Ran for', duration(ran)],
      ]),
      section('Payload', pre(t.payload)),
      section('Result', pre(t.result)),
      trail);
    return t;
  };
  // A finished task changes no more: the page stops asking.
  let last = await draw();
  return every(2000, async () => {
    if (FINISHED.includes(last.status)) return;
    last = await draw().catch((err) => {
      fill(out, errorBox(err));
      return last;
    });
  });
}
