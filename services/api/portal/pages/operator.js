// The operator view, behind the admin token (kept for the tab only, sent as a Bearer token):
// workspaces, API keys (create, revoke), quarantine counts by reason and dead letters across
// workspaces.

import { api, ApiError, field, fill, h, notice, session, table, time } from '../lib.js';

export const title = 'Operator';

export async function render(root) {
  root.append(h('h1', {}, 'Operator'));
  if (!session.admin) { root.append(tokenForm(root)); return; }
  try {
    await draw(root);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 404)) {
      session.admin = null;
      fill(root, h('h1', {}, 'Operator'), tokenForm(root, err.status === 404 ? 'Admin endpoints are off on this server.' : 'That admin token is wrong.'));
      return;
    }
    throw err;
  }
}

function tokenForm(root, message) {
  const input = h('input', { type: 'password', name: 'admin_token', id: 'admin-token', required: true, autocomplete: 'off' });
  const status = notice();
  if (message) status.err(message);
  const form = h('form', { class: 'card signin', id: 'operator-sign-in' },
    h('p', {}, 'The operator view needs the admin token (HOOKLINE_ADMIN_TOKEN). It is kept for this tab only.'),
    field('Admin token', input), h('button', { type: 'submit' }, 'Sign in'), status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    session.admin = input.value.trim();
    fill(root);
    await render(root);
  });
  return form;
}

/** Draws the view; `flash` (a message of the last action) goes on top. */
async function draw(root, flash) {
  const [ws, keys, quarantine, dead] = await Promise.all([
    api('GET', '/admin/v1/workspaces', undefined, 'admin'),
    api('GET', '/admin/v1/api-keys', undefined, 'admin'),
    api('GET', '/admin/v1/quarantine', undefined, 'admin'),
    api('GET', '/admin/v1/dead-letters?limit=200', undefined, 'admin'),
  ]);
  const status = notice();
  const redraw = async (msg) => { fill(root, h('h1', {}, 'Operator')); await draw(root, msg); };
  root.append(
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'link', id: 'operator-sign-out', onclick: () => { session.admin = null; fill(root); render(root); } }, 'Sign out of the operator view')),
    status,
    ...(flash ? [flash] : []),
    h('h2', {}, 'Workspaces'),
    ws.workspaces.length
      ? table(['Workspace', 'Subscriptions', 'API keys', ''], ws.workspaces.map((w) => h('tr', {},
        h('td', {}, w.workspace_id), h('td', {}, String(w.subscriptions)), h('td', {}, String(w.api_keys)),
        h('td', {}, h('button', { type: 'button', onclick: () => resendWorkspace(w.workspace_id, status, redraw) }, 'Re-send its dead letters')))), { id: 'workspaces' })
      : h('p', { class: 'empty' }, 'No workspace yet.'),
    h('h2', {}, 'API keys'),
    createKeyForm(status, redraw),
    table(['Key id', 'Workspace', 'Permissions', 'Created', 'Last used', ''], keys.data.map((k) => h('tr', { dataset: { keyId: k.key_id } },
      h('td', {}, k.key_id), h('td', {}, k.workspace_id), h('td', {}, k.permissions.join(', ')),
      h('td', {}, time(k.created_at)), h('td', {}, time(k.last_used_at)),
      h('td', {}, revokeButton(k, status, redraw)))), { id: 'api-keys' }),
    h('h2', {}, 'Quarantine'),
    h('p', { class: 'muted' }, 'Inputs set aside since ', time(quarantine.since), ', by reason.'),
    Object.keys(quarantine.counts).length
      ? table(['Reason', 'Count'], Object.entries(quarantine.counts).map(([r, n]) => h('tr', {}, h('td', {}, r), h('td', {}, String(n)))), { id: 'quarantine' })
      : h('p', { class: 'empty' }, 'Nothing quarantined.'),
    h('h2', {}, 'Dead letters, every workspace'),
    dead.dead_letters.length
      ? table(['Workspace', 'Event', 'Endpoint', 'Attempts', 'Last error', 'Reason', 'Dead since'], dead.dead_letters.map((d) => h('tr', {},
        h('td', {}, d.workspace_id), h('td', {}, d.type, h('div', { class: 'muted' }, d.webhook_id)),
        h('td', { class: 'url' }, d.url ?? '—'), h('td', {}, String(d.attempts)), h('td', {}, d.last_error ?? '—'),
        h('td', {}, d.reason), h('td', {}, time(d.dead_at)))), { id: 'all-dead-letters' })
      : h('p', { class: 'empty' }, 'No dead letters.'));
}

function createKeyForm(status, redraw) {
  const form = h('form', { class: 'card inline', id: 'create-key' },
    field('Workspace', h('input', { name: 'workspace_id', required: true, pattern: '[A-Za-z0-9_.\\-]{1,64}' })),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'permissions', value: 'webhooks.read', checked: true }), 'webhooks.read'),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'permissions', value: 'webhooks.write', checked: true }), 'webhooks.write'),
    h('button', { type: 'submit' }, 'Create key'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = new FormData(form);
    try {
      const k = await api('POST', '/admin/v1/api-keys', { workspace_id: String(d.get('workspace_id')).trim(), permissions: d.getAll('permissions') }, 'admin');
      await redraw(h('div', { class: 'card secret', id: 'created-key' },
        h('p', {}, `Created ${k.key_id} for ${k.workspace_id}. The key, shown this once:`),
        h('code', { class: 'secret-value' }, k.api_key)));
    } catch (err) { status.err(err); }
  });
  return form;
}

function revokeButton(k, status, redraw) {
  let armed = false;
  const b = h('button', { type: 'button', class: 'revoke' }, 'Revoke');
  b.addEventListener('click', async () => {
    if (!armed) { armed = true; b.textContent = 'Really revoke?'; b.classList.add('danger'); return; }
    try {
      await api('DELETE', `/admin/v1/api-keys/${encodeURIComponent(k.key_id)}`, undefined, 'admin');
      await redraw(h('p', { class: 'notice ok' }, `Revoked ${k.key_id}.`));
    } catch (err) { status.err(err); }
  });
  return b;
}

async function resendWorkspace(workspace, status, redraw) {
  try {
    const { resent } = await api('POST', '/admin/v1/dead-letters/resend', { workspace_id: workspace }, 'admin');
    await redraw(h('p', { class: 'notice ok' }, `Re-sent ${resent} dead letters of ${workspace}.`));
  } catch (err) { status.err(err); }
}
