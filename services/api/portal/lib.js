// The portal's shared pieces: the session (credentials live in sessionStorage only, so they
// end with the tab and never travel in a URL or a cookie), the fetch helper, and DOM helpers
// that put every value in the page as text, never as markup.

const KEY = 'hookline.apiKey';
const ADMIN = 'hookline.adminToken';

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(v) { v ? sessionStorage.setItem(KEY, v) : sessionStorage.removeItem(KEY); },
  get admin() { return sessionStorage.getItem(ADMIN); },
  set admin(v) { v ? sessionStorage.setItem(ADMIN, v) : sessionStorage.removeItem(ADMIN); },
  /** What `GET /api/v1/me` said about the key: {key_id, workspace_id, permissions}. */
  me: null,
  get canWrite() { return !!this.me && this.me.permissions.includes('webhooks.write'); },
};

/** An API answer that was not 2xx, with the error code of whichever dialect answered. */
export class ApiError extends Error {
  constructor(status, body) {
    const code = body?.error_code ?? body?.error?.code ?? `HTTP_${status}`;
    const text = body?.description ?? body?.error?.message ?? '';
    super(text ? `${code}: ${text}` : code);
    this.status = status;
    this.code = code;
  }
}

/**
 * A same-origin JSON request. `auth` is 'key' (X-API-Key) or 'admin' (Bearer admin token).
 * Answers the parsed body (null for 204); throws ApiError otherwise.
 */
export async function api(method, path, body, auth = 'key') {
  const headers = { Accept: 'application/json' };
  if (auth === 'key' && session.key) headers['X-API-Key'] = session.key;
  if (auth === 'admin' && session.admin) headers.Authorization = `Bearer ${session.admin}`;
  const init = { method, headers, credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = { description: text.slice(0, 200) }; }
  if (!r.ok) throw new ApiError(r.status, json);
  return json;
}

/** `?a=1&b=2` from the members of `params` that are set. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * An element: `h('a', {href: '#/x', class: 'c'}, 'text', child)`. Strings become text nodes;
 * `on<event>` attributes become listeners; `dataset` and boolean properties are set as
 * properties. Nothing is ever parsed as HTML.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') el.className = v;
    else if (k === 'checked' || k === 'disabled' || k === 'value' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the content of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A button that changes something: disabled (and marked) for a read-only key. */
export function writeButton(label, onclick, attrs = {}) {
  const b = h('button', { type: 'button', ...attrs, dataset: { write: '' } }, label);
  b.addEventListener('click', onclick);
  if (!session.canWrite) {
    b.disabled = true;
    b.title = 'This key is read-only';
  }
  return b;
}

/** A submit button of a write form, disabled for a read-only key. */
export function writeSubmit(label) {
  const b = h('button', { type: 'submit', dataset: { write: '' } }, label);
  if (!session.canWrite) {
    b.disabled = true;
    b.title = 'This key is read-only';
  }
  return b;
}

/** Disables every control of `form` for a read-only key (the API refuses the write anyway). */
export function guardForm(form) {
  if (!session.canWrite) for (const el of form.elements) el.disabled = true;
  return form;
}

/** A status line a page writes its outcome to. */
export function notice() {
  const el = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite' });
  el.ok = (msg) => { el.className = 'notice ok'; el.textContent = msg; };
  el.err = (e) => { el.className = 'notice err'; el.textContent = e instanceof Error ? e.message : String(e); };
  el.info = (msg) => { el.className = 'notice'; el.textContent = msg; };
  return el;
}

/** A labelled form control. */
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), control,
    hint ? h('span', { class: 'hint' }, hint) : null);
}

/**
 * A table; on a narrow screen each row becomes a card whose cells carry their column's name
 * (`data-label`, shown by the stylesheet).
 */
export function table(head, rows, attrs = {}) {
  for (const tr of rows) {
    [...tr.children].forEach((td, i) => {
      if (typeof head[i] === 'string' && head[i]) td.dataset.label = head[i];
    });
  }
  return h('div', { class: 'scroll' },
    h('table', attrs,
      h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows)));
}

/** A badge for an on/off state. */
export function badge(text, kind = '') {
  return h('span', { class: `badge ${kind}` }, text);
}

/** An RFC 3339 time as the reader's local time (the raw value in the tooltip). */
export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return h('time', { datetime: iso, title: iso }, d.toLocaleString());
}

/** A JSON payload, pretty-printed when it parses, always as text. */
export function payload(text) {
  let shown = text ?? '';
  if (typeof shown !== 'string') shown = JSON.stringify(shown, null, 2);
  else {
    try { shown = JSON.stringify(JSON.parse(shown), null, 2); } catch { /* shown as sent */ }
  }
  return h('pre', { class: 'payload' }, shown);
}

/** The value of a `datetime-local` input as RFC 3339 (UTC), or '' when empty. */
export function rfc3339(local) {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

export function percent(ratio) {
  return ratio === null || ratio === undefined ? '—' : `${(ratio * 100).toFixed(1)} %`;
}

export function ms(v) {
  return v === null || v === undefined ? '—' : `${v} ms`;
}
