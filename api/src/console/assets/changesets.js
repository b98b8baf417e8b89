// Changesets (docs/CHANGESETS.md): desired-state documents planned against
// a Kafka cluster and applied as tasks. The list shows each one's status
// and, for watched ones, how many resources drifted; a changeset's page
// shows its plan (each change, its fields old -> new, refusals and
// warnings), the steps that carried it out with their tasks, and its last
// drift check. A client pastes a document to plan it, and applies,
// approves (a second token: the server refuses the one that applied it),
// resumes, checks drift and sets watching; a viewer only reads.

import { api, query, seg } from './api.js';
import {
  act, badge, confirmAction, errorBox, every, fields, fill, h, labelled, link, pre, section, select,
  status, table, time,
} from './ui.js';

const STATUSES = ['planned', 'refused', 'awaitingApproval', 'applying', 'applied', 'failed', 'stale', 'superseded'];
const PAGE_SIZE = 25;
const ACTION_KIND = { create: 'succeeded', update: 'running', delete: 'failed', unchanged: 'muted' };

const doing = (changes) => (changes || []).filter((c) => c.action !== 'unchanged');

function counts(plan) {
  if (plan && plan.summary) return plan.summary;
  const changes = (plan && plan.changes) || [];
  const n = (action) => changes.filter((c) => c.action === action).length;
  return {
    create: n('create'), update: n('update'), delete: n('delete'), unchanged: n('unchanged'),
    refused: changes.filter((c) => c.refused).length,
  };
}

function summary(plan) {
  const c = counts(plan);
  const refused = c.refused ? `, ${c.refused} refused` : '';
  return `${c.create} to create, ${c.update} to update, ${c.delete} to delete, ${c.unchanged} unchanged${refused}`;
}

// A field's value: null is the broker's default for a config, absent for
// anything else.
function value(v, field) {
  if (v === null || v === undefined) return field.startsWith('configs.') ? '(default)' : '(none)';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

// The changes of a plan or of a drift check, one row each.
function changesTable(caption, changes, empty) {
  return table(caption, ['Resource', 'Name', 'Action', 'Fields (old → new)', 'Refused / warnings'],
    changes.map((c) => [
      c.resource,
      h('code', {}, c.name),
      badge(c.action, ACTION_KIND[c.action] || 'muted'),
      (c.fields || []).length ? h('ul', { class: 'plain' }, c.fields.map((f) => h('li', {},
        h('code', {}, f.field), `: ${value(f.old, f.field)} → ${value(f.new, f.field)}`))) : '—',
      [
        c.refused ? h('p', { class: 'why' }, `Refused: ${c.refused}`) : null,
        (c.warnings || []).map((w) => h('p', { class: 'warning' }, `Warning: ${w}`)),
      ],
    ]), empty);
}

// What the list says of drift: only a watched changeset is checked.
function driftCell(c) {
  if (c.drift) {
    const n = doing(c.drift.changes).length;
    return n ? badge(`drift: ${n}`, 'drift') : 'none';
  }
  return c.watch ? 'not checked yet' : '—';
}

function filterForm(params) {
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter changesets' },
    labelled('Status', select('status', [['', 'any'], ...STATUSES.map((s) => [s, s])], params.get('status') || '')),
    labelled('Name', h('input', { name: 'name', value: params.get('name') || '' })),
    labelled('Cluster id', h('input', { name: 'clusterId', inputmode: 'numeric', size: 6, value: params.get('clusterId') || '' })),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `#/changesets${query(Object.fromEntries(new FormData(form)))}`;
  });
  return form;
}

// A pasted document, sent as YAML (JSON is YAML too) to be planned;
// nothing is applied. The new changeset's page opens.
function planForm() {
  const out = h('div', { 'aria-live': 'polite' });
  const text = h('textarea', {
    name: 'document', required: true, rows: 12, cols: 72, spellcheck: 'false',
    placeholder: 'cluster: 1\nname: payments\ntopics:\n  - name: payments.orders\n    partitions: 6',
  });
  const button = h('button', { type: 'submit' }, 'Plan');
  const form = h('form', { class: 'document', 'aria-label': 'Plan a changeset' },
    labelled('Desired state (YAML or JSON)', text), h('div', { class: 'actions' }, button), out);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(button, out, async () => {
      const planned = await api('/api/v1/changesets?mode=plan', {
        method: 'POST', body: text.value, contentType: 'application/yaml',
      });
      location.hash = `#/changesets/${seg(planned.id)}`;
    });
  });
  return section('Plan a changeset', h('p', {},
    'Paste a desired-state document. Planning compares it with the cluster and changes nothing.'), form);
}

export async function changesetsPage({ view, session, params, alive }) {
  const page = Math.max(1, Number(params.get('page')) || 1);
  const filters = Object.fromEntries(['status', 'name', 'clusterId'].map((k) => [k, params.get(k)]));
  const list = h('div', { 'aria-live': 'polite' });
  view.append(h('h1', {}, 'Changesets'), filterForm(params), list);
  if (session.can('client')) view.append(planForm());
  const draw = async () => {
    const answer = await api(`/api/v1/changesets${query({ ...filters, page, pageSize: PAGE_SIZE })}`).catch((err) => err);
    if (!alive()) return;
    if (answer instanceof Error) {
      fill(list, errorBox(answer));
      return;
    }
    const rows = answer.data || [];
    const pages = Math.max(1, Math.ceil(answer.total / PAGE_SIZE));
    const to = (n) => `#/changesets${query({ ...filters, page: n })}`;
    fill(list,
      table(`Changesets (${answer.total})`, ['Name', 'Cluster', 'Status', 'Changes', 'Drift', 'Created'],
        rows.map((c) => {
          const n = counts(c.plan);
          return [
            link(`#/changesets/${seg(c.id)}`, c.name),
            link(`#/clusters/${seg(c.clusterId)}`, String(c.clusterId)),
            status(c.status),
            `+${n.create} ~${n.update} -${n.delete}`,
            driftCell(c),
            time(c.createdAt),
          ];
        }), 'none yet.'),
      pages > 1 ? h('nav', { class: 'pager', 'aria-label': 'Pages of changesets' },
        page > 1 ? link(to(page - 1), 'Previous page') : null,
        h('span', {}, `Page ${page} of ${pages}`),
        page < pages ? link(to(page + 1), 'Next page') : null) : null);
  };
  await draw();
  return every(5000, draw);
}

// The buttons the changeset's status and the token's role allow.
function controls(c, out, redraw) {
  const base = `/api/v1/changesets/${seg(c.id)}`;
  const run = (label, work, confirm) => h('button', {
    type: 'button',
    onclick: async (e) => {
      if (confirm && !(await confirmAction(confirm))) return;
      await act(e.target, out, async () => {
        const said = await work();
        if (said) fill(out, h('p', { role: 'status' }, said));
        await redraw();
      });
    },
  }, label);
  const post = (path, body) => api(`${base}${path}`, { method: 'POST', body });
  const n = counts(c.plan);
  const patch = (body, said) => async () => {
    await api(base, { method: 'PATCH', body });
    return said;
  };
  return h('div', { class: 'actions' },
    c.status === 'planned' ? run('Apply', async () => {
      const after = await post('/apply');
      return `Apply: the changeset is ${after.status}.`;
    }, {
      title: `Apply changeset ${c.name}?`,
      text: `It creates ${n.create}, updates ${n.update} and deletes ${n.delete} resources on cluster ${c.clusterId}, through tasks.`,
      action: 'Apply changeset',
    }) : null,
    c.status === 'awaitingApproval' ? run('Approve', async () => {
      const after = await post('/approve');
      return `Approved: the changeset is ${after.status}.`;
    }) : null,
    c.status === 'failed' ? run('Resume', async () => {
      const after = await post('/resume');
      return `Resume: the changeset is ${after.status}.`;
    }) : null,
    c.status === 'applied' ? run('Check drift now', async () => {
      const task = await post('/drift');
      return h('span', {}, 'Drift check: ', link(`#/tasks/${seg(task.id)}`, `task ${task.id} is ${task.status}`));
    }) : null,
    c.status === 'applied' ? run(c.watch ? 'Stop watching' : 'Start watching',
      patch({ watch: !c.watch, revert: c.watch ? false : Boolean(c.revert) },
        c.watch ? 'No longer watched for drift.' : 'Watched: drift is checked periodically.')) : null,
    c.status === 'applied' && c.watch ? run(c.revert ? 'Stop reverting' : 'Start reverting',
      patch({ watch: true, revert: !c.revert },
        c.revert ? 'Drift is reported, not reverted.' : 'Drift is reverted through tasks.')) : null);
}

function stepsPart(c) {
  const changes = (c.plan && c.plan.changes) || [];
  return section('Steps', table(`Steps (${(c.steps || []).length})`, ['Change', 'Kind', 'Task', 'Status'],
    (c.steps || []).map((s) => {
      const change = changes[s.change];
      return [
        change ? `${change.action} ${change.resource} ${change.name}` : '—',
        s.kind ?? '—',
        s.taskId ? link(`#/tasks/${seg(s.taskId)}`, s.taskId) : '—',
        s.status ? status(s.status) : '—',
      ];
    }), 'none: nothing has been applied.'));
}

function driftPart(c) {
  if (!c.drift) {
    return section('Drift', h('p', { class: 'empty' }, c.watch ? 'Watched; not checked yet.' : 'Not checked.'));
  }
  const differs = doing(c.drift.changes);
  const reverted = c.drift.revertedBy || [];
  return section('Drift',
    h('p', {}, 'Checked ', time(c.drift.checkedAt), ': ',
      differs.length ? badge(`drift: ${differs.length}`, 'drift') : 'the cluster matches the applied document.'),
    differs.length ? changesTable('Drifted resources', differs) : null,
    reverted.length ? h('p', {}, 'Reverted by ', reverted.map((t, i) => [i ? ', ' : '', link(`#/tasks/${seg(t)}`, t)])) : null);
}

export async function changesetPage({ view, session, args: [id], alive }) {
  const out = h('div', { 'aria-live': 'polite' });
  const body = h('div');
  view.append(h('h1', {}, 'Changeset ', h('code', {}, id)), out, body);
  // Redrawn only when the changeset changed, so that polling does not
  // move the reader's focus.
  let shown = '';
  const draw = async () => {
    const c = await api(`/api/v1/changesets/${seg(id)}`);
    if (!alive()) return;
    const seen = JSON.stringify(c);
    if (seen === shown) return;
    shown = seen;
    const plan = c.plan || { changes: [] };
    fill(body,
      h('h2', {}, c.name),
      session.can('client') ? controls(c, out, draw) : null,
      fields([
        ['Status', status(c.status)],
        ['Cluster', link(`#/clusters/${seg(c.clusterId)}`, String(c.clusterId))],
        ['Allow delete', c.allowDelete ? 'yes' : 'no'],
        ['Require approval', c.requireApproval ? 'yes' : 'no'],
        ['Watched for drift', c.watch ? 'yes' : 'no'],
        ['Reverts drift', c.revert ? 'yes' : 'no'],
        ['Planned by', c.plannedBy],
        ['Applied by', c.appliedBy],
        ['Approved by', c.approvedBy],
        ['Created', time(c.createdAt)],
        ['Applied', time(c.appliedAt)],
        ['Apply task', c.applyTaskId ? link(`#/tasks/${seg(c.applyTaskId)}`, c.applyTaskId) : '—'],
      ]),
      c.status === 'awaitingApproval' ? h('p', { role: 'status' },
        'It waits for the approval of a token other than the one that applied it.') : null,
      section('Plan', h('p', {}, `Plan: ${summary(plan)}.`),
        changesTable(`Changes (${plan.changes.length})`, plan.changes, 'the document names nothing.')),
      stepsPart(c),
      driftPart(c),
      section('Document', pre(c.document)));
  };
  await draw();
  return every(3000, () => draw().catch((err) => fill(out, errorBox(err))));
}
