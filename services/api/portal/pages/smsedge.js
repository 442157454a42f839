// SMSEdge settings: its four webhook URLs and the DLR Basic auth (set or cleared, never
// shown back), and its test that fires a demo event at every configured URL.

import { api, field, guardForm, h, notice, table, writeButton, writeSubmit, fill } from '../lib.js';

export const title = 'SMSEdge';

const URLS = [['dlr_url', 'Delivery reports'], ['click_url', 'Clicks'], ['inbound_url', 'Inbound SMS'], ['revoke_click_url', 'Revoked clicks']];

export async function render(root) {
  root.append(h('h1', {}, 'SMSEdge webhooks'));
  const status = notice();
  const form = h('form', { class: 'settings', id: 'smsedge-form' });
  const results = h('div', { id: 'smsedge-test-result' });
  root.append(form, status, h('h2', {}, 'Test'),
    h('p', {}, 'Fires a demo event at every configured URL and shows each answer.'),
    writeButton('Send test events', () => test(results, status), { id: 'smsedge-test' }), results);
  const draw = (view) => drawForm(form, view, status, draw);
  draw((await api('GET', '/v1/user/get-webhook')).data);
}

function drawForm(form, view, status, redraw) {
  form.replaceChildren(
    h('fieldset', { class: 'card' }, h('legend', {}, 'URLs'),
      URLS.map(([k, label]) => field(label, h('input', { type: 'url', name: k, value: view[k] ?? '', placeholder: 'https://… (empty: off)' })))),
    h('fieldset', { class: 'card' }, h('legend', {}, 'Delivery report Basic auth'),
      h('p', { id: 'smsedge-auth-state' }, view.auth ? 'Credentials are set.' : 'No credentials are set.'),
      field('New user:password', h('input', { type: 'password', name: 'auth', autocomplete: 'new-password', placeholder: 'user:password' }), 'Leave empty to keep the current ones; never shown back.'),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'clear_auth' }), 'Clear the credentials')),
    h('div', { class: 'actions' }, writeSubmit('Save')));
  guardForm(form);
  form.onsubmit = async (e) => {
    e.preventDefault();
    const d = new FormData(form);
    const body = {};
    for (const [k] of URLS) {
      const v = String(d.get(k) ?? '').trim();
      if (v !== (view[k] ?? '')) body[k] = v; // "" clears
    }
    const auth = String(d.get('auth') ?? '');
    if (auth) body.auth = auth;
    else if (d.get('clear_auth') === 'on') body.auth = '';
    if (!Object.keys(body).length) { status.info('Nothing changed.'); return; }
    try {
      redraw((await api('POST', '/v1/user/set-webhook', body)).data);
      status.ok('Saved.');
    } catch (err) { status.err(err); }
  };
}

async function test(results, status) {
  status.info('Sending…');
  try {
    const { data } = await api('POST', '/v1/user/test-webhook');
    status.ok('Done.');
    fill(results, table(['Webhook', 'Result', 'HTTP', 'Time', 'Detail'],
      Object.entries(data).map(([name, r]) => h('tr', {},
        h('td', {}, name), h('td', {}, r.status), h('td', {}, r.http_code ?? '—'),
        h('td', {}, r.time === null || r.time === undefined ? '—' : `${Math.round(r.time * 1000)} ms`),
        h('td', {}, r.error ?? r.reason ?? '')))));
  } catch (err) { status.err(err); }
}
