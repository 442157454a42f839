// Dead letters: events whose retries ran out (or that were kept while their endpoint was
// disabled); re-send one, a selection, or every one shown.

import { api, fill, h, notice, table, time, writeButton } from '../lib.js';

export const title = 'Dead letters';

export async function render(root) {
  const status = notice();
  const list = h('div', { id: 'dead-letter-list' });
  const reload = async () => draw(list, (await api('GET', '/api/v1/user/webhooks/dead-letters?limit=1000')).dead_letters, status, reload);
  const resend = async (ids) => {
    if (!ids.length) { status.info('Select at least one.'); return; }
    try {
      const { resent } = await api('POST', '/api/v1/user/webhooks/dead-letters/resend', { webhook_ids: ids });
      status.ok(`Re-sent ${resent}.`);
      await reload();
    } catch (err) { status.err(err); }
  };
  root.append(h('h1', {}, 'Dead letters'),
    h('div', { class: 'actions' },
      writeButton('Re-send selected', () => resend([...list.querySelectorAll('input[name=pick]:checked')].map((i) => i.value)), { id: 'resend-selected' }),
      h('button', { type: 'button', onclick: reload }, 'Refresh')),
    status, list);
  list.resend = resend;
  await reload();
}

function draw(list, letters, status, reload) {
  if (!letters.length) { fill(list, h('p', { class: 'empty' }, 'No dead letters.')); return; }
  const all = h('input', { type: 'checkbox', 'aria-label': 'Select all', onchange: () => {
    for (const i of list.querySelectorAll('input[name=pick]')) i.checked = all.checked;
  } });
  fill(list, table([all, 'Event', 'Endpoint', 'Attempts', 'Last error', 'Reason', 'Dead since', ''], letters.map((d) =>
    h('tr', { dataset: { webhookId: d.webhook_id } },
      h('td', {}, h('input', { type: 'checkbox', name: 'pick', value: d.webhook_id, 'aria-label': `Select ${d.webhook_id}` })),
      h('td', {}, h('div', {}, d.type), h('div', { class: 'muted' }, d.webhook_id)),
      h('td', { class: 'url' }, d.url ?? '—', h('div', { class: 'muted' }, d.subscription_id)),
      h('td', {}, String(d.attempts)),
      h('td', {}, d.last_error ?? '—'),
      h('td', {}, d.reason),
      h('td', {}, time(d.dead_at)),
      h('td', {}, writeButton('Re-send', () => list.resend([d.webhook_id]), { class: 'resend-one' }))))));
}
