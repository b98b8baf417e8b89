// The console's entry: sign-in, the page chrome and the hash router. Pages
// live at `#/...` so that every one is linkable and survives a reload while
// the server only ever serves `/` (REST Proxy v2 owns `/topics`,
// `/brokers` and `/consumers` at the root).

import { ApiError, api, setToken, token, whenUnauthorized } from './api.js';
import { errorBox, fill, h } from './ui.js';
import { overviewPage } from './overview.js';
import { taskPage, tasksPage } from './tasks.js';
import { clusterPage, clustersPage } from './clusters.js';
import { topicPage } from './topic.js';
import { changefeedPage, changefeedsPage } from './changefeeds.js';
import { changesetPage, changesetsPage } from './changesets.js';
import { adminPage } from './admin.js';

const main = () => document.getElementById('main');

// Who is signed in (`GET /api/v1/session`), with what the role allows.
let session = null;

const RANK = { viewer: 0, client: 1, admin: 2 };

function describe(s) {
  return {
    ...s,
    // Whether the token's role reaches `role` (within its project, for a
    // project's token): the console shows a control only when it does.
    can: (role) => RANK[s.role] >= RANK[role],
  };
}

// `[pattern, page]`: a pattern's groups are the page's arguments.
const ROUTES = [
  [/^\/?$/, overviewPage],
  [/^\/tasks$/, tasksPage],
  [/^\/tasks\/([^/]+)$/, taskPage],
  [/^\/clusters$/, clustersPage],
  [/^\/clusters\/([^/]+)$/, clusterPage],
  [/^\/clusters\/([^/]+)\/topics\/([^/]+)$/, topicPage],
  [/^\/changefeeds$/, changefeedsPage],
  [/^\/changefeeds\/([^/]+)$/, changefeedPage],
  [/^\/changesets$/, changesetsPage],
  [/^\/changesets\/([^/]+)$/, changesetPage],
  [/^\/admin$/, adminPage],
];

// The running page's clean-up (its polling), called when it is left.
let leave = null;
// Counts navigations, so that a slow page that finishes after the person
// moved on does not draw over the new one.
let generation = 0;

async function route() {
  if (leave) leave();
  leave = null;
  if (!session) return;
  const hash = decodeURI(location.hash.replace(/^#/, '')) || '/';
  const [path, search = ''] = hash.split('?');
  const params = new URLSearchParams(search);
  highlight(path);
  const view = fill(main());
  const mine = ++generation;
  const found = ROUTES.find(([pattern]) => pattern.test(path));
  if (!found) {
    view.append(h('h1', {}, 'Not found'), h('p', {}, `The console has no page ${path}.`));
    return;
  }
  const [pattern, page] = found;
  const args = pattern.exec(path).slice(1).map(decodeURIComponent);
  view.setAttribute('aria-busy', 'true');
  try {
    const cleanup = await page({ view, session, params, args, alive: () => mine === generation });
    if (mine === generation) leave = cleanup || null;
    else if (cleanup) cleanup();
  } catch (err) {
    if (mine === generation) view.append(errorBox(err));
  } finally {
    view.removeAttribute('aria-busy');
  }
}

function highlight(path) {
  for (const a of document.querySelectorAll('#nav a')) {
    const target = a.getAttribute('href').slice(1);
    const current = target === '/' ? path === '/' : path.startsWith(target);
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function chrome() {
  const nav = document.getElementById('nav');
  nav.hidden = !session;
  for (const a of nav.querySelectorAll('[data-needs="global-admin"]')) a.hidden = !session?.globalAdmin;
  const who = document.getElementById('who');
  if (!session) {
    fill(who);
    return;
  }
  const scope = session.projectId ? `${session.role} of project ${session.projectId}` : `global ${session.role}`;
  fill(who,
    h('span', { class: 'identity' }, `${session.name} (${scope})`),
    h('button', { type: 'button', onclick: signOut }, 'Sign out'));
}

function signOut(message) {
  setToken(null);
  session = null;
  chrome();
  signInPage(typeof message === 'string' ? message : null);
}

function signInPage(message) {
  const input = h('input', {
    id: 'token', name: 'token', type: 'password', required: true,
    autocomplete: 'off', spellcheck: 'false',
  });
  const out = h('div', { 'aria-live': 'polite' }, message ? errorBox(new ApiError(401, message)) : null);
  const form = h('form', { class: 'signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to ferry'),
    h('p', {}, 'Paste a ferry token: a global token, or one of a project. It is kept in this tab only.'),
    h('label', { for: 'token' }, 'Token'),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
    out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    setToken(input.value.trim());
    fill(out);
    try {
      await start();
    } catch (err) {
      setToken(null);
      fill(out, errorBox(err));
    }
  });
  fill(main(), form);
  input.focus();
}

async function start() {
  session = describe(await api('/api/v1/session'));
  chrome();
  await route();
}

whenUnauthorized((message) => {
  if (session) signOut(message);
});
window.addEventListener('hashchange', () => {
  route();
  main().focus({ preventScroll: true });
});

if (token()) {
  start().catch((err) => signOut(err.message));
} else {
  signInPage(null);
}
