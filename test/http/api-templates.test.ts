/**
 * Specifies /api/v1/templates against the real `sluice serve` binary with SparkPost's documented
 * requests and answers (templates.apib): create (draft, or published), retrieve a version, update
 * the draft, publish it, update the published version, preview with substitution data, list,
 * delete; a syntax error is the documented 422 (code 3000, part, line); RFC 822 templates; and
 * transmissions that name a template (content.template_id, use_draft_template), with the
 * template's options applied, the template_id in the events, and a recipient whose data breaks
 * the template reported as generation_failure while the others are delivered.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { type ApiCall, apiClient, type Json } from '../harness/api-client.js';
import { createKey } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sink: Sink;
let sluice: SluiceProcess;
let api: ApiCall;

before(async () => {
  sink = await startSink();
  sluice = await startSluice({ overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}` } });
  const key = await createKey(sluice.dataDir, {
    label: 'templates',
    grants: ['templates/modify', 'templates/view', 'transmissions/modify', 'message_events/view'],
  });
  api = apiClient(sluice.httpPort, key.key);
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
});

const events = async (query: string): Promise<Json[]> =>
  (await api('GET', `/api/v1/events/message?${query}`)).body.results;

/** templates.apib, "Create a Template": the request body as documented. */
const summerSale = {
  id: 'summer_sale',
  name: 'Summer Sale!',
  published: true,
  description: 'Template for a Summer Sale!',
  shared_with_subaccounts: false,
  options: { open_tracking: false, click_tracking: true },
  content: {
    from: { email: 'marketing@bounces.company.example', name: 'Example Company Marketing' },
    subject: 'Summer deals for {{name}}',
    reply_to: 'Summer deals <summer_deals@company.example>',
    text: 'Check out these deals {{name}}!',
    html: '<b>Check out these deals {{name}}!</b>',
    headers: { 'X-Example-Header': 'Summer2014' },
  },
};

describe('templates, as SparkPost documents them', () => {
  test('create (published), retrieve, update the draft, publish, update the published version', async () => {
    const created = await api('POST', '/api/v1/templates', summerSale);
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.deepEqual(created.body, { results: { id: 'summer_sale' } });

    const got = await api('GET', '/api/v1/templates/summer_sale');
    assert.equal(got.status, 200);
    const t = got.body.results;
    assert.equal(t.id, 'summer_sale');
    assert.equal(t.name, 'Summer Sale!');
    assert.equal(t.description, 'Template for a Summer Sale!');
    assert.equal(t.published, true);
    assert.equal(t.has_published, true);
    assert.equal(t.has_draft, false);
    assert.equal(t.shared_with_subaccounts, false);
    assert.match(t.last_update_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
    assert.deepEqual(t.options, { open_tracking: false, click_tracking: true });
    assert.deepEqual(t.content, summerSale.content);
    assert.equal((await api('GET', '/api/v1/templates/summer_sale?draft=true')).status, 404);

    // "Update a Draft": the documented body. With no draft yet, the draft starts from the published version.
    const update = {
      options: { open_tracking: true },
      name: 'A new name!',
      content: {
        from: { email: 'marketing@bounces.company.example', name: 'Example Company Marketing' },
        subject: 'Updated Summer deals for {{name}}',
        reply_to: 'Summer deals <summer_deals@company.example>',
        text: 'Updated: Check out these deals {{name}}!',
        html: '<b>Updated: Check out these deals {{name}}!</b>',
      },
    };
    assert.equal((await api('PUT', '/api/v1/templates/summer_sale', update)).status, 200);
    const draft = (await api('GET', '/api/v1/templates/summer_sale?draft=true')).body.results;
    assert.equal(draft.published, false);
    assert.equal(draft.has_draft, true);
    assert.equal(draft.name, 'A new name!');
    assert.equal(draft.content.subject, 'Updated Summer deals for {{name}}');
    const published = (await api('GET', '/api/v1/templates/summer_sale?draft=false')).body.results;
    assert.equal(
      published.content.subject,
      'Summer deals for {{name}}',
      'the published version is untouched',
    );
    assert.equal(
      (await api('GET', '/api/v1/templates/summer_sale')).body.results.published,
      false,
      'without ?draft, the most recently changed version',
    );

    // "Update a Published Template" then "Publish a Draft".
    const direct = await api('PUT', '/api/v1/templates/summer_sale?update_published=true', {
      description: 'changed in place',
    });
    assert.equal(direct.status, 200);
    assert.equal(
      (await api('GET', '/api/v1/templates/summer_sale?draft=false')).body.results.description,
      'changed in place',
    );
    assert.equal((await api('PUT', '/api/v1/templates/summer_sale', { published: true })).status, 200);
    const after = (await api('GET', '/api/v1/templates/summer_sale')).body.results;
    assert.equal(after.published, true);
    assert.equal(after.has_draft, false);
    assert.equal(after.content.subject, 'Updated Summer deals for {{name}}');
  });

  test('preview renders a version with substitution data', async () => {
    // The documented request; the answer has the documented fields, rendered.
    const preview = await api('POST', '/api/v1/templates/summer_sale/preview?draft=false', {
      substitution_data: { name: 'Natalie', age: 35, member: true },
    });
    assert.equal(preview.status, 200, JSON.stringify(preview.body));
    assert.deepEqual(preview.body.results, {
      from: { email: 'marketing@bounces.company.example', name: 'Example Company Marketing' },
      subject: 'Updated Summer deals for Natalie',
      reply_to: 'Summer deals <summer_deals@company.example>',
      text: 'Updated: Check out these deals Natalie!',
      html: '<b>Updated: Check out these deals Natalie!</b>',
    });
    await api('POST', '/api/v1/templates', {
      id: 'cart',
      content: {
        from: 'shop@shop.example',
        subject: 'Your cart',
        html: '{{if age > 30}}older{{end}}',
      },
    });
    const broken = await api('POST', '/api/v1/templates/cart/preview?draft=true', { substitution_data: {} });
    assert.equal(broken.status, 422);
    assert.equal(broken.body.errors[0].code, '3000');
    assert.equal(broken.body.errors[0].part, 'html');
    assert.match(broken.body.errors[0].description, /attempt to compare nil with number/);
  });

  test('a syntax error is refused with code 3000, the part and the line', async () => {
    const answer = await api('POST', '/api/v1/templates', {
      id: 'broken',
      content: { from: 'a@b.example', subject: 's', text: 'line 1\nline 2\nline 3\n{{if age >}}\n{{end}}' },
    });
    assert.equal(answer.status, 422);
    const [error] = answer.body.errors;
    assert.equal(error.message, 'substitution language syntax error in template content');
    assert.equal(error.code, '3000');
    assert.equal(error.part, 'text');
    assert.equal(error.line, 4);
    assert.match(error.description, /^Error while compiling part text: line 4: syntax error/);
    assert.equal((await api('GET', '/api/v1/templates/broken')).status, 404, 'nothing was stored');
  });

  test('list, RFC 822 templates, subaccounts refused by name, ids taken, delete', async () => {
    const rfc822 = await api('POST', '/api/v1/templates', {
      id: 'another_summer_sale',
      name: 'Summer Sale!',
      published: true,
      options: { open_tracking: false, click_tracking: true },
      content: {
        email_rfc822:
          'Content-Type: text/plain\nFrom: Example Company Marketing <marketing@bounces.company.example>\nReply-To:Summer deals <summer_deals@company.example>\nX-Example-Header: Summer2014\nSubject: Summer deals for {{name}}\n\nCheck out these deals {{name}}!',
      },
    });
    assert.deepEqual(rfc822.body, { results: { id: 'another_summer_sale' } });
    const preview = await api('POST', '/api/v1/templates/another_summer_sale/preview', {
      substitution_data: { name: 'Bo' },
    });
    assert.match(preview.body.results.email_rfc822, /Subject: Summer deals for Bo\r\n/);
    assert.match(preview.body.results.email_rfc822, /Check out these deals Bo!$/);

    const list = (await api('GET', '/api/v1/templates')).body.results;
    assert.deepEqual(
      list.map((t: Json) => t.id),
      ['another_summer_sale', 'cart', 'summer_sale'],
    );
    assert.equal(list.find((t: Json) => t.id === 'cart').published, false);
    assert.deepEqual(
      (await api('GET', '/api/v1/templates?draft=true')).body.results.map((t: Json) => t.id),
      ['cart'],
    );
    assert.deepEqual((await api('GET', '/api/v1/templates?shared_with_subaccounts=true')).body.results, []);

    const named = await api('POST', '/api/v1/templates', {
      name: 'Summer Sale!',
      content: { from: 'a@b.example', subject: 's', text: 't' },
    });
    assert.equal(named.status, 200);
    assert.equal(named.body.results.id, 'summer-sale', 'an id made from the name');

    const taken = await api('POST', '/api/v1/templates', { ...summerSale, published: false });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.errors[0].code, '1602');
    const shared = await api('POST', '/api/v1/templates', {
      ...summerSale,
      id: 'x',
      shared_with_subaccounts: true,
    });
    assert.equal(shared.status, 422);
    assert.match(shared.body.errors[0].description, /^shared_with_subaccounts: .*no subaccounts/);
    const sub = await api('POST', '/api/v1/templates', { ...summerSale, id: 'y', subaccount_id: 1 });
    assert.equal(sub.status, 422);
    assert.match(sub.body.errors[0].description, /subaccount_id/);
    const neither = await api('POST', '/api/v1/templates', { content: summerSale.content });
    assert.equal(neither.status, 422);
    assert.match(neither.body.errors[0].description, /^id: id or name is required/);

    assert.deepEqual((await api('DELETE', '/api/v1/templates/summer-sale')).body, {});
    const gone = await api('GET', '/api/v1/templates/summer-sale');
    assert.equal(gone.status, 404);
    assert.deepEqual(gone.body.errors[0], {
      message: 'resource not found',
      code: '1600',
      description: "template 'summer-sale' does not exist",
    });
  });
});

describe('transmissions from a stored template', () => {
  test('the published version by default, the draft with use_draft_template; template options and events', async () => {
    await api('POST', '/api/v1/templates', {
      id: 'black_friday',
      published: true,
      options: { transactional: true },
      content: {
        from: { email: 'deals@shop.example', name: '{{sender}}' },
        subject: 'Published for {{first_name}} {{last_name}}',
        html: '<html><head><style>b { color: red }</style></head><body><b>{{discount}} off</b></body></html>',
      },
    });
    await api('PUT', '/api/v1/templates/black_friday', {
      content: {
        from: 'deals@shop.example',
        subject: 'Draft for {{first_name}}',
        text: 'draft {{discount}}',
      },
    });
    const before = sink.messages.length;
    // transmissions.apib "Send a Template", with the draft; then the published version, CSS inlined.
    const drafted = await api('POST', '/api/v1/transmissions', {
      content: { template_id: 'black_friday', use_draft_template: true },
      substitution_data: { discount: '25%' },
      recipients: [
        {
          address: { email: 'wilma@flintstone.example', name: 'Wilma Flintstone' },
          substitution_data: { first_name: 'Wilma', last_name: 'Flintstone' },
        },
      ],
    });
    assert.equal(drafted.status, 200, JSON.stringify(drafted.body));
    const sent = await api('POST', '/api/v1/transmissions', {
      campaign_id: 'bf',
      options: { inline_css: true },
      content: { template_id: 'black_friday' },
      substitution_data: { discount: '25%', sender: 'The Shop' },
      recipients: [
        { address: 'fred@flintstone.example', substitution_data: { first_name: 'Fred', last_name: 'F' } },
      ],
    });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    await waitFor(() => sink.messages.length >= before + 2, 20_000, 'two deliveries');
    const byRcpt = new Map(sink.messages.slice(before).map((m) => [m.rcptTo[0], m]));
    const wilma = await simpleParser(byRcpt.get('wilma@flintstone.example')!.data);
    assert.equal(wilma.subject, 'Draft for Wilma');
    assert.equal(wilma.text?.trim(), 'draft 25%');
    const fred = await simpleParser(byRcpt.get('fred@flintstone.example')!.data);
    assert.equal(fred.subject, 'Published for Fred F');
    assert.equal((fred.from as { text: string }).text, '"The Shop" <deals@shop.example>');
    assert.match(String(fred.html), /<b style="color: red;">25% off<\/b>/, 'inline_css applied');

    const [injection] = await events(`events=injection&recipients=fred@flintstone.example`);
    assert.equal(injection.template_id, 'black_friday');
    assert.equal(injection.template_version, '1');
    assert.equal(injection.transactional, '1', "the template's options apply");
    const used = (await api('GET', '/api/v1/templates/black_friday?draft=false')).body.results;
    assert.match(used.last_use, /\+00:00$/);
  });

  test('a missing template, a missing draft, and data that breaks the template', async () => {
    const missing = await api('POST', '/api/v1/transmissions', {
      content: { template_id: 'christmas_offer' },
      recipients: [{ address: 'a@b.example' }],
    });
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body.errors[0], {
      message: 'resource not found',
      code: '1600',
      description: "template 'christmas_offer' does not exist",
    });
    const noDraft = await api('POST', '/api/v1/transmissions', {
      content: { template_id: 'another_summer_sale', use_draft_template: true },
      recipients: [{ address: 'a@b.example' }],
    });
    assert.equal(noDraft.status, 422);
    assert.match(noDraft.body.errors[0].description, /^content\.use_draft_template: .*has no draft/);
    const mixed = await api('POST', '/api/v1/transmissions', {
      content: { template_id: 'cart', html: '<p>x</p>' },
      recipients: [{ address: 'a@b.example' }],
    });
    assert.equal(mixed.status, 422);
    assert.match(mixed.body.errors[0].description, /^content\.html: cannot be combined with template_id/);

    const before = sink.messages.length;
    const answer = await api('POST', '/api/v1/transmissions?num_rcpt_errors=5', {
      campaign_id: 'ages',
      content: { template_id: 'cart', use_draft_template: true },
      recipients: [
        { address: 'old@ages.example', substitution_data: { age: 40 } },
        { address: 'unknown@ages.example', substitution_data: { city: 'x' } },
      ],
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.results.total_accepted_recipients, 1);
    assert.equal(answer.body.results.total_rejected_recipients, 1);
    assert.match(
      answer.body.results.rcpt_to_errors[0].description,
      /unknown@ages\.example: .*compare nil with number/,
    );
    await waitFor(() => sink.messages.length > before, 20_000, 'the delivery');
    assert.deepEqual(
      sink.messages.slice(before).map((m) => m.rcptTo[0]),
      ['old@ages.example'],
    );
    const [failure] = await events('events=generation_failure&campaigns=ages');
    assert.equal(failure.rcpt_to, 'unknown@ages.example');
    assert.equal(failure.error_code, '554');
    assert.equal(
      failure.raw_reason,
      '554 5.3.3 [internal] Error while rendering part html: line 1: attempt to compare nil with number',
    );
    assert.deepEqual(failure.rcpt_subs, { city: 'x' });
    assert.equal(failure.template_id, 'cart');
    assert.equal(failure.transmission_id, answer.body.results.id);
  });
});
