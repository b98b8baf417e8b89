// Line charts drawn by the page as SVG from the statistics ferry's workers
// sample (`GET /api/v1/clusters/{id}/statistics`): no chart library and no
// outside service. One chart is one metric; each series is one line.

import { h } from './ui.js';

const NS = 'http://www.w3.org/2000/svg';
const WIDTH = 640;
const HEIGHT = 200;
const PAD = { left: 64, right: 12, top: 12, bottom: 28 };

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// 1234567 -> "1.2M": axis labels stay short.
export function short(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

// A series' name from its labels: the consumer group, the partition and
// broker, or the topic.
function seriesName(labels) {
  if (labels.consumergroup) return `group ${labels.consumergroup}`;
  if (labels.partition !== undefined) return `partition ${labels.partition} on broker ${labels.broker}`;
  return labels.topic || 'value';
}

// `stats` is the API's answer: `{metricsType, step, data: [{labels, values:
// [{timestamp, value}]}]}`. `title` names the chart for screen readers too.
export function lineChart(title, stats, unit = '') {
  const series = (stats.data || []).filter((s) => s.values.length);
  const figure = h('figure', { class: 'chart' }, h('figcaption', {}, title));
  if (!series.length) {
    figure.append(h('p', { class: 'empty' }, 'No samples in this window yet.'));
    return figure;
  }
  const all = series.flatMap((s) => s.values);
  const t0 = Math.min(...all.map((p) => p.timestamp));
  const t1 = Math.max(...all.map((p) => p.timestamp), t0 + 1);
  const vMax = Math.max(...all.map((p) => p.value), 0);
  const vMin = Math.min(...all.map((p) => p.value), 0);
  const top = vMax === vMin ? vMin + 1 : vMax;
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - ((v - vMin) / (top - vMin)) * (HEIGHT - PAD.top - PAD.bottom);
  const last = series.map((s) => `${seriesName(s.labels)} ${short(s.values[s.values.length - 1].value)}${unit}`);
  const chart = svg('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img',
    'aria-label': `${title}: latest ${last.join(', ')}`,
    class: 'plot',
  });
  for (let i = 0; i <= 4; i += 1) {
    const v = vMin + ((top - vMin) * i) / 4;
    chart.append(
      svg('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v), class: 'grid' }),
      svg('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, `${short(v)}${unit}`),
    );
  }
  for (const t of [t0, (t0 + t1) / 2, t1]) {
    const label = new Date(t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    chart.append(svg('text', { x: x(t), y: HEIGHT - 8, 'text-anchor': 'middle', class: 'tick' }, label));
  }
  series.forEach((s, i) => {
    const points = s.values.map((p) => `${x(p.timestamp).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
    const line = svg('polyline', { points, class: `line series-${i % 6}` });
    line.append(svg('title', {}, seriesName(s.labels)));
    chart.append(line);
    if (s.values.length === 1) {
      const p = s.values[0];
      chart.append(svg('circle', { cx: x(p.timestamp), cy: y(p.value), r: 3, class: `dot series-${i % 6}` }));
    }
  });
  figure.append(chart, h('ul', { class: 'legend' },
    series.map((s, i) => h('li', { class: `series-${i % 6}` }, last[i]))));
  return figure;
}
