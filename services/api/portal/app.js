// The portal's shell: sign-in, the header with the key's workspace and permissions, the
// navigation and the hash router. Each page is a module under pages/ exporting
// `title` and `render(main)`.

import { api, fill, h, notice, session, field, ApiError } from './lib.js';
import * as overview from './pages/overview.js';
import * as telecom23 from './pages/telecom23.js';
import * as smsedge from './pages/smsedge.js';
import * as named from './pages/named.js';
import * as logs from './pages/logs.js';
import * as deadLetters from './pages/dead_letters.js';
import * as testSend from './pages/test_send.js';
import * as operator from './pages/operator.js';

/** Route → page, in navigation order. The operator view signs in with its own token. */
const ROUTES = [
  ['overview', overview],
  ['telecom23', telecom23],
  ['smsedge', smsedge],
  ['named', named],
  ['logs', logs],
  ['dead-letters', deadLetters],
  ['test', testSend],
  ['operator', operator],
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

function current() {
  const name = location.hash.replace(/^#\/?/, '').split('?')[0];
  return ROUTES.find(([r]) => r === name) ?? ROUTES[0];
}

function drawNav(active) {
  fill(nav, ROUTES.map(([route, page]) =>
    h('a', { href: `#/${route}`, class: route === active ? 'active' : '', 'aria-current': route === active ? 'page' : null },
      page.title)));
}

function drawWho() {
  if (!session.me) { fill(who); return; }
  const perms = session.me.permissions;
  fill(who,
    h('span', { class: 'ws', title: `key ${session.me.key_id}` }, 'Workspace ', h('strong', { id: 'workspace-id' }, session.me.workspace_id)),
    h('span', { class: 'perms', id: 'permissions' }, perms.map((p) => h('span', { class: 'badge' }, p))),
    session.canWrite ? null : h('span', { class: 'badge warn', id: 'read-only' }, 'read-only'),
    h('button', { type: 'button', class: 'link', id: 'sign-out', onclick: signOut }, 'Sign out'));
}

function signOut() {
  session.key = null;
  session.me = null;
  drawWho();
  route();
}

function signInForm() {
  const input = h('input', { type: 'password', name: 'api_key', autocomplete: 'off', required: true, placeholder: 'hk_…', id: 'api-key' });
  const status = notice();
  const form = h('form', { class: 'card signin', id: 'sign-in' },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'Use an API key of your workspace (hookline embedded prints one). It is kept for this tab only and sent in the X-API-Key header.'),
    field('API key', input),
    h('button', { type: 'submit' }, 'Sign in'),
    status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    session.key = input.value.trim();
    try {
      await loadMe();
      route();
    } catch (err) {
      session.key = null;
      status.err(err instanceof ApiError && err.status === 401 ? 'That key is not valid (unknown or revoked).' : err);
    }
  });
  return form;
}

async function loadMe() {
  session.me = await api('GET', '/api/v1/me');
  drawWho();
}

async function route() {
  const [name, page] = current();
  drawNav(name);
  document.title = `${page.title} · Hookline portal`;
  if (name !== 'operator' && !session.key) {
    fill(main, signInForm());
    return;
  }
  if (name !== 'operator' && !session.me) {
    try { await loadMe(); } catch (err) {
      session.key = null;
      fill(main, signInForm());
      return;
    }
  }
  const section = h('section', { class: 'page', id: `page-${name}` });
  fill(main, section);
  try {
    await page.render(section);
    section.dataset.ready = '1';
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && name !== 'operator') {
      signOut();
      return;
    }
    section.append(h('p', { class: 'notice err' }, err.message));
    section.dataset.ready = 'error';
  }
}

window.addEventListener('hashchange', route);
route();
