// Overview: every configured endpoint of every dialect, whether it is enabled (and why not),
// and its last 24 hours: success ratio, latency and an hourly chart.

import { api, badge, h, ms, percent, time } from '../lib.js';

export const title = 'Overview';

const DIALECTS = { telecom23: '23 Telecom', smsedge: 'SMSEdge', named: 'Named', operational: 'Operational' };
const SVG = 'http://www.w3.org/2000/svg';

export async function render(root) {
  root.append(h('h1', {}, 'Overview'));
  const { endpoints } = await api('GET', '/api/v1/user/webhooks/overview');
  if (!endpoints.length) {
    root.append(h('p', { class: 'empty' }, 'No endpoint is configured yet. Set one on the 23 Telecom, SMSEdge or Named subscriptions page.'));
    return;
  }
  root.append(h('div', { class: 'cards' }, endpoints.map(card)));
}

function card(e) {
  const s = e.stats_24h ?? {};
  const state = e.enabled
    ? badge('enabled', 'ok')
    : badge(`disabled${e.disabled?.reason ? `: ${e.disabled.reason}` : ''}`, 'bad');
  return h('article', { class: 'card endpoint', dataset: { id: e.id, dialect: e.dialect } },
    h('header', {},
      h('span', { class: 'badge' }, DIALECTS[e.dialect] ?? e.dialect),
      h('strong', { class: 'name' }, e.name ?? e.id),
      state),
    h('p', { class: 'url' }, e.url),
    h('p', { class: 'events' }, (e.events ?? []).map((t) => h('span', { class: 'tag' }, t))),
    e.disabled
      ? h('p', { class: 'why' }, 'Disabled ', time(e.disabled.at), e.disabled.detail ? ` — ${e.disabled.detail}` : '')
      : null,
    h('dl', { class: 'stats' },
      h('dt', {}, 'Attempts 24 h'), h('dd', {}, String(s.attempts ?? 0)),
      h('dt', {}, 'Success'), h('dd', {}, percent(s.success_ratio)),
      h('dt', {}, 'Latency p50'), h('dd', {}, ms(s.latency_p50_ms)),
      h('dt', {}, 'Latency p99'), h('dd', {}, ms(s.latency_p99_ms))),
    chart(e.hourly ?? []),
    h('p', { class: 'axis-labels' }, h('span', {}, '24 h ago'), h('span', {}, 'now')));
}

/** Hourly attempts as bars (delivered part green, the rest red), oldest hour on the left. */
function chart(hours) {
  const w = 240, hgt = 48, n = Math.max(hours.length, 1), bw = w / n;
  const max = Math.max(1, ...hours.map((x) => x.attempts));
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  const total = hours.reduce((a, x) => a + x.attempts, 0);
  svg.setAttribute('aria-label', `${total} attempts in the last 24 hours, per hour`);
  hours.forEach((x, i) => {
    const full = (x.attempts / max) * (hgt - 2);
    const ok = (x.delivered / max) * (hgt - 2);
    const tip = document.createElementNS(SVG, 'title');
    tip.textContent = `${x.hour}: ${x.delivered}/${x.attempts} delivered`;
    const g = document.createElementNS(SVG, 'g');
    g.append(tip, rect(i * bw + 1, hgt - full, bw - 2, full - ok, 'failed'), rect(i * bw + 1, hgt - ok, bw - 2, ok, 'delivered'));
    svg.append(g);
  });
  const base = rect(0, hgt - 1, w, 1, 'axis');
  svg.append(base);
  return svg;
}

function rect(x, y, width, height, cls) {
  const r = document.createElementNS(SVG, 'rect');
  r.setAttribute('x', x.toFixed(1));
  r.setAttribute('y', y.toFixed(1));
  r.setAttribute('width', Math.max(0, width).toFixed(1));
  r.setAttribute('height', Math.max(0, height).toFixed(1));
  r.setAttribute('class', cls);
  return r;
}
