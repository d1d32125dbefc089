/**
 * Specifies the operator console as a person uses it, in a real headless chromium against a real
 * `sluice serve` holding known data (fixture.ts): signing in with a console key; the overview's
 * queue depth and the queue by destination (host set, state, counts, last reply) equal to what
 * `sluice queue` reports, refreshed without a reload; a read-only key sees no actions; hold,
 * release and bounce done on the page show in `sluice queue`; the message view's decoded headers
 * and event timeline; trace by recipient and campaign; a suppression added and removed on the
 * page shows in `sluice suppressions list`; a key created on the page is shown once, works, and
 * is revoked; the webhook's backlog, refused last batch and failures; the metrics-based views
 * say the Metrics API is missing; the queue view fits a phone; and no page broke its CSP or
 * threw. A screenshot of each view goes to test-output/console (the path is in the test log).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { type Browser, screenshot, startBrowser } from '../harness/browser.js';
import { searchEvents, swaks } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { DOWN_REPLY, DOWN1_SUBJECT, eventually, type Fixture, startFixture } from './fixture.js';

let fixture: Fixture;
let browser: Browser;
let page: Page;

interface Listed {
  id: string;
  held: boolean;
}

before(async () => {
  fixture = await startFixture();
  browser = await startBrowser();
  page = await browser.newPage();
  page.on('dialog', (dialog) => dialog.accept());
});

after(async () => {
  await browser?.close();
  await fixture?.stop();
});

const go = (hash: string) => page.goto(`${fixture.base}/console/#/${hash}`);
const text = async (selector: string) => ((await page.locator(selector).first().textContent()) ?? '').trim();
const until = (check: () => Promise<boolean>, what: string) => waitFor(check, 20_000, what);

async function shot(t: { diagnostic(message: string): void }, name: string): Promise<void> {
  t.diagnostic(`screenshot: ${await screenshot(page, name)}`);
}

async function signIn(key: string): Promise<void> {
  await page.goto(`${fixture.base}/console/`);
  await page.fill('#api-key', key);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-test=signed-in-as]');
}

async function signOut(): Promise<void> {
  await page.click('header button:has-text("Sign out")');
  await page.waitForSelector('#api-key');
}

const listed = async () => (await fixture.cli('queue', 'list')) as Listed[];

test('signing in: a wrong key and a key without a console grant are refused, a console/view key gets in', async (t) => {
  await page.goto(`${fixture.base}/console/`);
  await page.waitForSelector('#api-key');
  await shot(t, '01-sign-in');
  await page.fill('#api-key', 'f'.repeat(40));
  await page.click('button[type=submit]');
  await page.waitForSelector('.problem');
  assert.match(await text('.problem'), /not a valid API key/);
  await page.fill('#api-key', fixture.keys.none);
  await page.click('button[type=submit]');
  await until(async () => /console\/view/.test(await text('.problem')), 'the no-grant refusal');
  await signIn(fixture.keys.view);
  assert.match(await text('[data-test=signed-in-as]'), /watcher \(read only\)/);
});

test('the overview shows the queue depth sluice queue reports, and says the delivery counts need the Metrics API', async (t) => {
  await go('overview');
  const queued = (await listed()).length;
  assert.equal(queued, 6, 'three to down.example, three to slow.example');
  await until(async () => (await text('[data-depth=total]')) === String(queued), 'the depth total');
  await page.waitForSelector('[data-test=metrics-missing]');
  assert.match(await text('[data-test=metrics-missing]'), /Metrics API/);
  await shot(t, '02-overview');
});

test('the queue by destination: host set, state, counts and last reply as the queue has them', async (t) => {
  await go('queue');
  await page.waitForSelector('tr[data-domain="down.example"]');
  const summary = (await fixture.cli('queue', 'summary')) as Array<{
    domain: string;
    messages: number;
    recipients: number;
  }>;
  for (const domain of ['down.example', 'slow.example']) {
    const row = summary.find((d) => d.domain === domain)!;
    const cells = `tr[data-domain="${domain}"]`;
    assert.equal(await text(`${cells} [data-col=messages]`), String(row.messages), domain);
    assert.equal(await text(`${cells} [data-col=recipients]`), String(row.recipients), domain);
  }
  assert.equal(await text('tr[data-domain="down.example"] [data-col=messages]'), '3');
  assert.equal(await text('tr[data-domain="down.example"] [data-col=recipients]'), '4');
  assert.equal(await text('tr[data-domain="down.example"] .badge'), 'suspended');
  assert.match(
    await text('tr[data-domain="down.example"] [data-col=last-reply]'),
    new RegExp(`451 ${DOWN_REPLY}`),
  );
  assert.match(
    await text('tr[data-domain="down.example"]'),
    new RegExp(`127\\.0\\.0\\.1:${fixture.sink.port}`),
  );
  assert.equal(await text('tr[data-domain="slow.example"] .badge'), 'throttled');
  assert.equal(await page.locator('tr[data-domain="ok.example"]').count(), 0, 'delivered mail is not queued');
  await shot(t, '03-queue');
});

test('the queue view refreshes by itself: a new deferred message shows up without a reload', async () => {
  await go('queue');
  await page.waitForSelector('tr[data-domain="down.example"]');
  const navigations: string[] = [];
  page.on('framenavigated', (frame) => navigations.push(frame.url()));
  const sent = await swaks({
    port: fixture.sluice.smtpPort,
    from: 'app@example.com',
    to: ['e@down.example'],
    data: Buffer.from('From: app@example.com\r\nTo: e@down.example\r\nSubject: later\r\n\r\nhi\r\n'),
  });
  assert.ok(sent.queuedId, sent.stdout);
  fixture.ids.down4 = sent.queuedId;
  await until(
    async () => (await text('tr[data-domain="down.example"] [data-col=messages]')) === '4',
    'the new message in the live view',
  );
  assert.deepEqual(navigations, [], 'no reload');
});

test('a read-only key sees the messages of a destination but no actions, and the server refuses them', async (t) => {
  await go('queue/down.example');
  await page.waitForSelector(`tr[data-message="${fixture.ids.down1}"]`);
  assert.equal(await page.locator('tr[data-message]').count(), 4);
  assert.equal(await page.locator('button[data-action]').count(), 0, 'no action buttons');
  await shot(t, '04-destination-read-only');
  const status = await page.evaluate(async () => {
    const session = (await (await fetch('/console/api/session')).json()) as { csrf: string };
    const response = await fetch('/console/api/queue/actions', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-sluice-csrf': session.csrf },
      body: JSON.stringify({ operation: 'hold', domain: 'down.example' }),
    });
    return response.status;
  });
  assert.equal(status, 403);
  assert.equal((await listed()).filter((m) => m.held).length, 0);
});

test('hold and release of chosen messages and of a whole destination, as sluice queue sees them; retry now', async (t) => {
  await signOut();
  await signIn(fixture.keys.manage);
  await go('queue/down.example');
  const row = `tr[data-message="${fixture.ids.down1}"]`;
  await page.waitForSelector(row);
  await page.check(`${row} input[type=checkbox]`);
  await page.click('fieldset:has(legend:has-text("Chosen")) button[data-action=hold]');
  await page.waitForSelector('[data-test=action-outcome]:has-text("1 message(s) held")');
  const held = await listed();
  assert.deepEqual(
    held.filter((m) => m.held).map((m) => m.id),
    [fixture.ids.down1],
  );
  await until(async () => /held/.test(await text(`${row} [data-col=state]`)), 'the held badge');
  await shot(t, '05-destination-held');
  await page.check(`${row} input[type=checkbox]`);
  await page.click('fieldset:has(legend:has-text("Chosen")) button[data-action=release]');
  await page.waitForSelector('[data-test=action-outcome]:has-text("1 message(s) released")');
  assert.equal((await listed()).filter((m) => m.held).length, 0);

  await page.click('fieldset:has(legend:has-text("Whole destination")) button[data-action=hold]');
  await page.waitForSelector('[data-test=action-outcome]:has-text("4 message(s) held")');
  const down = new Set([fixture.ids.down1, fixture.ids.down2, fixture.ids.down3, fixture.ids.down4]);
  assert.deepEqual(
    (await listed())
      .filter((m) => m.held)
      .map((m) => m.id)
      .sort(),
    [...down].sort(),
  );
  await go('queue');
  await until(async () => (await text('tr[data-domain="down.example"] .badge')) === 'held', 'state held');
  await go('queue/down.example');
  await page.waitForSelector(row);
  await page.click('fieldset:has(legend:has-text("Whole destination")) button[data-action=release]');
  await page.waitForSelector('[data-test=action-outcome]:has-text("4 message(s) released")');
  assert.equal((await listed()).filter((m) => m.held).length, 0);

  // Retry now: each deferred job of the destination is attempted again at once (and deferred again).
  await page.click('fieldset:has(legend:has-text("Whole destination")) button[data-action=flush]');
  await page.waitForSelector('[data-test=action-outcome]:has-text("4 job(s) made due now")');
  await eventually(
    async () =>
      ['a', 'b', 'c', 'd', 'e'].every((local) => fixture.sink.offers.get(`${local}@down.example`) === 2),
    'a second offer of every down.example recipient',
  );
  const log = fixture.sluice.output();
  assert.match(log, /"console_key_id":"[0-9a-f]{16}","operation":"hold"/, 'the log says who held');
});

test('the message view shows the decoded headers and the event timeline', async (t) => {
  await go(`message/${fixture.ids.down1}`);
  await page.waitForSelector('[data-test=headers]');
  assert.match(await text('[data-test=headers]'), new RegExp(`Subject\\s*${DOWN1_SUBJECT}`));
  assert.equal(await text('[data-test=held]'), 'no');
  await page.waitForSelector('[data-event-type=delay]');
  const types = await page
    .locator('[data-event-type]')
    .evaluateAll((items) => items.map((item) => item.getAttribute('data-event-type')));
  assert.deepEqual([...new Set(types)], ['injection', 'delay'], 'injection first, then the delays');
  assert.match(await text('[data-event-type=delay]'), new RegExp(DOWN_REPLY));
  await shot(t, '06-message');
});

test('trace by recipient and by campaign', async (t) => {
  await go('trace');
  await page.selectOption('#trace-field', 'recipient');
  await page.fill('input[name=trace-value]', 'a@down.example');
  await page.click('form.inline button[type=submit]');
  await page.waitForSelector(`[data-trace-message="${fixture.ids.down1}"] [data-event-type=delay]`);
  const stored = await searchEvents(fixture.sluice.dataDir, { recipient: 'a@down.example' });
  assert.equal(
    await page.locator('[data-event-type]').count(),
    stored.length,
    'every event of a@down.example',
  );
  await shot(t, '07-trace-recipient');
  await go('trace?campaign=spring');
  await page.waitForSelector(`[data-trace-message="${fixture.ids.down2}"]`);
  assert.equal(await page.locator('[data-trace-message]').count(), 1, 'only the campaign message');
  await shot(t, '08-trace-campaign');
});

test('bounce from the message view: the message leaves the queue with a class 25 bounce', async () => {
  await go(`message/${fixture.ids.down3}`);
  await page.waitForSelector('button[data-action=bounce]');
  await page.click('button[data-action=bounce]');
  await page.waitForSelector('[data-test=action-outcome]:has-text("1 message(s) bounced")');
  assert.ok(!(await listed()).some((m) => m.id === fixture.ids.down3));
  const bounces = await eventually(async () => {
    const events = await searchEvents(fixture.sluice.dataDir, {
      messageId: fixture.ids.down3,
      type: 'bounce',
    });
    return events.length > 0 ? events : null;
  }, 'the bounce event');
  assert.equal(bounces![0]!.bounce_class, '25');
});

test('a suppression added and removed on the page, as sluice suppressions list sees it', async (t) => {
  await go('suppressions');
  await page.fill('#suppression-recipient', 'Blocked@Example.org');
  await page.selectOption('select[aria-label=type]', 'non_transactional');
  await page.fill('input[aria-label=description]', 'asked by phone');
  await page.click('form.add button[type=submit]');
  await page.waitForSelector('tr[data-recipient="blocked@example.org"]');
  const listedNow = (await fixture.cli('suppressions', 'list')) as {
    records: Array<{ recipient: string; type: string; description: string }>;
  };
  assert.deepEqual(
    listedNow.records.map((r) => [r.recipient, r.type, r.description]),
    [['blocked@example.org', 'non_transactional', 'asked by phone']],
  );
  await shot(t, '09-suppressions');
  await page.click('tr[data-recipient="blocked@example.org"] button:has-text("Remove")');
  await until(async () => (await page.locator('tr[data-recipient]').count()) === 0, 'the entry gone');
  const after = (await fixture.cli('suppressions', 'list')) as { records: unknown[] };
  assert.equal(after.records.length, 0);
});

test('a key created on the page is shown once, works, and is revoked on the page', async (t) => {
  await go('keys');
  await page.fill('#key-label', 'made in the console');
  await page.check('input[type=checkbox][value="console/view"]');
  await page.click('form.create-key button[type=submit]');
  await page.waitForSelector('[data-test=new-key-secret]');
  const secret = await text('[data-test=new-key-secret]');
  assert.match(secret, /^[0-9a-f]{40}$/);
  await shot(t, '10-keys-created');
  const keys = (await fixture.cli('keys', 'list')) as Array<{ id: string; label: string; grants: string[] }>;
  const made = keys.find((k) => k.label === 'made in the console');
  assert.deepEqual(made?.grants, ['console/view']);
  const signIn = await fetch(`${fixture.base}/console/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: fixture.base },
    body: JSON.stringify({ key: secret }),
  });
  assert.equal(signIn.status, 200, 'the new key signs in');
  await go('queue');
  await go('keys');
  await page.waitForSelector(`tr[data-key="${made!.id}"]`);
  assert.equal(await page.locator('[data-test=new-key-secret]').count(), 0, 'shown once');
  assert.doesNotMatch(await page.content(), new RegExp(secret));
  await page.click(`tr[data-key="${made!.id}"] button:has-text("Revoke")`);
  await until(async () => (await page.locator(`tr[data-key="${made!.id}"]`).count()) === 0, 'the row gone');
  const left = (await fixture.cli('keys', 'list')) as Array<{ id: string }>;
  assert.ok(!left.some((k) => k.id === made!.id));
});

test('the webhook shows its backlog, its refused last batch and its failures in a row', async (t) => {
  await eventually(async () => fixture.refusedBatches() >= 1, 'a refused batch');
  await go('webhooks');
  await page.waitForSelector('tr[data-webhook] [data-col=last-batch]:has-text("refused")');
  assert.match(await text('tr[data-webhook] [data-col=last-batch]'), /refused: HTTP 503/);
  const failures = Number(await text('tr[data-webhook] [data-col=failures]'));
  assert.ok(failures >= 1 && failures <= fixture.refusedBatches(), `${failures} failures`);
  assert.ok(Number(await text('tr[data-webhook] [data-col=backlog]')) >= 1, 'a batch waits for its retry');
  await shot(t, '11-webhooks');
});

test('bounces and engagement say they need the Metrics API (their endpoints answer 501)', async (t) => {
  for (const [view, name] of [
    ['bounces', '12-bounces'],
    ['engagement', '13-engagement'],
  ] as const) {
    await go(view);
    await page.waitForSelector('[data-test=metrics-missing]');
    assert.match(await text('[data-test=metrics-missing]'), /Metrics API/);
    await shot(t, name);
    const status = await page.evaluate(async (path) => (await fetch(`/console/api/${path}`)).status, view);
    assert.equal(status, 501);
  }
});

test('on a phone the queue and a destination fit the screen width (their rows become cards)', async (t) => {
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [view, name] of [
    ['queue', '14-phone-queue'],
    ['queue/down.example', '15-phone-destination'],
  ] as const) {
    await go(view);
    await page.waitForSelector('table');
    const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
    assert.ok(overflow <= 0, `${view}: the page is ${overflow} px wider than the screen`);
    await shot(t, name);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('no page broke the Content-Security-Policy or threw', () => {
  // Chromium reports each non-2xx fetch as a console error; those statuses were asserted above.
  const problems = browser.problems.filter((p) => !/Failed to load resource: the server responded/.test(p));
  assert.deepEqual(problems, []);
});
