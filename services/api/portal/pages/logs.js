// Delivery log: the latest attempts, filtered by event type, outcome, endpoint and time; each
// opens to its request headers and body, response code, response excerpt and timing.
// Payloads and responses come from outside and are only ever shown as text.

import { api, badge, field, fill, h, ms, notice, payload, query, rfc3339, time } from '../lib.js';

export const title = 'Delivery log';

const OUTCOMES = ['delivered', 'failed', 'skipped'];
/** The event kinds an attempt is logged under (a named SMS_STATUS event is a `status`). */
const KINDS = ['delivery', 'click', 'conversion', 'impression', 'inbound', 'opt_out', 'status', 'clicks_revoked', 'webhook_disabled'];

export async function render(root) {
  const status = notice();
  const results = h('div', { id: 'log-results' });
  const endpoints = await api('GET', '/api/v1/user/webhooks/overview').then((o) => o.endpoints).catch(() => []);
  const select = (name, label, options) => field(label, h('select', { name },
    h('option', { value: '' }, 'any'), options.map(([v, text]) => h('option', { value: v }, text))));
  const types = KINDS.map((t) => [t, t]);
  const form = h('form', { class: 'filters', id: 'log-filters' },
    select('event_type', 'Event type', types),
    select('outcome', 'Outcome', OUTCOMES.map((o) => [o, o])),
    select('subscription_id', 'Endpoint', endpoints.map((e) => [e.id, `${e.name ?? e.id} — ${e.url}`])),
    field('From', h('input', { type: 'datetime-local', name: 'from' })),
    field('To', h('input', { type: 'datetime-local', name: 'to' })),
    field('Show', h('select', { name: 'limit' }, [50, 200, 1000].map((n) => h('option', { value: n }, String(n))))),
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'log-refresh' }, 'Show')));
  const load = async () => {
    const d = new FormData(form);
    const q = query({
      limit: d.get('limit'), event_type: d.get('event_type'), outcome: d.get('outcome'),
      subscription_id: d.get('subscription_id'), from: rfc3339(d.get('from')), to: rfc3339(d.get('to')),
    });
    try {
      const { logs } = await api('GET', `/api/v1/user/webhooks/logs${q}`);
      status.info(`${logs.length} attempt${logs.length === 1 ? '' : 's'}, newest first.`);
      fill(results, logs.length ? logs.map(attempt) : h('p', { class: 'empty' }, 'No attempt matches.'));
    } catch (err) { status.err(err); }
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  root.append(h('h1', {}, 'Delivery log'), form, status, results);
  await load();
}

function outcomeBadge(a) {
  const kind = a.outcome === 'delivered' ? 'ok' : a.outcome === 'failed' ? 'bad' : '';
  return badge(a.outcome, kind);
}

function attempt(a) {
  return h('details', { class: 'attempt card', dataset: { attemptId: a.attempt_id, webhookId: a.webhook_id, outcome: a.outcome } },
    h('summary', {},
      outcomeBadge(a),
      h('span', { class: 'code' }, a.response_code ?? (a.error ? 'no response' : '—')),
      h('span', { class: 'type' }, a.type),
      a.test ? badge('test') : null,
      a.dead_lettered ? badge('dead-lettered', 'bad') : null,
      h('span', { class: 'muted' }, `#${a.attempt}`),
      h('span', { class: 'muted' }, ms(a.response_time_ms)),
      h('span', { class: 'when' }, time(a.attempted_at))),
    h('dl', { class: 'kv' },
      h('dt', {}, 'URL'), h('dd', { class: 'url' }, a.url ?? '—', a.url_kind ? ` (${a.url_kind})` : ''),
      h('dt', {}, 'Webhook id'), h('dd', {}, a.webhook_id),
      h('dt', {}, 'Event id'), h('dd', {}, a.event_id ?? '—'),
      h('dt', {}, 'Response code'), h('dd', { class: 'response-code' }, a.response_code ?? '—'),
      h('dt', {}, 'Time'), h('dd', {}, ms(a.response_time_ms)),
      a.error ? [h('dt', {}, 'Error'), h('dd', {}, a.error)] : null,
      a.next_attempt_at ? [h('dt', {}, 'Next attempt'), h('dd', {}, time(a.next_attempt_at))] : null,
      a.batch ? [h('dt', {}, 'Batch'), h('dd', {}, `${a.batch.id} (${a.batch.size} events)`)] : null),
    h('h3', {}, 'Request headers'),
    h('dl', { class: 'kv headers' }, Object.entries(a.request_headers ?? {}).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    h('h3', {}, 'Request body'),
    payload(a.payload),
    h('h3', {}, 'Response body (excerpt)'),
    h('pre', { class: 'payload response' }, a.response_body || '(empty)'));
}
