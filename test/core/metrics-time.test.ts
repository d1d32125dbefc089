/**
 * The Metrics API's time rules: SparkPost's own rounding example (04:22–06:37 at each precision),
 * dates read in a time zone, bucket boundaries across a DST change, a half-hour zone, UTC weeks
 * and months, and the split of a window into whole rollup buckets.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  boundaries,
  ceilTo,
  coarsestFor,
  decompose,
  floorTo,
  formatInstant,
  isTimeZone,
  parseDateTime,
} from '../../src/core/metrics/time.js';

const minute = (iso: string) => Date.parse(iso) / 60_000;
const iso = (m: number) => new Date(m * 60_000).toISOString().slice(0, 16);

test('SparkPost rounding table: 04:22 to 06:37 at 1min, 5min, 15min, hour and day', () => {
  const from = minute('2024-03-05T04:22:00Z');
  const to = minute('2024-03-05T06:37:00Z');
  const rounded = (p: '1min' | '5min' | '15min' | 'hour' | 'day') => [
    iso(floorTo(p, from, 'UTC')),
    iso(ceilTo(p, to, 'UTC') - 1),
  ];
  // The table's upper bounds are the last minute included (06:36:59 is inside 06:36).
  assert.deepEqual(rounded('1min'), ['2024-03-05T04:22', '2024-03-05T06:36']);
  assert.deepEqual(rounded('5min'), ['2024-03-05T04:20', '2024-03-05T06:39']);
  assert.deepEqual(rounded('15min'), ['2024-03-05T04:15', '2024-03-05T06:44']);
  assert.deepEqual(rounded('hour'), ['2024-03-05T04:00', '2024-03-05T06:59']);
  assert.deepEqual(rounded('day'), ['2024-03-05T00:00', '2024-03-05T23:59']);
});

test('dates are read in the time zone unless they carry an offset; bad dates are refused', () => {
  assert.equal(parseDateTime('2020-10-04T00:00', 'America/New_York'), Date.parse('2020-10-04T04:00:00Z'));
  assert.equal(parseDateTime('2020-01-04T00:00', 'America/New_York'), Date.parse('2020-01-04T05:00:00Z'));
  assert.equal(parseDateTime('2020-10-04T00:00', 'UTC'), Date.parse('2020-10-04T00:00:00Z'));
  assert.equal(parseDateTime('2020-10-04T00:00:30Z', 'Asia/Tokyo'), Date.parse('2020-10-04T00:00:30Z'));
  assert.equal(parseDateTime('2020-10-04T05:30+05:30', 'UTC'), Date.parse('2020-10-04T00:00:00Z'));
  for (const bad of ['2020-02-30T00:00', '2020-10-04', 'yesterday', '2020-10-04T24:00', '2020-10-04T00:00+5'])
    assert.equal(parseDateTime(bad, 'UTC'), null, bad);
  assert.ok(isTimeZone('Asia/Kolkata'));
  assert.ok(!isTimeZone('Mars/Olympus_Mons'));
});

test('hour buckets follow the wall clock across a DST change; 12hr buckets last 13 hours that day', () => {
  const zone = 'America/New_York';
  // 2023-11-05: clocks go back from 02:00 EDT to 01:00 EST.
  const from = minute('2023-11-05T04:00:00Z'); // 00:00 EDT
  const to = minute('2023-11-06T05:00:00Z'); // 00:00 EST next day
  const halves = boundaries('12hr', from, to, zone).map((m) => formatInstant(m, zone));
  assert.deepEqual(halves, [
    '2023-11-05T00:00:00-04:00',
    '2023-11-05T12:00:00-05:00',
    '2023-11-06T00:00:00-05:00',
  ]);
  const hours = boundaries('hour', from, from + 4 * 60, zone).map((m) => formatInstant(m, zone));
  assert.deepEqual(hours, [
    '2023-11-05T00:00:00-04:00',
    '2023-11-05T01:00:00-04:00',
    '2023-11-05T01:00:00-05:00',
    '2023-11-05T02:00:00-05:00',
    '2023-11-05T03:00:00-05:00',
  ]);
});

test('a half-hour zone puts hour buckets at :30 UTC, which only minute rollups can serve', () => {
  const zone = 'Asia/Kolkata';
  const bounds = boundaries('hour', minute('2024-01-01T00:10:00Z'), minute('2024-01-01T02:00:00Z'), zone);
  assert.deepEqual(bounds.map(iso), [
    '2023-12-31T23:30',
    '2024-01-01T00:30',
    '2024-01-01T01:30',
    '2024-01-01T02:30',
  ]);
  assert.equal(coarsestFor(bounds), 'minute');
  assert.equal(
    coarsestFor(boundaries('hour', minute('2024-01-01T00:10:00Z'), minute('2024-01-01T02:00:00Z'), 'UTC')),
    'hour',
  );
  assert.equal(formatInstant(bounds[0]!, zone), '2024-01-01T05:00:00+05:30');
});

test('week buckets start on Monday and month buckets on the 1st, in UTC', () => {
  const weeks = boundaries('week', minute('2024-02-28T10:00:00Z'), minute('2024-03-12T00:00:00Z'), 'UTC');
  assert.deepEqual(weeks.map(iso), [
    '2024-02-26T00:00',
    '2024-03-04T00:00',
    '2024-03-11T00:00',
    '2024-03-18T00:00',
  ]);
  const months = boundaries('month', minute('2024-01-31T23:00:00Z'), minute('2024-03-01T00:00:00Z'), 'UTC');
  assert.deepEqual(months.map(iso), ['2024-01-01T00:00', '2024-02-01T00:00', '2024-03-01T00:00']);
});

test('a window splits into whole days, then hours, then minutes at the edges', () => {
  const spans = decompose(minute('2024-01-01T22:58:00Z'), minute('2024-01-04T01:02:00Z'));
  const readable = spans.map((s) => `${s.res} ${iso(s.from)}..${iso(s.to)}`).sort();
  assert.deepEqual(readable, [
    'day 2024-01-02T00:00..2024-01-04T00:00',
    'hour 2024-01-01T23:00..2024-01-02T00:00',
    'hour 2024-01-04T00:00..2024-01-04T01:00',
    'minute 2024-01-01T22:58..2024-01-01T23:00',
    'minute 2024-01-04T01:00..2024-01-04T01:02',
  ]);
  // Every minute of the window is in exactly one span.
  const covered = spans.reduce((n, s) => n + (s.to - s.from), 0);
  assert.equal(covered, minute('2024-01-04T01:02:00Z') - minute('2024-01-01T22:58:00Z'));
  assert.deepEqual(
    decompose(minute('2024-01-01T10:05:00Z'), minute('2024-01-01T10:07:00Z')).map((s) => s.res),
    ['minute'],
  );
});
