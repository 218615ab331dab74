// Small SVG charts drawn from data: no library, no inline style (attributes and classes only).
import { h, svg } from './dom.js';

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function fmt(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n);
}

// Vertical bars over time: points [{label, value}], e.g. tokens per day.
export function columnChart(title, points, { unit = 'tokens' } = {}) {
  const width = 640;
  const height = 220;
  const left = 44;
  const bottom = 28;
  const top = 10;
  const max = niceMax(Math.max(0, ...points.map((p) => p.value)));
  const plotW = width - left - 8;
  const plotH = height - top - bottom;
  const band = plotW / Math.max(points.length, 1);
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': `${title}: ${points.length} bars` });
  for (let i = 0; i <= 4; i += 1) {
    const y = top + plotH - (plotH * i) / 4;
    chart.append(svg('line', { x1: left, x2: width - 8, y1: y, y2: y, class: 'grid' }),
      svg('text', { x: left - 6, y: y + 4, class: 'axis', 'text-anchor': 'end' }, fmt((max * i) / 4)));
  }
  const every = Math.ceil(points.length / 8);
  points.forEach((p, i) => {
    const barH = (plotH * p.value) / max;
    const x = left + i * band + band * 0.15;
    chart.append(svg('rect', { x, y: top + plotH - barH, width: Math.max(band * 0.7, 1), height: Math.max(barH, 0), class: 'bar', 'data-value': p.value },
      svg('title', {}, `${p.label}: ${p.value.toLocaleString()} ${unit}`)));
    if (i % every === 0) {
      chart.append(svg('text', { x: x + band * 0.35, y: height - 8, class: 'axis', 'text-anchor': 'middle' }, p.label));
    }
  });
  return figure(title, chart, points, unit);
}

// Horizontal bars for categories: [{label, value}], e.g. tokens per model or user.
export function barChart(title, points, { unit = 'tokens' } = {}) {
  const rowH = 26;
  const width = 640;
  const labelW = 180;
  const height = Math.max(points.length, 1) * rowH + 8;
  const max = niceMax(Math.max(0, ...points.map((p) => p.value)));
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': `${title}: ${points.length} bars` });
  points.forEach((p, i) => {
    const y = 4 + i * rowH;
    const w = ((width - labelW - 70) * p.value) / max;
    const label = p.label.length > 26 ? `${p.label.slice(0, 25)}…` : p.label;
    chart.append(svg('text', { x: labelW - 8, y: y + 17, class: 'axis', 'text-anchor': 'end' }, label),
      svg('rect', { x: labelW, y: y + 4, width: Math.max(w, 1), height: rowH - 8, class: 'bar alt', 'data-value': p.value },
        svg('title', {}, `${p.label}: ${p.value.toLocaleString()} ${unit}`)),
      svg('text', { x: labelW + w + 6, y: y + 17, class: 'axis' }, fmt(p.value)));
  });
  return figure(title, chart, points, unit);
}

function figure(title, chart, points, unit) {
  // The same figures as a table, for screen readers and for copying.
  const table = h('table', { class: 'table compact' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, ''), h('th', { scope: 'col' }, unit))),
    h('tbody', {}, points.map((p) => h('tr', {}, h('th', { scope: 'row' }, p.label), h('td', {}, p.value.toLocaleString())))));
  return h('figure', { class: 'card chart-card' }, h('figcaption', {}, title), chart,
    points.length ? h('details', {}, h('summary', {}, 'Show as a table'), table) : h('p', { class: 'muted' }, 'No usage in this range.'));
}
