// A project's grants and tokens, on the admin page: which clusters the
// project reaches (a Kafka cluster whole or under a topic prefix, a MySQL or
// TiDB cluster as a changefeed's source, target or both), and its tokens
// (a minted one is shown once, here, and never again).

import { api, seg } from './api.js';
import {
  act, badge, confirmAction, fill, h, labelled, section, select, showMinted, table, time,
} from './ui.js';

function grantForm(project, clusters, redraw) {
  const out = h('div', { 'aria-live': 'polite' });
  const cluster = select('clusterId', clusters.map((c) => [c.id, `${c.name} (${c.kind}, ${c.id})`]), clusters[0]?.id);
  const prefix = h('input', { name: 'topicPrefix', placeholder: 'whole cluster' });
  const source = h('input', { type: 'checkbox', name: 'source' });
  const target = h('input', { type: 'checkbox', name: 'target' });
  const button = h('button', { type: 'submit' }, 'Grant cluster');
  const form = h('form', { class: 'inline', 'aria-label': `Grant project ${project} a cluster` },
    labelled('Cluster', cluster), labelled('Topic prefix (Kafka)', prefix),
    labelled('Changefeed source', source), labelled('Changefeed target', target), button, out);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(button, out, async () => {
      await api(`/api/v1/projects/${seg(project)}/grants/${seg(cluster.value)}`, {
        method: 'PUT',
        body: { topicPrefix: prefix.value.trim() || null, source: source.checked, target: target.checked },
      });
      prefix.value = '';
      await redraw();
    });
  });
  return form;
}

function tokenForm(project, redraw) {
  const out = h('div', { 'aria-live': 'polite' });
  const name = h('input', { name: 'name', required: true, maxlength: 128 });
  const role = select('role', [['VIEWER', 'VIEWER'], ['CLIENT', 'CLIENT'], ['ADMIN', 'ADMIN']], 'VIEWER');
  const button = h('button', { type: 'submit' }, 'Mint project token');
  const form = h('form', { class: 'inline', 'aria-label': `Mint a token of project ${project}` },
    labelled('Token name', name), labelled('Role in the project', role), button, out);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(button, out, async () => {
      const minted = await api(`/api/v1/projects/${seg(project)}/tokens`, {
        method: 'POST', body: { name: name.value.trim(), role: role.value },
      });
      showMinted(out, {
        id: `minted-${project}`, label: 'New project token', text: `Token ${minted.name} is minted.`, token: minted.token,
      });
      name.value = '';
      await redraw();
    });
  });
  return form;
}

// The panel of one project: its grants and its tokens, with their forms.
export async function projectPanel(project) {
  const grants = h('div');
  const tokens = h('div');
  const out = h('div', { 'aria-live': 'polite' });
  const clusters = (await api('/api/v1/clusters')).data;
  const name = (c) => (clusters.find((k) => k.id === c) || { name: c }).name;
  const draw = async () => {
    const [granted, minted] = await Promise.all([
      api(`/api/v1/projects/${seg(project)}/grants`).then((g) => g.data),
      api(`/api/v1/projects/${seg(project)}/tokens`).then((t) => t.data),
    ]);
    fill(grants, table(`Grants of ${project}`, ['Cluster', 'Topic prefix', 'Source', 'Target', 'Since', ''],
      granted.map((g) => [name(g.clusterId), g.topicPrefix ?? 'whole cluster', g.source ? 'yes' : 'no',
        g.target ? 'yes' : 'no', time(g.updatedAt), h('button', {
          type: 'button',
          class: 'danger',
          'aria-label': `Remove the grant of cluster ${name(g.clusterId)} from ${project}`,
          onclick: async (e) => {
            const go = await confirmAction({
              title: `Take cluster ${name(g.clusterId)} away from ${project}?`,
              text: "The project's tokens stop reaching it at once.",
              typed: project,
              action: 'Remove grant',
            });
            if (go) {
              await act(e.target, out, async () => {
                await api(`/api/v1/projects/${seg(project)}/grants/${seg(g.clusterId)}`, { method: 'DELETE' });
                await draw();
              });
            }
          },
        }, 'Remove')]), 'none: the project reaches no cluster.'));
    fill(tokens, table(`Tokens of ${project}`, ['Name', 'Role', 'Created', 'State'],
      minted.map((t) => [t.name, t.role, time(t.createdAt),
        t.revokedAt ? badge('revoked', 'cancelled') : badge('valid', 'succeeded')]), 'none yet.'));
  };
  await draw();
  return section(`Project ${project}`, out,
    grantForm(project, clusters, draw), grants, tokenForm(project, draw), tokens);
}
