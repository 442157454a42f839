// The portal in a real browser: Debian's Chromium (/usr/bin/chromium) driven by npm
// playwright-core, no browser download. Run by tests/tests/portal_browser.rs, which starts
// the pipeline and the receivers and passes everything in the environment:
//   PORTAL_URL, API_KEY, READONLY_KEY, ADMIN_TOKEN, WORKSPACE, INGEST_URL, INGEST_KEY,
//   RECEIVER_OK_URL, RECEIVER_FAIL_URL, SCREENSHOT_DIR (and NODE_PATH to find playwright-core).
// It walks what a customer does, without curl: sign in, set a 23 Telecom URL, send a test and
// see its 200 in the log, watch a failing endpoint's event land in dead letters and re-send it
// from the page, create a named subscription with a filter, edit and delete one, the SMSEdge
// settings and test, the operator view; a payload with markup is shown as text; a read-only
// key has no enabled write control and the API refuses it; no Content-Security-Policy
// violation and no script error anywhere. It screenshots every page at 1280 and 390 px wide.
// Line protocol with the Rust side: it prints `@@fix-failing-receiver` and waits for a line on
// stdin (the failing receiver then answers 200), and `@@dead-letter <webhook id>` /
// `@@named-test` so the Rust side can check what the receivers got.

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

const PORTAL = env('PORTAL_URL');
const API_KEY = env('API_KEY');
const READONLY_KEY = env('READONLY_KEY');
const ADMIN_TOKEN = env('ADMIN_TOKEN');
const WORKSPACE = env('WORKSPACE');
const INGEST_URL = env('INGEST_URL');
const INGEST_KEY = env('INGEST_KEY');
const OK_URL = env('RECEIVER_OK_URL');
const FAIL_URL = env('RECEIVER_FAIL_URL');
const SHOTS = env('SCREENSHOT_DIR');
const ORIGIN = new URL(PORTAL).origin;
const XSS = '<script>window.__xss=1</script>"><img src=x onerror="window.__xss=2">';
const WAIT = 30_000;
const ROUTES = ['overview', 'telecom23', 'smsedge', 'named', 'logs', 'dead-letters', 'test', 'operator'];

const problems = [];
const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

async function step(name, fn) {
  const t = Date.now();
  try {
    await fn();
  } catch (e) {
    e.message = `step "${name}": ${e.message}`;
    throw e;
  }
  console.log(`ok  ${name} (${Date.now() - t} ms)`);
}

/** A page that records every CSP violation, console error and uncaught exception. */
async function newPage(browser, width, height) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('console', (m) => {
    const text = m.text();
    if (/Content[- ]Security[- ]Policy|Refused to (load|execute|apply|connect|frame)/i.test(text)) problems.push(`CSP: ${text}`);
    else if (m.type() === 'error' && !/status of (4\d\d)/.test(text)) problems.push(`console error: ${text}`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  return page;
}

async function signIn(page, key) {
  const resp = await page.goto(PORTAL);
  const csp = resp.headers()['content-security-policy'] ?? '';
  check(csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'), `strict CSP on the page, got "${csp}"`);
  await page.fill('#api-key', key);
  await page.click('#sign-in button[type=submit]');
  await page.waitForSelector('#workspace-id');
  await page.waitForSelector('section.page[data-ready]');
}

/** Opens a page from the navigation and waits until it has drawn. */
async function open(page, route) {
  if (page.url().endsWith(`#/${route}`)) {
    await page.click(`nav a[href="#/${route === 'overview' ? 'logs' : 'overview'}"]`);
  }
  await page.click(`nav a[href="#/${route}"]`);
  await page.waitForSelector(`#page-${route}[data-ready]`);
}

/** Retries `fn` (which throws while not yet true) until it passes or WAIT runs out. */
async function until(what, fn) {
  const deadline = Date.now() + WAIT;
  for (;;) {
    try { return await fn(); } catch (e) {
      if (Date.now() > deadline) throw new Error(`${what}: ${e.message}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

async function apiAs(key, method, p, body) {
  const r = await fetch(ORIGIN + p, {
    method, headers: { 'X-API-Key': key, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

async function main() {
  mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'], headless: true });
  try {
    await run(browser);
    await screenshots(browser);
  } finally {
    await browser.close();
  }
  if (problems.length) throw new Error(`the browser reported:\n  ${problems.join('\n  ')}`);
  console.log('all portal checks passed');
}

async function run(browser) {
  const page = await newPage(browser, 1280, 800);

  await step('sign in with the API key; workspace and permissions shown', async () => {
    await signIn(page, API_KEY);
    check((await page.textContent('#workspace-id')) === WORKSPACE, 'workspace id shown');
    const perms = await page.textContent('#permissions');
    check(perms.includes('webhooks.read') && perms.includes('webhooks.write'), `permissions shown: ${perms}`);
    check(!page.url().includes(API_KEY), 'the key is not in the URL');
    check((await page.evaluate(() => document.cookie)) === '', 'no cookie');
    check(await page.evaluate((k) => sessionStorage.getItem('hookline.apiKey') === k && localStorage.length === 0, API_KEY),
      'the key is in sessionStorage only');
  });

  await step('23 Telecom: set the delivery URL and the signing secret', async () => {
    await open(page, 'telecom23');
    await page.fill('input[name=delivery_url]', OK_URL);
    await page.fill('input[name=signing_secret]', 'portal-secret-1');
    await page.click('#t23-form button[type=submit]');
    await page.waitForSelector('#page-telecom23 .notice.ok');
    check((await page.inputValue('input[name=delivery_url]')) === OK_URL, 'URL saved');
    check((await page.inputValue('input[name=signing_secret]')) === '', 'secret field empty after saving');
    check((await page.textContent('#t23-secret-state')).includes('is set'), 'secret shown as set');
    check(!(await page.content()).includes('portal-secret-1'), 'the secret is never shown back');
  });

  await step('test send of a delivery event: its 200 inline', async () => {
    await open(page, 'test');
    await page.selectOption('#t23-test select[name=type]', 'delivery');
    await page.click('#t23-test button[type=submit]');
    await page.waitForSelector('#t23-test-result .response-code');
    check((await page.textContent('#t23-test-result .response-code')) === '200', 'test answered 200');
  });

  await step('delivery log: the test attempt with its 200, headers and body', async () => {
    await open(page, 'logs');
    const row = page.locator('details.attempt[data-outcome=delivered]', { hasText: 'delivery' }).first();
    await until('the attempt in the log', async () => {
      await page.click('#log-refresh');
      check(await row.count() > 0, 'no delivered attempt yet');
    });
    await row.locator('summary').click();
    check((await row.locator('.response-code').textContent()) === '200', 'response code 200');
    const headers = await row.locator('dl.headers').textContent();
    check(headers.includes('X-Webhook-Id'), `request headers shown: ${headers}`);
    check((await row.locator('pre.payload').first().textContent()).includes('message_id'), 'request body shown');
    // The outcome filter: failed attempts only, and this one is gone.
    await page.selectOption('#log-filters select[name=outcome]', 'failed');
    await page.click('#log-refresh');
    await until('the outcome filter applied', async () => check(await page.locator('details.attempt[data-outcome=delivered]').count() === 0, 'delivered shown'));
    await page.selectOption('#log-filters select[name=outcome]', '');
  });

  let failingId;
  await step('a failing endpoint (named, SMS_INBOUND, a name with markup): its secret shown once', async () => {
    await open(page, 'named');
    await page.click('#named-new');
    await page.fill('#named-form input[name=name]', XSS);
    await page.fill('#named-form input[name=url]', FAIL_URL);
    await page.uncheck('#named-form input[value=SMS_STATUS]');
    await page.check('#named-form input[value=SMS_INBOUND]');
    await page.click('#named-form button[type=submit]');
    const secret = await page.textContent('#named-secret .secret-value');
    check(/^whsec_/.test(secret), `whsec_ secret shown on create: ${secret}`);
    const row = page.locator('#named-list tr', { hasText: 'SMS_INBOUND' });
    check((await row.locator('td.name').textContent()) === XSS, 'the name is shown as text');
    failingId = await row.getAttribute('data-id');
    await page.click('#named-secret button');
    await open(page, 'overview');
    await open(page, 'named');
    check(!(await page.content()).includes(secret), 'the secret is not shown again');
  });

  await step('an inbound SMS with markup in its text goes to the failing endpoint', async () => {
    const r = await fetch(`${INGEST_URL}/v1/inbound`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${INGEST_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ inbound_id: 'in-portal-1', workspace_id: WORKSPACE, from: '+14155550100', to: '12345', text: XSS }),
    });
    check(r.ok, `ingest accepted the inbound SMS (${r.status})`);
  });

  let deadId;
  await step('it lands in dead letters', async () => {
    await open(page, 'dead-letters');
    const row = page.locator('#dead-letter-list tr[data-webhook-id]');
    await until('a dead letter', async () => {
      await page.click('#page-dead-letters button:text("Refresh")');
      check(await row.count() > 0, 'none yet');
    });
    deadId = await row.first().getAttribute('data-webhook-id');
    check((await row.first().textContent()).includes('HTTP 500') || (await row.first().textContent()).includes('500'), 'last error shown');
    console.log(`@@dead-letter ${deadId}`);
  });

  await step('its payload is shown as text in the log, nothing runs', async () => {
    await open(page, 'logs');
    await page.selectOption('#log-filters select[name=event_type]', 'inbound');
    await page.selectOption('#log-filters select[name=outcome]', 'failed');
    await page.click('#log-refresh');
    const row = page.locator('details.attempt[data-outcome=failed]', { hasText: 'inbound' }).first();
    await until('only failed inbound attempts', async () =>
      check(await page.locator('details.attempt').count() === await page.locator('details.attempt[data-outcome=failed]', { hasText: 'inbound' }).count(), 'others shown'));
    await until('the failed attempt', async () => check(await row.count() > 0, 'not yet'));
    await row.locator('summary').click();
    const body = await row.locator('pre.payload').first().textContent();
    check(body.includes('<script>window.__xss=1</script>') && body.includes('<img src=x onerror='), `payload as text: ${body}`);
    check((await row.locator('.response-code').textContent()) === '500', 'its 500 shown');
    check(await page.locator('main img, main script').count() === 0, 'no element made from the payload');
    check(await page.evaluate(() => window.__xss) === undefined, 'no script ran');
  });

  await step('re-send the dead letter from the page once the endpoint answers', async () => {
    console.log('@@fix-failing-receiver');
    const reply = await lines.next();
    check(!reply.done, 'the test runner answered');
    await open(page, 'dead-letters');
    await page.check(`#dead-letter-list input[name=pick][value="${deadId}"]`);
    await page.click('#resend-selected');
    await page.waitForSelector('#page-dead-letters .notice.ok');
    check((await page.textContent('#page-dead-letters .notice.ok')) === 'Re-sent 1.', 'one re-sent');
    check(await page.locator(`#dead-letter-list tr[data-webhook-id="${deadId}"]`).count() === 0, 'gone from the list');
    await open(page, 'logs');
    await until('the re-sent event delivered', async () => {
      await page.click('#log-refresh');
      check(await page.locator(`details.attempt[data-webhook-id="${deadId}"][data-outcome=delivered]`).count() > 0, 'not yet');
    });
  });

  await step('named subscription with a filter: create, edit, test, delete', async () => {
    await open(page, 'named');
    await page.click('#named-new');
    await page.fill('#named-form input[name=name]', 'Delivered only');
    await page.fill('#named-form input[name=url]', OK_URL);
    await page.click('#filter-add');
    await page.check('#filter-conditions .condition >> nth=0 >> input[value=delivered]');
    await page.click('#filter-add');
    await page.selectOption('#filter-conditions .condition >> nth=1 >> select', 'sender');
    await page.fill('#filter-conditions .condition >> nth=1 >> input[name=filter_values]', 'MyApp, Other');
    await page.click('#named-form button[type=submit]');
    check(/^whsec_/.test(await page.textContent('#named-secret .secret-value')), 'secret shown once');
    const row = page.locator('#named-list tr', { hasText: 'Delivered only' });
    const filter = await row.locator('td.filter').textContent();
    check(filter.split('; ').sort().join('; ') === 'sender: MyApp or Other; status: delivered', `filter shown: ${filter}`);
    const id = await row.getAttribute('data-id');
    const created = await apiAs(API_KEY, 'GET', `/api/v1/webhooks/${id}`);
    const stored = created.body.filter;
    check(stored.status.join() === 'delivered' && stored.sender.join() === 'MyApp,Other', `filter stored: ${JSON.stringify(stored)}`);
    // Edit: a rate limit and one sender less.
    await row.locator('button:text("Edit")').click();
    await page.fill('#named-form input[name=rate_limit]', '25');
    await page.fill('#filter-conditions input[name=filter_values]', 'MyApp');
    await page.click('#named-form button[type=submit]');
    await page.waitForSelector('#page-named .notice.ok:text("Saved Delivered only.")');
    await until('the edit stored', async () => {
      const edited = await apiAs(API_KEY, 'GET', `/api/v1/webhooks/${id}`);
      check(edited.body.rate_limit === 25 && edited.body.filter.sender.join() === 'MyApp', `edited: ${JSON.stringify(edited.body)}`);
    });
    // Test send to it from the test page.
    await open(page, 'test');
    await page.selectOption('#named-test select[name=id]', id);
    await page.click('#named-test button[type=submit]');
    await page.waitForSelector('#named-test-result .response-code');
    check((await page.textContent('#named-test-result .response-code')) === '200', 'named test answered 200');
    console.log('@@named-test');
    // The failing one, now answering, gets a plain name.
    await open(page, 'named');
    await page.locator(`#named-list tr[data-id="${failingId}"] button:text("Edit")`).click();
    await page.fill('#named-form input[name=name]', 'Inbound SMS');
    await page.click('#named-form button[type=submit]');
    await page.waitForSelector('#page-named .notice.ok:text("Saved Inbound SMS.")');
    await until('renamed', async () => check((await page.locator(`#named-list tr[data-id="${failingId}"] td.name`).textContent()) === 'Inbound SMS', 'old name'));
    // Delete one (two clicks: the second confirms).
    await page.click('#named-new');
    await page.fill('#named-form input[name=name]', 'Short-lived');
    await page.fill('#named-form input[name=url]', OK_URL);
    await page.click('#named-form button[type=submit]');
    await page.click('#named-secret button');
    const doomed = page.locator('#named-list tr', { hasText: 'Short-lived' });
    const doomedId = await doomed.getAttribute('data-id');
    await doomed.locator('button:text("Delete")').click();
    await doomed.locator('button:text("Really delete?")').click();
    await until('deleted', async () => check(await page.locator(`#named-list tr[data-id="${doomedId}"]`).count() === 0, 'still listed'));
    check((await apiAs(API_KEY, 'GET', `/api/v1/webhooks/${doomedId}`)).status === 404, 'deleted in the API');
  });

  await step('SMSEdge: URLs and Basic auth, test inline', async () => {
    await open(page, 'smsedge');
    await page.fill('#smsedge-form input[name=dlr_url]', OK_URL);
    await page.fill('#smsedge-form input[name=auth]', 'portal-user:s3cret-pw');
    await page.click('#smsedge-form button[type=submit]');
    await page.waitForSelector('#page-smsedge .notice.ok');
    check((await page.textContent('#smsedge-auth-state')).includes('are set'), 'auth shown as set');
    check(!(await page.content()).includes('s3cret-pw'), 'credentials not shown back');
    await page.click('#smsedge-test');
    await page.waitForSelector('#smsedge-test-result table');
    const dlr = await page.locator('#smsedge-test-result tr', { hasText: 'dlr' }).textContent();
    check(dlr.includes('ok') && dlr.includes('200'), `dlr test: ${dlr}`);
  });

  await step('overview: every endpoint, its state and its last 24 h', async () => {
    await open(page, 'overview');
    const t23 = page.locator('article.endpoint[data-dialect=telecom23]').first();
    check((await t23.locator('.url').textContent()) === OK_URL, 'the 23 Telecom URL');
    check((await t23.textContent()).includes('enabled'), 'its state');
    check(await t23.locator('svg.chart rect.delivered').count() >= 24, 'its hourly chart');
    check(await page.locator('article.endpoint[data-dialect=named]').count() === 2, 'the named subscriptions');
    const inbound = page.locator(`article.endpoint[data-id="${failingId}"]`);
    check((await inbound.locator('.stats').textContent()).includes('25.0 %'), 'the once-failing endpoint: 1 of 4 attempts delivered');
    check(await inbound.locator('svg.chart rect.failed[height]:not([height="0.0"])').count() === 1, 'its failures charted');
    check(await page.locator('article.endpoint[data-dialect=smsedge]').count() >= 1, 'the SMSEdge endpoint');
  });

  await step('operator view: workspaces, quarantine, dead letters, create and revoke a key', async () => {
    await open(page, 'operator');
    await page.fill('#admin-token', ADMIN_TOKEN);
    await page.click('#operator-sign-in button[type=submit]');
    await page.waitForSelector('#workspaces');
    check((await page.textContent('#workspaces')).includes(WORKSPACE), 'the workspace listed');
    check(await page.locator('#page-operator h2:text("Quarantine")').count() === 1, 'quarantine section');
    await page.fill('#create-key input[name=workspace_id]', 'portal-new');
    await page.uncheck('#create-key input[value="webhooks.write"]');
    await page.click('#create-key button[type=submit]');
    const key = await page.textContent('#created-key .secret-value');
    check(/^hk_/.test(key), `new key shown once: ${key}`);
    const row = page.locator('#api-keys tr', { hasText: 'portal-new' });
    const keyId = await row.getAttribute('data-key-id');
    await row.locator('button.revoke').click();
    await row.locator('button.revoke').click();
    await until('revoked', async () => check(await page.locator(`#api-keys tr[data-key-id="${keyId}"]`).count() === 0, 'still listed'));
  });
  await page.context().close();

  await step('read-only key: sees everything, no enabled write control, the API refuses', async () => {
    const ro = await newPage(browser, 1280, 800);
    await signIn(ro, READONLY_KEY);
    await ro.waitForSelector('#read-only');
    for (const route of ROUTES.filter((r) => r !== 'operator')) {
      await open(ro, route);
      if (route === 'named') {
        await ro.waitForSelector('#named-list tr[data-id]');
        check(await ro.locator('#named-list td', { hasText: 'Delivered only' }).count() === 1, 'it sees the subscriptions');
      }
      const enabled = await ro.locator('[data-write]:not([disabled])').count();
      check(enabled === 0, `${route}: ${enabled} enabled write controls`);
      const forms = await ro.locator('main form:not(#log-filters) :is(input, select, button[type=submit]):not([disabled])').count();
      check(forms === 0, `${route}: ${forms} enabled form controls`);
    }
    const put = await apiAs(READONLY_KEY, 'PUT', '/api/v1/user/webhooks', { delivery_url: null });
    check(put.status === 403, `the API refuses a read-only write (${put.status})`);
    await ro.context().close();
  });
}

/** Every page at 1280×800 and 390×844; none scrolls sideways. */
async function screenshots(browser) {
  for (const [width, height] of [[1280, 800], [390, 844]]) {
    await step(`screenshots at ${width} px`, async () => {
      const page = await newPage(browser, width, height);
      await signIn(page, API_KEY);
      for (const route of ROUTES) {
        await open(page, route);
        if (route === 'operator') {
          await page.fill('#admin-token', ADMIN_TOKEN);
          await page.click('#operator-sign-in button[type=submit]');
          await page.waitForSelector('#workspaces');
        }
        if (route === 'logs') await page.locator('details.attempt summary').first().click();
        const text = await page.locator('main').innerText();
        check(!/undefined|\[object Object\]|NaN/.test(text), `${route}: a value shown as undefined, NaN or [object Object]`);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        check(overflow <= 0, `${route} at ${width} px scrolls sideways by ${overflow} px`);
        await page.screenshot({ path: path.join(SHOTS, `${route}-${width}.png`), fullPage: true });
      }
      await page.context().close();
    });
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(`FAIL ${e.stack ?? e}`);
  if (problems.length) console.error(`the browser reported:\n  ${problems.join('\n  ')}`);
  process.exit(1);
});
