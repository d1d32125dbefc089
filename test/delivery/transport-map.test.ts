/**
 * Specifies the transport map (Postfix transport(5) syntax) and routing precedence: a transport
 * map entry wins over the relayhost, which wins over the recipient domain's MX; `domain` matches
 * itself only, `.domain` its subdomains, `*` everything else; `[host]` means no MX lookup and
 * `host` an MX lookup of host; `error:` bounces and `retry:` defers; a bad line is refused with
 * the file and line number. Table-driven, DNS answers fixed by staticResolver.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { staticResolver } from '../../src/delivery/resolver.js';
import { parseRelayHost, type Route, Router } from '../../src/delivery/route.js';
import { TransportMap, TransportMapError } from '../../src/delivery/transport-map.js';

const MAP = `
# comment lines and blank lines are ignored

example.com      smtp:[10.0.0.5]:25
.example.com     smtp:[10.0.0.6]:2525
mx-routed.test   smtp:relay.test:587
Upper.TEST       relay:[10.0.0.7]
own-mx.test      smtp:
gone.test        error:5.1.2 this domain no longer takes mail
later.test       retry:4.3.2 maintenance window
    until 06:00
*                smtp:[10.0.0.9]:26
`;

const dns = staticResolver({
  mx: {
    'relay.test': [{ exchange: 'mx.relay.test', priority: 10 }],
    'own-mx.test': [
      { exchange: 'mx2.own-mx.test', priority: 20 },
      { exchange: 'mx1.own-mx.test', priority: 10 },
    ],
    'plain.test': [{ exchange: 'mx.plain.test', priority: 10 }],
  },
  a: {
    'mx.relay.test': ['192.0.2.50'],
    'mx1.own-mx.test': ['192.0.2.61'],
    'mx2.own-mx.test': ['192.0.2.62'],
    'mx.plain.test': ['192.0.2.70'],
    'smarthost.test': ['192.0.2.80'],
  },
});

function describeRoute(route: Route): string {
  if (!route.ok) return `${route.permanent ? 'bounce' : 'defer'} ${route.enhanced} ${route.reason}`;
  return route.hops.map((h) => `${h.name} ${h.address}:${h.port}`).join(', ');
}

describe('TransportMap: lookup order and entries', () => {
  const map = TransportMap.parse(MAP, 25);
  const router = new Router(dns, 25, null, map);
  const cases: Array<[string, string]> = [
    ['example.com', '10.0.0.5 10.0.0.5:25'],
    ['EXAMPLE.com', '10.0.0.5 10.0.0.5:25'],
    ['a.example.com', '10.0.0.6 10.0.0.6:2525'],
    ['deep.a.example.com', '10.0.0.6 10.0.0.6:2525'],
    ['notexample.com', '10.0.0.9 10.0.0.9:26'],
    ['mx-routed.test', 'mx.relay.test 192.0.2.50:587'],
    ['upper.test', '10.0.0.7 10.0.0.7:25'],
    ['own-mx.test', 'mx1.own-mx.test 192.0.2.61:25, mx2.own-mx.test 192.0.2.62:25'],
    ['gone.test', 'bounce 5.1.2 this domain no longer takes mail'],
    ['later.test', 'defer 4.3.2 maintenance window until 06:00'],
    ['anything.else', '10.0.0.9 10.0.0.9:26'],
  ];
  for (const [domain, expected] of cases) {
    test(`${domain} → ${expected}`, async () => {
      assert.equal(describeRoute(await router.route(domain)), expected);
    });
  }

  test('the map has one entry per pattern line (a continuation line is part of its entry)', () => {
    assert.equal(map.size, 8);
  });
});

describe('Routing precedence: transport map > relayhost > MX', () => {
  const relayhost = parseRelayHost('[smarthost.test]:2525', 25);
  const partial = TransportMap.parse('example.com smtp:[10.0.0.5]:25\n.sub.test smtp:[10.0.0.6]\n', 25);
  const cases: Array<{
    name: string;
    map: TransportMap | null;
    relay: boolean;
    domain: string;
    expected: string;
  }> = [
    {
      name: 'map entry beats relayhost',
      map: partial,
      relay: true,
      domain: 'example.com',
      expected: '10.0.0.5 10.0.0.5:25',
    },
    {
      name: 'no map entry: relayhost',
      map: partial,
      relay: true,
      domain: 'plain.test',
      expected: 'smarthost.test 192.0.2.80:2525',
    },
    {
      name: '.sub.test does not match sub.test itself',
      map: partial,
      relay: true,
      domain: 'sub.test',
      expected: 'smarthost.test 192.0.2.80:2525',
    },
    {
      name: '.sub.test matches x.sub.test',
      map: partial,
      relay: true,
      domain: 'x.sub.test',
      expected: '10.0.0.6 10.0.0.6:25',
    },
    {
      name: 'no map entry, no relayhost: MX',
      map: partial,
      relay: false,
      domain: 'plain.test',
      expected: 'mx.plain.test 192.0.2.70:25',
    },
    {
      name: 'no map at all: relayhost',
      map: null,
      relay: true,
      domain: 'example.com',
      expected: 'smarthost.test 192.0.2.80:2525',
    },
    {
      name: 'no map, no relayhost: MX',
      map: null,
      relay: false,
      domain: 'plain.test',
      expected: 'mx.plain.test 192.0.2.70:25',
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const router = new Router(dns, 25, c.relay ? relayhost : null, c.map);
      assert.equal(describeRoute(await router.route(c.domain)), c.expected);
    });
  }
});

describe('Routing: host sets (shared shaping budgets)', () => {
  test('domains on the same MX hosts share a host set, whatever the MX order; others do not', async () => {
    const shared = staticResolver({
      mx: {
        'one.test': [
          { exchange: 'mx-a.provider.test', priority: 10 },
          { exchange: 'MX-B.provider.test.', priority: 20 },
        ],
        'two.test': [
          { exchange: 'mx-b.provider.test', priority: 5 },
          { exchange: 'mx-a.provider.test', priority: 5 },
        ],
        'three.test': [{ exchange: 'mx.elsewhere.test', priority: 10 }],
      },
      a: {
        'mx-a.provider.test': ['192.0.2.1'],
        'mx-b.provider.test': ['192.0.2.2'],
        'mx.elsewhere.test': ['192.0.2.3'],
      },
    });
    const router = new Router(shared, 25, null);
    const set = async (domain: string) => {
      const route = await router.route(domain);
      assert.ok(route.ok);
      return route.hostSet;
    };
    assert.equal(await set('one.test'), await set('two.test'));
    assert.equal(await set('one.test'), 'mx-a.provider.test,mx-b.provider.test:25');
    assert.notEqual(await set('three.test'), await set('one.test'));
  });
});

describe('TransportMap: bad entries are refused naming the line', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['missing transport', 'example.com\n', /line 1: expected "pattern transport:nexthop"/],
    ['no colon', '\n\nexample.com smtp\n', /line 3: expected "transport:nexthop"/],
    ['unknown transport', '# x\nexample.com lmtp:unix:/x\n', /line 2: transport "lmtp" is not supported/],
    ['bad nexthop', 'example.com smtp:[unclosed:25\n', /line 1: bad nexthop "\[unclosed:25"/],
    ['address pattern', 'user@example.com smtp:[10.0.0.1]\n', /line 1: "user@example.com" is not a domain/],
    [
      'bad domain',
      'exa mple.com smtp:[10.0.0.1]\n',
      /line 1: "exa" is not a domain|line 1: expected "transport:nexthop"/,
    ],
    ['duplicate', 'a.test smtp:\nA.test smtp:[10.0.0.1]\n', /line 2: "a.test" is listed twice/],
  ];
  for (const [name, text, expected] of cases) {
    test(name, () => {
      assert.throws(
        () => TransportMap.parse(text, 25, '/etc/sluice/transport'),
        (error: unknown) =>
          error instanceof TransportMapError &&
          error.message.startsWith('/etc/sluice/transport, line') &&
          expected.test(error.message),
      );
    });
  }

  test('fromFile reads a file and names it in errors', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-transport-'));
    try {
      const file = path.join(dir, 'transport');
      writeFileSync(file, 'ok.test smtp:[127.0.0.1]:2600\n');
      assert.equal(TransportMap.fromFile(file, 25).lookup('ok.test')?.kind, 'smtp');
      writeFileSync(file, 'ok.test smtp:[127.0.0.1]:2600\nbad.test pipe:x\n');
      assert.throws(() => TransportMap.fromFile(file, 25), new RegExp(`${file}, line 2`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
