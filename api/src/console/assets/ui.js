// What every page builds with: elements from text (never from HTML
// strings, so nothing the API returns can become markup), tables, badges,
// the typed confirmation of destructive actions, errors, and polling that
// stops when the page is left.

import { ApiError } from './api.js';

// An element: `h('a', { href: '#/' }, 'text', child)`. Attributes named
// `on...` are event handlers; `null`, `undefined` and `false` children are
// skipped.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Replaces an element's children.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A table with a caption (its accessible name), a header row and rows of
// cells; `empty` is said when there are no rows.
export function table(caption, headers, rows, empty = 'None.') {
  if (!rows.length) return h('p', { class: 'empty' }, `${caption}: ${empty}`);
  return h('table', {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headers.map((name) => h('th', { scope: 'col' }, name)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c) => h('td', {}, c))))));
}

// A list of terms and their values, for one resource's fields.
export function fields(pairs) {
  return h('dl', { class: 'fields' },
    pairs.filter(([, v]) => v !== undefined).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '—')]));
}

export function badge(text, kind = String(text).toLowerCase()) {
  return h('span', { class: `badge ${kind}` }, text);
}

export function section(title, ...children) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), children);
}

export function pre(value) {
  return h('pre', { class: 'json', tabindex: '0' },
    value === null || value === undefined ? '—' : JSON.stringify(value, null, 2));
}

export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return h('time', { datetime: d.toISOString(), title: d.toISOString() }, d.toLocaleString());
}

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function number(n) {
  return n === null || n === undefined ? '—' : Number(n).toLocaleString('en');
}

// An error of the API, said with its own message, in a live region.
export function errorBox(err) {
  const status = err instanceof ApiError && err.status ? ` (HTTP ${err.status})` : '';
  return h('p', { class: 'error', role: 'alert' }, `${err.message}${status}`);
}

// Runs `work` for a button, disabling it meanwhile and showing the API's
// message next to it when it fails.
export async function act(button, out, work) {
  button.disabled = true;
  fill(out);
  try {
    await work();
  } catch (err) {
    fill(out, errorBox(err));
  } finally {
    button.disabled = false;
  }
}

// Asks before a destructive action. With `typed`, the person must type
// that name (the resource's) before the action is enabled. Resolves to
// whether to go on.
export function confirmAction({ title, text, typed, action = 'Confirm' }) {
  const dialog = document.getElementById('confirm');
  const input = document.getElementById('confirm-typed');
  const label = document.getElementById('confirm-typed-label');
  const ok = document.getElementById('confirm-ok');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  ok.textContent = action;
  input.value = '';
  input.hidden = label.hidden = !typed;
  label.textContent = typed ? `Type ${typed} to confirm` : '';
  ok.disabled = Boolean(typed);
  input.oninput = () => { ok.disabled = input.value !== typed; };
  return new Promise((resolve) => {
    const done = (answer) => {
      dialog.close();
      resolve(answer);
    };
    document.getElementById('confirm-form').onsubmit = (e) => {
      e.preventDefault();
      if (!ok.disabled) done(true);
    };
    document.getElementById('confirm-cancel').onclick = () => done(false);
    dialog.oncancel = () => resolve(false);
    dialog.showModal();
    (typed ? input : ok).focus();
  });
}

// Polls `tick` every `ms` until the page is left (the router calls the
// returned function). A failing tick shows its error through `tick` itself
// and polling goes on.
export function every(ms, tick) {
  let stopped = false;
  let timer = null;
  const run = async () => {
    if (stopped) return;
    try {
      await tick();
    } finally {
      if (!stopped) timer = setTimeout(run, ms);
    }
  };
  timer = setTimeout(run, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// A labelled form control: `labelled('Status', select)`.
export function labelled(text, control) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h('span', { class: 'control' }, h('label', { for: id }, text), control);
}

export function select(name, options, value) {
  return h('select', { name },
    options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
}

export function link(href, text) {
  return h('a', { href }, text);
}

// The status of a task or changefeed as a badge.
export function status(s) {
  return badge(s, String(s).toLowerCase());
}

// A Kafka config list as a table: each value, whether it is Kafka's default
// or set by someone, and where it comes from (topic and broker pages).
export function configTable(caption, configs, empty) {
  return table(caption, ['Name', 'Value', 'Set where', 'Source'],
    configs.map((c) => [
      h('code', {}, c.name),
      c.is_sensitive ? '******' : (c.value ?? '—'),
      c.is_default ? badge('default', 'muted') : badge('overridden', 'running'),
      c.source,
    ]), empty);
}

// A just-minted token, shown in `out` this once and selected for copying.
export function showMinted(out, { id, label, text, token }) {
  const shown = h('input', { readonly: true, value: token, id, size: 50 });
  fill(out, h('div', { class: 'minted', role: 'status' },
    h('p', {}, `${text} Copy it now: it is shown only this once.`),
    h('label', { for: id }, label), shown));
  shown.select();
}

