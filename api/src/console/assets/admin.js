// Administration, for global admins: global tokens (a minted token is
// shown once, here, and never again), projects with their grants and
// tokens (`grants.js`), and the audit log with its filters.

import { api, query, seg } from './api.js';
import { projectPanel } from './grants.js';
import {
  act, badge, confirmAction, errorBox, fill, h, labelled, link, section, select, showMinted, table, time,
} from './ui.js';

const AUDIT_PAGE = 50;

function mintForm(redraw) {
  const out = h('div', { 'aria-live': 'polite' });
  const name = h('input', { name: 'name', required: true, maxlength: 128 });
  const role = select('role', [['viewer', 'viewer'], ['client', 'client'], ['admin', 'admin']], 'viewer');
  const button = h('button', { type: 'submit' }, 'Mint token');
  const form = h('form', { class: 'inline', 'aria-label': 'Mint a global token' },
    labelled('Token name', name), labelled('Role', role), button, out);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(button, out, async () => {
      const minted = await api('/api/v1/tokens', { method: 'POST', body: { name: name.value.trim(), role: role.value } });
      showMinted(out, {
        id: 'minted-token', label: 'New token', text: `Token ${minted.name} (${minted.role}) is minted.`, token: minted.token,
      });
      name.value = '';
      await redraw();
    });
  });
  return form;
}

async function tokensPart() {
  const list = h('div');
  const out = h('div', { 'aria-live': 'polite' });
  const draw = async () => {
    const tokens = (await api('/api/v1/tokens')).data;
    fill(list, table('Global tokens', ['Name', 'Role', 'Created by', 'Created', 'State', ''],
      tokens.map((t) => [t.name, t.role, t.createdBy, time(t.createdAt),
        t.revokedAt ? badge('revoked', 'cancelled') : badge('valid', 'succeeded'),
        t.revokedAt ? '' : h('button', {
          type: 'button',
          class: 'danger',
          'aria-label': `Revoke token ${t.name}`,
          onclick: async (e) => {
            const go = await confirmAction({
              title: `Revoke token ${t.name}?`,
              text: 'It stops working within seconds, everywhere.',
              typed: t.name,
              action: 'Revoke token',
            });
            if (go) await act(e.target, out, async () => { await api(`/api/v1/tokens/${seg(t.id)}`, { method: 'DELETE' }); await draw(); });
          },
        }, 'Revoke'),
      ])));
  };
  await draw();
  return section('Tokens', mintForm(draw), out, list);
}

async function projectsPart() {
  const list = h('div');
  const out = h('div', { 'aria-live': 'polite' });
  const id = h('input', { name: 'id', required: true, pattern: '[A-Za-z0-9_\\-]{1,64}' });
  const name = h('input', { name: 'name', required: true });
  const button = h('button', { type: 'submit' }, 'Create project');
  // One project's grants and tokens at a time, below the list.
  const panel = h('div');
  const manage = (id) => h('button', {
    type: 'button',
    'aria-label': `Manage project ${id}`,
    onclick: (e) => act(e.target, out, async () => fill(panel, await projectPanel(id))),
  }, 'Grants and tokens');
  const draw = async () => {
    const projects = (await api('/api/v1/projects')).data;
    fill(list, table('Projects', ['Id', 'Name', 'Description', 'Created', ''],
      projects.map((p) => [p.id, p.name, p.description || '—', time(p.createdAt), manage(p.id)]), 'none yet.'));
  };
  const form = h('form', { class: 'inline', 'aria-label': 'Create a project' },
    labelled('Project id', id), labelled('Project name', name), button, out);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(button, out, async () => {
      await api('/api/v1/projects', { method: 'POST', body: { id: id.value.trim(), name: name.value.trim() } });
      id.value = name.value = '';
      await draw();
    });
  });
  await draw();
  return section('Projects', form, list, panel);
}

function auditPart(params) {
  const page = Math.max(1, Number(params.get('auditPage')) || 1);
  const filters = { actor: params.get('actor'), projectId: params.get('projectId'), requestId: params.get('requestId') };
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter the audit log' },
    labelled('Actor', h('input', { name: 'actor', value: filters.actor || '' })),
    labelled('Project id', h('input', { name: 'projectId', value: filters.projectId || '' })),
    labelled('Request id', h('input', { name: 'requestId', value: filters.requestId || '' })),
    h('button', { type: 'submit' }, 'Filter audit log'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `#/admin${query(Object.fromEntries(new FormData(form)))}`;
  });
  const list = h('div');
  const draw = async () => {
    const answer = await api(`/api/v1/audit${query({ ...filters, page, pageSize: AUDIT_PAGE })}`);
    const pages = Math.max(1, Math.ceil(answer.total / answer.pageSize));
    const to = (n) => `#/admin${query({ ...filters, auditPage: n })}`;
    fill(list, table(`Audit log, page ${page} of ${pages}`, ['At', 'Actor', 'Project', 'Call', 'Status', 'Outcome', 'Request'],
      answer.data.map((r) => [time(r.at), r.actor, r.projectId ?? '—', `${r.method} ${r.path}`, String(r.status),
        badge(r.outcome), h('code', {}, r.requestId)]), 'no entry matches.'),
    h('nav', { class: 'pager', 'aria-label': 'Pages of the audit log' },
      page > 1 ? link(to(page - 1), 'Previous page') : null,
      h('span', {}, `Page ${page} of ${pages}`),
      page < pages ? link(to(page + 1), 'Next page') : null));
  };
  return { part: section('Audit log', form, list), draw };
}

export async function adminPage({ view, session, params }) {
  view.append(h('h1', {}, 'Administration'));
  if (!session.globalAdmin) {
    view.append(h('p', {}, 'Only a global admin token administers ferry.'));
    return null;
  }
  const audit = auditPart(params);
  const parts = await Promise.all([tokensPart(), projectsPart()].map((p) => p.catch(errorBox)));
  view.append(...parts, audit.part);
  await audit.draw().catch((err) => audit.part.append(errorBox(err)));
  return null;
}
