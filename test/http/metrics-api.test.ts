/**
 * Specifies the Metrics API's doors and bad input against the real `sluice serve` binary: the
 * metrics/view grant; a 422 naming the parameter for a missing, malformed, unknown, oversized or
 * repeated parameter, a metric of another endpoint, one Sluice cannot count (saying why), a
 * filter or path whose data Sluice does not record, a window too long for its precision or older
 * than the minute retention; a 400 with validationErrors for bad query_filters, as SparkPost
 * answers; binary bytes in a filter are a filter that matches nothing; the server keeps
 * answering. With metrics.rollups off every path says so. OpenAPI lists the paths.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type ApiCall, apiClient } from '../harness/api-client.js';
import { createKey } from '../harness/clients.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sluice: SluiceProcess;
let api: ApiCall;

const minute = (ms: number) => new Date(ms).toISOString().slice(0, 16);
const recent = `from=${minute(Date.now() - 3_600_000)}`;
const ok = `${recent}&metrics=count_injected`;

before(async () => {
  sluice = await startSluice({
    overrides: { 'delivery.relayhost': '[127.0.0.1]:9', 'http.rate_limit': 1000 },
  });
  const key = await createKey(sluice.dataDir, { label: 'metrics', grants: ['metrics/view'] });
  api = apiClient(sluice.httpPort, key.key);
});

after(async () => {
  await sluice?.stop();
});

/** Asserts a SparkPost-shaped refusal and returns its description. */
async function refused(path: string, status: number, description: RegExp): Promise<void> {
  const answer = await api('GET', `/api/v1/metrics/${path}`);
  assert.equal(answer.status, status, `${path}: ${JSON.stringify(answer.body)}`);
  const [error] = answer.body.errors;
  assert.match(error.description, description, path);
  assert.equal(typeof error.message, 'string');
}

describe('the Metrics API refuses what it cannot answer, naming it', () => {
  test('the grant is metrics/view', async () => {
    const other = await createKey(sluice.dataDir, { label: 'events', grants: ['message_events/view'] });
    const denied = await apiClient(sluice.httpPort, other.key)('GET', `/api/v1/metrics/deliverability?${ok}`);
    assert.equal(denied.status, 403);
    const none = await apiClient(sluice.httpPort, null)('GET', `/api/v1/metrics/deliverability?${ok}`);
    assert.equal(none.status, 401);
    const allowed = await api('GET', `/api/v1/metrics/deliverability?${ok}`);
    assert.equal(allowed.status, 200);
    assert.deepEqual(allowed.body.results, [{ count_injected: 0 }]);
  });

  test('required, malformed and unknown parameters', async () => {
    await refused('deliverability?metrics=count_injected', 422, /^from is required$/);
    await refused(`deliverability?${recent}`, 422, /^metrics is required$/);
    await refused(
      'deliverability?from=yesterday&metrics=count_injected',
      422,
      /^from: must be a date and time/,
    );
    await refused(`deliverability?${ok}&to=2020-02-30T10:00`, 422, /^to: /);
    await refused(
      `deliverability?${ok}&to=${minute(Date.now() - 7_200_000)}`,
      422,
      /^from: must be before to/,
    );
    await refused(`deliverability?${ok}&campaign=spring`, 422, /campaign/);
    await refused(`deliverability?${ok}&timezone=Mars/Base`, 422, /^timezone: /);
    await refused(`deliverability?${ok}&precision=week`, 422, /^precision: /);
    await refused(`deliverability/domain?${ok}&limit=0`, 422, /^limit: /);
    await refused(`deliverability/domain?${ok}&limit=10001`, 422, /^limit: /);
    await refused(`deliverability/domain?${ok}&order_by=count_raw_clicked`, 422, /^order_by: /);
    await refused(`deliverability?${ok}&domains=`, 422, /^domains: must list at least one value/);
    await refused(`deliverability?${ok}&campaigns=a&campaigns=b`, 422, /^campaigns: /);
    await refused(`deliverability?${ok}&campaigns=${'x'.repeat(12_000)}`, 422, /^campaigns: /);
    await refused(`deliverability?${ok}&subaccounts=main`, 422, /^subaccounts: /);
    await refused(`deliverability/delay-reason?${ok}`, 422, /metrics/);
    await refused(
      `deliverability/bounce-reason?${recent}&metrics=count_bounce&precision=hour`,
      422,
      /precision/,
    );
  });

  test('metrics of another endpoint, and metrics Sluice cannot count, say why', async () => {
    await refused(
      `deliverability?${recent}&metrics=count_initial_rendered`,
      422,
      /not a metric of this endpoint/,
    );
    await refused(`deliverability?${recent}&metrics=count_nope`, 422, /^metrics: count_nope is not a metric/);
    await refused(
      `deliverability?${recent}&metrics=count_injected,count_spam_complaint`,
      422,
      /count_spam_complaint.*feedback-loop/,
    );
    await refused(`deliverability?${recent}&metrics=count_nonprefetched_rendered`, 422, /prefetched/);
    await refused(`deliverability?${recent}&metrics=count_inbox_panel`, 422, /Deliverability Add-On/);
    await refused(
      `deliverability/bounce-reason?${recent}&metrics=count_delivered`,
      422,
      /not a metric of this endpoint/,
    );
    await refused(
      `deliverability/link-name?${recent}&metrics=count_bounce`,
      422,
      /not a metric of this endpoint/,
    );
    const series = await api(
      'GET',
      `/api/v1/metrics/deliverability/time-series?${recent}&metrics=count_initial_rendered`,
    );
    assert.equal(series.status, 200, 'time-series offers the initial renders');
  });

  test('filters and paths whose data Sluice does not record', async () => {
    await refused(`deliverability?${ok}&sending_ips=10.0.0.1`, 422, /^sending_ips: not supported/);
    await refused(`deliverability?${ok}&mailbox_providers=Gmail`, 422, /^mailbox_providers: not supported/);
    await refused(`deliverability?${ok}&subject_campaigns=x`, 422, /^subject_campaigns: not supported/);
    await refused(
      `deliverability/link-name?${recent}&metrics=count_clicked&domains=a.example`,
      422,
      /domains/,
    );
    for (const path of [
      'deliverability/sending-ip',
      'deliverability/mailbox-provider',
      'sending-ips',
      'benchmarks/inbox-rate',
    ])
      await refused(`${path}?${ok}`, 422, /not supported/);
  });

  test('windows: too long for the precision, or older than the minute buckets at a precision asked for', async () => {
    const threeDays = `from=${minute(Date.now() - 3 * 86_400_000)}&metrics=count_injected`;
    await refused(
      `deliverability?${threeDays}&precision=1min`,
      422,
      /^precision: 1min allows a window of at most 1 days/,
    );
    await refused(`deliverability?${threeDays}&precision=15min`, 422, /^precision: 15min allows/);
    const hour = await api('GET', `/api/v1/metrics/deliverability?${threeDays}&precision=hour`);
    assert.equal(hour.status, 200);
    const auto = await api('GET', `/api/v1/metrics/deliverability/time-series?${threeDays}`);
    assert.equal(auto.status, 200, 'without a precision, the finest one that fits (hour)');
    assert.ok(
      auto.body.results.length >= 72 && auto.body.results.length <= 74,
      String(auto.body.results.length),
    );
    const tenDaysAgo = Date.now() - 10 * 86_400_000;
    const old = `from=${minute(tenDaysAgo)}&to=${minute(tenDaysAgo + 3_600_000)}&metrics=count_injected`;
    await refused(
      `deliverability/time-series?${old}&precision=5min`,
      422,
      /^from: minute buckets are kept until/,
    );
    await refused(`deliverability?${old}&precision=1min`, 422, /^from: minute buckets are kept until/);
    const edges = `from=${minute(tenDaysAgo)}&to=${minute(tenDaysAgo + 7_200_000)}`;
    const reasons = await api('GET', `/api/v1/metrics/deliverability/delay-reason?${edges}`);
    assert.equal(reasons.status, 200, 'without a precision parameter, old edges are rounded to the hour');
    const unasked = await api('GET', `/api/v1/metrics/deliverability?${old}`);
    assert.equal(unasked.status, 200, 'without a precision, hour is chosen where minutes are gone');
  });

  test('query_filters: not JSON or off its schema is a 400 listing the violations; a simple filter beside it is a 422', async () => {
    const bad = async (value: string, problem: RegExp) => {
      const answer = await api(
        'GET',
        `/api/v1/metrics/deliverability?${ok}&query_filters=${encodeURIComponent(value)}`,
      );
      assert.equal(answer.status, 400, JSON.stringify(answer.body));
      assert.ok(
        answer.body.errors[0].validationErrors.some((v: string) => problem.test(v)),
        JSON.stringify(answer.body),
      );
    };
    await bad('{"groupings": [', /not JSON/);
    await bad('{"groupings":[{"AND":{"domains":{"like":["ab"]}}}]}', /query_filters\.groupings\.0/);
    await bad('{"groupings":[{"XOR":{}}]}', /query_filters\.groupings\.0/);
    await bad('{"groups":[]}', /query_filters/);
    await bad('\u0000\u00ff', /not JSON/);
    const unsupported = encodeURIComponent('{"groupings":[{"AND":{"sending_ips":{"eq":["10.0.0.1"]}}}]}');
    await refused(
      `deliverability?${ok}&query_filters=${unsupported}`,
      422,
      /^query_filters\.sending_ips: not supported/,
    );
    const both = encodeURIComponent('{"groupings":[]}');
    await refused(
      `deliverability?${ok}&campaigns=a&query_filters=${both}`,
      422,
      /^campaigns: cannot be combined with query_filters/,
    );
    const schema = await api('GET', '/api/v1/metrics/deliverability/query-filters-schema');
    assert.equal(schema.status, 200);
    assert.match(schema.body.results.$schema, /draft-07/);
    assert.deepEqual(schema.body.results.required, ['groupings']);
  });

  test('binary bytes in a filter match nothing; the server keeps answering', async () => {
    const answer = await api('GET', `/api/v1/metrics/deliverability/campaign?${ok}&campaigns=%00%FF%C3%28`);
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.results, []);
    const raw = await fetch(`http://127.0.0.1:${sluice.httpPort}/api/v1/metrics/deliverability?%FF=%FE`, {
      headers: { authorization: 'x'.repeat(40) },
    });
    assert.equal(raw.status, 401);
    await refused(`deliverability?${ok}&%FF=%FE`, 422, /Unrecognized key/);
    const still = await api('GET', `/api/v1/metrics/deliverability?${ok}`);
    assert.equal(still.status, 200);
  });

  test('the OpenAPI document lists the metrics paths with their parameters', async () => {
    const doc = await apiClient(sluice.httpPort, null)('GET', '/api/v1/openapi.json');
    const series = doc.body.paths['/api/v1/metrics/deliverability/time-series'].get;
    const names = series.parameters.map((p: { name: string }) => p.name);
    for (const name of ['from', 'to', 'precision', 'timezone', 'metrics', 'query_filters', 'delimiter'])
      assert.ok(names.includes(name), name);
    assert.ok(doc.body.paths['/api/v1/metrics/deliverability/link-name']);
  });
});

test('metrics.rollups false: every metrics path answers a 422 naming the option, once the key is checked', async () => {
  const off = await startSluice({
    overrides: { 'metrics.rollups': false, 'delivery.relayhost': '[127.0.0.1]:9' },
  });
  try {
    const key = await createKey(off.dataDir, { label: 'off', grants: ['metrics/view'] });
    const call = apiClient(off.httpPort, key.key);
    for (const path of [
      `deliverability?${ok}`,
      `deliverability/time-series?${ok}`,
      `deliverability/delay-reason?${recent}`,
      `campaigns?${recent}`,
      '',
    ]) {
      const answer = await call('GET', `/api/v1/metrics/${path}`);
      assert.equal(answer.status, 422, path);
      assert.match(answer.body.errors[0].description, /metrics\.rollups is false/);
    }
    // The key is checked before anything else, rollups or not: no key, 401; a key without the grant, 403.
    assert.equal(
      (await apiClient(off.httpPort, null)('GET', `/api/v1/metrics/deliverability?${ok}`)).status,
      401,
    );
    const other = await createKey(off.dataDir, { label: 'other', grants: ['message_events/view'] });
    assert.equal(
      (await apiClient(off.httpPort, other.key)('GET', `/api/v1/metrics/campaigns?${recent}`)).status,
      403,
    );
  } finally {
    await off.stop();
  }
});
