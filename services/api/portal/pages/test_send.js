// Test send: a sample event of one type to the configured 23 Telecom URL or to one named
// subscription, with the attempt's outcome shown here (the log has it too).

import { api, badge, field, fill, h, ms, payload } from '../lib.js';
import { KINDS } from './telecom23.js';
import { listAll } from './named.js';
import { writeSubmit, guardForm } from '../lib.js';

export const title = 'Test send';

export async function render(root) {
  root.append(h('h1', {}, 'Test send'));
  const t23Result = h('div', { class: 'result', id: 't23-test-result' });
  const t23 = h('form', { class: 'card', id: 't23-test' },
    h('h2', {}, '23 Telecom'),
    field('Event type', h('select', { name: 'type' }, KINDS.map((k) => h('option', { value: k }, k)))),
    h('div', { class: 'actions' }, writeSubmit('Send test')),
    t23Result);
  t23.addEventListener('submit', (e) => {
    e.preventDefault();
    send(t23Result, 'POST', '/api/v1/user/webhooks/test', { type: new FormData(t23).get('type') });
  });
  root.append(guardForm(t23));

  const subs = await listAll().catch(() => []);
  const namedResult = h('div', { class: 'result', id: 'named-test-result' });
  const types = h('select', { name: 'event_type' });
  const sub = h('select', { name: 'id' }, subs.map((s) => h('option', { value: s.id }, s.name)));
  const pickTypes = () => {
    const s = subs.find((x) => x.id === sub.value);
    fill(types, (s?.event_types ?? []).map((t) => h('option', { value: t }, t)));
  };
  sub.addEventListener('change', pickTypes);
  pickTypes();
  const named = h('form', { class: 'card', id: 'named-test' },
    h('h2', {}, 'Named subscription'),
    subs.length ? [field('Subscription', sub), field('Event type', types), h('div', { class: 'actions' }, writeSubmit('Send test'))]
      : h('p', { class: 'empty' }, 'No named subscription yet.'),
    namedResult);
  named.addEventListener('submit', (e) => {
    e.preventDefault();
    send(namedResult, 'POST', `/api/v1/webhooks/${encodeURIComponent(sub.value)}/test`, { event_type: types.value });
  });
  root.append(guardForm(named), h('p', { class: 'muted' }, 'SMSEdge has its own test on the SMSEdge page.'));
}

async function send(box, method, path, body) {
  fill(box, h('p', { class: 'muted' }, 'Sending…'));
  try {
    const r = await api(method, path, body);
    fill(box,
      h('p', {}, r.success ? badge('delivered', 'ok') : badge(r.status ?? 'failed', 'bad'),
        ' HTTP ', h('strong', { class: 'response-code' }, r.response_code ?? 'no response'),
        ' in ', ms(r.response_time_ms), ' to ', h('span', { class: 'url' }, r.url)),
      r.error ? h('p', { class: 'notice err' }, r.error) : null,
      h('details', {}, h('summary', {}, `Payload (${r.webhook_id})`), payload(r.payload)));
  } catch (err) {
    fill(box, h('p', { class: 'notice err' }, err.message));
  }
}
