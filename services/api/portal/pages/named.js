// Named subscriptions: list, create (the whsec_ secret is shown once), edit, enable/disable,
// delete, with a filter builder (conditions on sender, status, message reference, campaign).

import { api, badge, field, fill, guardForm, h, notice, table, writeButton, writeSubmit } from '../lib.js';

export const title = 'Named subscriptions';

export const EVENT_TYPES = ['SMS_STATUS', 'SMS_INBOUND', 'LINK_HIT', 'OPT_OUT', 'MMS_STATUS', 'MMS_INBOUND',
  'WHATSAPP_STATUS', 'WHATSAPP_INBOUND', 'RCS_STATUS', 'RCS_INBOUND'];
const FILTER_FIELDS = [['status', 'Status is'], ['sender', 'Sender is'], ['message_ref', 'Message reference is'], ['campaign_id', 'Campaign is']];
const STATUSES = ['sent', 'delivered', 'undelivered', 'failed', 'soft_bounce', 'hard_bounce'];

/** Every subscription of the workspace, following the pages. */
export async function listAll() {
  const all = [];
  let cursor = null;
  do {
    const page = await api('GET', `/api/v1/webhooks?limit=250${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    all.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor && all.length < 5000);
  return all;
}

export async function render(root) {
  const status = notice();
  const list = h('div', { id: 'named-list' });
  const editor = h('div', { id: 'named-editor' });
  const reload = async () => drawList(list, await listAll(), editor, status, reload);
  root.append(h('h1', {}, 'Named subscriptions'),
    h('div', { class: 'actions' }, writeButton('New subscription', () => drawEditor(editor, null, status, reload), { id: 'named-new' })),
    editor, status, list);
  await reload();
}

function filterText(filter) {
  if (!filter) return '—';
  const parts = Object.entries(filter).filter(([, v]) => v?.length).map(([k, v]) => `${k}: ${v.join(' or ')}`);
  return parts.length ? parts.join('; ') : '—';
}

function drawList(list, subs, editor, status, reload) {
  if (!subs.length) { fill(list, h('p', { class: 'empty' }, 'No named subscription yet.')); return; }
  fill(list, table(['Name', 'URL', 'Events', 'Filter', 'State', ''], subs.map((s) => {
    let armed = false;
    const del = writeButton('Delete', async () => {
      if (!armed) { armed = true; del.textContent = 'Really delete?'; del.classList.add('danger'); return; }
      try { await api('DELETE', `/api/v1/webhooks/${encodeURIComponent(s.id)}`); status.ok(`Deleted ${s.name}.`); await reload(); } catch (err) { status.err(err); }
    });
    const toggle = writeButton(s.enabled ? 'Disable' : 'Enable', async () => {
      try { await api('PATCH', `/api/v1/webhooks/${encodeURIComponent(s.id)}`, { enabled: !s.enabled }); await reload(); } catch (err) { status.err(err); }
    });
    return h('tr', { dataset: { id: s.id } },
      h('td', { class: 'name' }, s.name),
      h('td', { class: 'url' }, s.url, s.failover_url ? h('div', { class: 'muted' }, `failover: ${s.failover_url}`) : null),
      h('td', {}, s.event_types.join(', ')),
      h('td', { class: 'filter' }, filterText(s.filter)),
      h('td', {}, s.enabled ? badge('enabled', 'ok') : badge(`disabled: ${s.disabled?.reason ?? ''}`, 'bad')),
      h('td', { class: 'row-actions' },
        writeButton('Edit', () => drawEditor(editor, s, status, reload)), toggle, del));
  })));
}

/** The create (sub null) or edit form. */
function drawEditor(editor, sub, status, reload) {
  const conditions = h('div', { class: 'conditions', id: 'filter-conditions' });
  const addCondition = (key = 'status', values = []) => conditions.append(condition(key, values));
  for (const [k, v] of Object.entries(sub?.filter ?? {})) if (v?.length) addCondition(k, v);
  const types = new Set(sub?.event_types ?? ['SMS_STATUS']);
  const form = h('form', { class: 'card editor', id: 'named-form' },
    h('h2', {}, sub ? `Edit ${sub.name}` : 'New subscription'),
    field('Name', h('input', { name: 'name', required: true, value: sub?.name ?? '', maxlength: 100 })),
    field('URL', h('input', { name: 'url', type: 'url', required: true, value: sub?.url ?? '', placeholder: 'https://…' })),
    h('fieldset', {}, h('legend', {}, 'Event types'),
      h('div', { class: 'checks' }, EVENT_TYPES.map((t) =>
        h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'event_types', value: t, checked: types.has(t) }), t)))),
    h('fieldset', {}, h('legend', {}, 'Filter (every condition must hold; none: every event)'),
      conditions,
      h('button', { type: 'button', id: 'filter-add', onclick: () => addCondition() }, 'Add condition')),
    field('Rate limit (requests/s, empty: none)', h('input', { name: 'rate_limit', type: 'number', min: 0, value: sub?.rate_limit ?? '' })),
    field('Failover URL (optional)', h('input', { name: 'failover_url', type: 'url', value: sub?.failover_url ?? '' })),
    h('div', { class: 'actions' }, writeSubmit(sub ? 'Save' : 'Create'),
      h('button', { type: 'button', onclick: () => fill(editor) }, 'Cancel')));
  guardForm(form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = bodyOf(form, conditions, sub);
    try {
      if (sub) {
        await api('PATCH', `/api/v1/webhooks/${encodeURIComponent(sub.id)}`, body);
        fill(editor);
        status.ok(`Saved ${body.name}.`);
      } else {
        const created = await api('POST', '/api/v1/webhooks', body);
        fill(editor, h('div', { class: 'card secret', id: 'named-secret' },
          h('h2', {}, `Created ${created.name}`),
          h('p', {}, 'Its signing secret, shown this once: copy it to your receiver now.'),
          h('code', { class: 'secret-value' }, created.signing_secret),
          h('button', { type: 'button', onclick: () => fill(editor) }, 'I have copied it')));
        status.ok(`Created ${created.name}.`);
      }
      await reload();
    } catch (err) { status.err(err); }
  });
  fill(editor, form);
  form.querySelector('input[name=name]').focus();
}

function condition(key, values) {
  const row = h('div', { class: 'condition' });
  const select = h('select', { name: 'filter_field', 'aria-label': 'Filter field' },
    FILTER_FIELDS.map(([k, label]) => h('option', { value: k, selected: k === key }, label)));
  const valueBox = h('span', { class: 'values' });
  const drawValues = (k, vals) => {
    if (k === 'status') {
      fill(valueBox, STATUSES.map((s) => h('label', { class: 'check' },
        h('input', { type: 'checkbox', name: 'filter_status', value: s, checked: vals.includes(s) }), s)));
    } else {
      fill(valueBox, h('input', { name: 'filter_values', value: vals.join(', '), placeholder: 'a, b (any of)', 'aria-label': 'Values' }));
    }
  };
  select.addEventListener('change', () => drawValues(select.value, []));
  drawValues(key, values);
  row.append(select, valueBox, h('button', { type: 'button', class: 'link', onclick: () => row.remove() }, 'Remove'));
  return row;
}

function bodyOf(form, conditions, sub) {
  const d = new FormData(form);
  const filter = {};
  for (const row of conditions.querySelectorAll('.condition')) {
    const k = row.querySelector('select').value;
    const vals = k === 'status'
      ? [...row.querySelectorAll('input[name=filter_status]:checked')].map((i) => i.value)
      : String(row.querySelector('input[name=filter_values]')?.value ?? '').split(',').map((v) => v.trim()).filter(Boolean);
    if (vals.length) filter[k] = [...new Set([...(filter[k] ?? []), ...vals])];
  }
  const rate = String(d.get('rate_limit') ?? '').trim();
  const failover = String(d.get('failover_url') ?? '').trim();
  const body = {
    name: String(d.get('name')).trim(),
    url: String(d.get('url')).trim(),
    event_types: d.getAll('event_types'),
    filter: Object.keys(filter).length ? filter : null,
    rate_limit: rate === '' ? null : Number(rate),
  };
  if (failover) body.failover_url = failover;
  else if (sub?.failover_url) body.failover_url = null;
  return body;
}
