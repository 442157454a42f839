// 23 Telecom settings: one URL per event type, the payload fields of each, the workspace_id
// and unique-clicks toggles, and the signing secret (set or cleared, never shown back).
// Only what changed is sent: a PUT touches only the members it carries.

import { api, field, guardForm, h, notice, writeSubmit } from '../lib.js';

export const title = '23 Telecom';

/** Every field each event type may send, in payload order (the server's catalogue). */
export const CATALOGUE = {
  delivery: ['message_id', 'telecom_message_id', 'recipient', 'sender_id', 'status', 'status_code', 'num_parts', 'cost', 'timestamp'],
  click: ['message_id', 'broadcast_id', 'recipient', 'sender_id', 'url', 'user_agent', 'ip', 'timestamp'],
  conversion: ['message_id', 'broadcast_id', 'recipient', 'click_id', 'event', 'value', 'currency', 'transaction_id', 'timestamp'],
  impression: ['message_id', 'broadcast_id', 'recipient', 'sender_id', 'num_parts', 'cost', 'timestamp'],
};
export const KINDS = Object.keys(CATALOGUE);

export async function render(root) {
  root.append(h('h1', {}, '23 Telecom webhooks'));
  const status = notice();
  const form = h('form', { class: 'settings', id: 't23-form' });
  root.append(form, status);
  const draw = (view) => drawForm(form, view, status, draw);
  draw(await api('GET', '/api/v1/user/webhooks'));
}

function drawForm(form, view, status, redraw) {
  const withWs = KINDS.some((k) => view[`${k}_fields`].includes('workspace_id'));
  const channels = KINDS.map((kind) => {
    const chosen = new Set(view[`${kind}_fields`]);
    return h('fieldset', { class: 'card channel', dataset: { kind } },
      h('legend', {}, kind),
      field('URL', h('input', { type: 'url', name: `${kind}_url`, value: view[`${kind}_url`] ?? '', placeholder: 'https://… (empty: off)' })),
      h('div', { class: 'checks' }, CATALOGUE[kind].map((f) =>
        h('label', { class: 'check' }, h('input', { type: 'checkbox', name: `${kind}_fields`, value: f, checked: chosen.has(f) }), f))));
  });
  const secretState = view.signing_secret_set ? 'A signing secret is set.' : 'No signing secret is set: requests are not signed.';
  form.replaceChildren(
    ...channels,
    h('fieldset', { class: 'card' },
      h('legend', {}, 'Options'),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'workspace_id', checked: withWs }), 'Send workspace_id in every payload'),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'unique_clicks_only', checked: view.unique_clicks_only }), 'Unique clicks only')),
    h('fieldset', { class: 'card' },
      h('legend', {}, 'Signing secret'),
      h('p', { id: 't23-secret-state' }, secretState),
      field('New secret', h('input', { type: 'password', name: 'signing_secret', autocomplete: 'new-password', maxlength: 64 }), 'Leave empty to keep the current one. It is never shown back.'),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'clear_signing_secret' }), 'Clear the secret')),
    h('div', { class: 'actions' }, writeSubmit('Save')));
  guardForm(form);
  form.onsubmit = async (e) => {
    e.preventDefault();
    const body = changes(form, view);
    if (!Object.keys(body).length) { status.info('Nothing changed.'); return; }
    try {
      const next = await api('PUT', '/api/v1/user/webhooks', body);
      redraw(next);
      status.ok('Saved.');
    } catch (err) { status.err(err); }
  };
}

/** The PUT body: only the members that differ from `view`. */
function changes(form, view) {
  const d = new FormData(form);
  const body = {};
  const withWs = d.get('workspace_id') === 'on';
  for (const kind of KINDS) {
    const url = String(d.get(`${kind}_url`) ?? '').trim();
    if (url !== (view[`${kind}_url`] ?? '')) body[`${kind}_url`] = url || null;
    const chosen = CATALOGUE[kind].filter((f) => d.getAll(`${kind}_fields`).includes(f));
    if (withWs) chosen.push('workspace_id');
    if (chosen.join() !== view[`${kind}_fields`].join()) body[`${kind}_fields`] = chosen;
  }
  const unique = d.get('unique_clicks_only') === 'on';
  if (unique !== view.unique_clicks_only) body.unique_clicks_only = unique;
  const secret = String(d.get('signing_secret') ?? '');
  if (secret) body.signing_secret = secret;
  else if (d.get('clear_signing_secret') === 'on') body.clear_signing_secret = true;
  return body;
}
