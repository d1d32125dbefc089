/**
 * Specifies routing (where a recipient domain's mail goes), with DNS answers fixed by
 * staticResolver or by a resolver that fails on purpose: a "[host]:port" relayhost is used as is
 * with no MX lookup; "host:port" uses the MX of host; otherwise the domain's MX hosts in order of
 * preference (each with its A then AAAA addresses), falling back to the domain's own A/AAAA when it
 * has no MX; a null MX and a domain that does not exist are permanent failures, a DNS server that
 * fails or times out a temporary one (4.4.3); address literals are delivered to directly.
 * Also parseRelayHost, Postfix's relayhost syntax.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type DnsResolver, isNotFound, type MxRecord, staticResolver } from '../../src/delivery/resolver.js';
import { parseRelayHost, type Route, Router } from '../../src/delivery/route.js';

const dnsError = (code: string) => Object.assign(new Error(`query ${code}`), { code });

/** A resolver that records every question and answers from tables; a string answer is an error code. */
function scripted(answers: {
  mx?: Record<string, MxRecord[] | string>;
  a?: Record<string, string[] | string>;
  aaaa?: Record<string, string[] | string>;
}): DnsResolver & { asked: string[] } {
  const asked: string[] = [];
  const answer = <T>(kind: string, table: Record<string, T[] | string> | undefined, name: string) => {
    asked.push(`${kind} ${name}`);
    const found = table?.[name];
    if (found === undefined) return Promise.reject(dnsError('ENOTFOUND'));
    if (typeof found === 'string') return Promise.reject(dnsError(found));
    return Promise.resolve(found);
  };
  return {
    asked,
    resolveMx: (name) => answer('MX', answers.mx, name),
    resolve4: (name) => answer('A', answers.a, name),
    resolve6: (name) => answer('AAAA', answers.aaaa, name),
  };
}

const noDns: DnsResolver = {
  resolveMx: () => assert.fail('no MX lookup expected'),
  resolve4: () => assert.fail('no A lookup expected'),
  resolve6: () => assert.fail('no AAAA lookup expected'),
};

function hopsOf(route: Route) {
  assert.ok(route.ok, `expected a route, got ${JSON.stringify(route)}`);
  return route.hops.map((h) => `${h.name} ${h.address}:${h.port}`);
}

function failureOf(route: Route) {
  assert.ok(!route.ok, `expected a failure, got ${JSON.stringify(route)}`);
  return route;
}

describe('parseRelayHost', () => {
  test('"[host]:port" means no MX lookup', () => {
    assert.deepEqual(parseRelayHost('[192.0.2.1]:2525', 25), {
      host: '192.0.2.1',
      port: 2525,
      mxLookup: false,
    });
    assert.deepEqual(parseRelayHost('[Relay.Example.test]', 25), {
      host: 'relay.example.test',
      port: 25,
      mxLookup: false,
    });
  });

  test('"host:port" and "host" mean an MX lookup of host; the port defaults', () => {
    assert.deepEqual(parseRelayHost('relay.example:2525', 25), {
      host: 'relay.example',
      port: 2525,
      mxLookup: true,
    });
    assert.deepEqual(parseRelayHost(' relay.example ', 587), {
      host: 'relay.example',
      port: 587,
      mxLookup: true,
    });
  });

  test('an IPv6 relayhost is written in brackets', () => {
    assert.deepEqual(parseRelayHost('[2001:db8::1]:25', 2525), {
      host: '2001:db8::1',
      port: 25,
      mxLookup: false,
    });
  });

  test('anything else is refused', () => {
    for (const bad of ['', '[unclosed:25', 'host:port', 'a:1:2', '[]:25', 'host:']) {
      assert.throws(() => parseRelayHost(bad, 25), /invalid relayhost/, bad);
    }
  });
});

describe('Router: relayhost', () => {
  test('"[1.2.3.4]:2525" routes every domain there without any DNS lookup', async () => {
    const router = new Router(noDns, 25, parseRelayHost('[1.2.3.4]:2525', 25));
    assert.deepEqual(hopsOf(await router.route('example.test')), ['1.2.3.4 1.2.3.4:2525']);
    assert.deepEqual(hopsOf(await router.route('[192.0.2.9]')), ['1.2.3.4 1.2.3.4:2525']);
  });

  test('"[name]:port" resolves the name\'s addresses but never its MX', async () => {
    const dns = scripted({ a: { 'smarthost.test': ['192.0.2.5'] }, mx: { 'smarthost.test': 'ESERVFAIL' } });
    const router = new Router(dns, 25, parseRelayHost('[smarthost.test]:587', 25));
    assert.deepEqual(hopsOf(await router.route('example.test')), ['smarthost.test 192.0.2.5:587']);
    assert.ok(!dns.asked.some((q) => q.startsWith('MX')), dns.asked.join(', '));
  });

  test('"relay.example:2525" uses the MX of relay.example (not of the recipient domain), on port 2525', async () => {
    const dns = scripted({
      mx: { 'relay.example': [{ exchange: 'mx1.relay.example', priority: 5 }] },
      a: { 'mx1.relay.example': ['192.0.2.10'] },
    });
    const router = new Router(dns, 25, parseRelayHost('relay.example:2525', 25));
    assert.deepEqual(hopsOf(await router.route('customer.test')), ['mx1.relay.example 192.0.2.10:2525']);
    assert.ok(dns.asked.includes('MX relay.example'));
    assert.ok(!dns.asked.some((q) => q.includes('customer.test')));
  });

  test('"relay.example:2525" without MX falls back to the address of relay.example', async () => {
    const dns = scripted({ a: { 'relay.example': ['192.0.2.11'] } });
    const router = new Router(dns, 25, parseRelayHost('relay.example:2525', 25));
    assert.deepEqual(hopsOf(await router.route('customer.test')), ['relay.example 192.0.2.11:2525']);
  });
});

describe('Router: MX routing', () => {
  test('MX hosts in order of preference, each with A then AAAA addresses, on smtp_port', async () => {
    const dns = staticResolver({
      mx: {
        'example.test': [
          { exchange: 'mx30.example.test', priority: 30 },
          { exchange: 'mx10.example.test', priority: 10 },
          { exchange: 'mx20.example.test', priority: 20 },
        ],
      },
      a: {
        'mx10.example.test': ['192.0.2.10'],
        'mx20.example.test': ['192.0.2.20', '192.0.2.21'],
        'mx30.example.test': ['192.0.2.30'],
      },
      aaaa: { 'mx10.example.test': ['2001:db8::10'] },
    });
    const router = new Router(dns, 2525, null);
    assert.deepEqual(hopsOf(await router.route('example.test')), [
      'mx10.example.test 192.0.2.10:2525',
      'mx10.example.test 2001:db8::10:2525',
      'mx20.example.test 192.0.2.20:2525',
      'mx20.example.test 192.0.2.21:2525',
      'mx30.example.test 192.0.2.30:2525',
    ]);
  });

  test('equal preferences are all used', async () => {
    const dns = staticResolver({
      mx: {
        'example.test': [
          { exchange: 'a.example.test', priority: 10 },
          { exchange: 'b.example.test', priority: 10 },
        ],
      },
      a: { 'a.example.test': ['192.0.2.1'], 'b.example.test': ['192.0.2.2'] },
    });
    const hops = hopsOf(await new Router(dns, 25, null).route('example.test'));
    assert.deepEqual([...hops].sort(), ['a.example.test 192.0.2.1:25', 'b.example.test 192.0.2.2:25']);
  });

  test('an MX host without addresses is skipped; the others are used', async () => {
    const dns = staticResolver({
      mx: {
        'example.test': [
          { exchange: 'gone.example.test', priority: 10 },
          { exchange: 'ok.example.test', priority: 20 },
        ],
      },
      a: { 'ok.example.test': ['192.0.2.2'] },
    });
    assert.deepEqual(hopsOf(await new Router(dns, 25, null).route('example.test')), [
      'ok.example.test 192.0.2.2:25',
    ]);
  });

  test('an MX host given as an IP address is used directly', async () => {
    const dns = staticResolver({ mx: { 'example.test': [{ exchange: '192.0.2.77', priority: 0 }] } });
    assert.deepEqual(hopsOf(await new Router(dns, 25, null).route('example.test')), [
      '192.0.2.77 192.0.2.77:25',
    ]);
  });

  test("no MX record: the domain's own A/AAAA addresses (RFC 5321 5.1)", async () => {
    const dns = staticResolver({
      a: { 'example.test': ['192.0.2.3'] },
      aaaa: { 'example.test': ['2001:db8::3'] },
    });
    assert.deepEqual(hopsOf(await new Router(dns, 25, null).route('example.test')), [
      'example.test 192.0.2.3:25',
      'example.test 2001:db8::3:25',
    ]);
  });

  test('an empty MX answer falls back to A/AAAA as well', async () => {
    const dns = staticResolver({ mx: { 'example.test': [] }, aaaa: { 'example.test': ['2001:db8::4'] } });
    assert.deepEqual(hopsOf(await new Router(dns, 25, null).route('example.test')), [
      'example.test 2001:db8::4:25',
    ]);
  });

  test('domain names are looked up case-insensitively', async () => {
    const dns = staticResolver({ a: { 'example.test': ['192.0.2.3'] } });
    assert.deepEqual(hopsOf(await new Router(dns, 25, null).route('Example.TEST')), [
      'Example.TEST 192.0.2.3:25',
    ]);
  });
});

describe('Router: failures', () => {
  test('a null MX ("." or empty exchange, RFC 7505) is a permanent 5.1.10 failure', async () => {
    for (const exchange of ['', '.']) {
      const dns = staticResolver({
        mx: { 'nomail.test': [{ exchange, priority: 0 }] },
        a: { 'nomail.test': ['192.0.2.1'] },
      });
      const failure = failureOf(await new Router(dns, 25, null).route('nomail.test'));
      assert.equal(failure.permanent, true);
      assert.equal(failure.enhanced, '5.1.10');
      assert.match(failure.reason, /null MX/);
    }
  });

  test('a domain that does not exist (NXDOMAIN) is a permanent failure', async () => {
    const failure = failureOf(await new Router(staticResolver({}), 25, null).route('nonexistent.test'));
    assert.equal(failure.permanent, true);
    assert.match(failure.enhanced, /^5\./);
    assert.match(failure.reason, /nonexistent\.test/);
  });

  test('MX hosts that all do not exist: permanent failure', async () => {
    const dns = staticResolver({
      mx: { 'example.test': [{ exchange: 'ghost.example.test', priority: 10 }] },
    });
    const failure = failureOf(await new Router(dns, 25, null).route('example.test'));
    assert.equal(failure.permanent, true);
    assert.equal(failure.enhanced, '5.4.4');
  });

  for (const code of ['ESERVFAIL', 'ETIMEOUT', 'ECONNREFUSED']) {
    test(`an MX lookup failing with ${code} is temporary (4.4.3), not a reason to try A records`, async () => {
      const dns = scripted({ mx: { 'example.test': code }, a: { 'example.test': ['192.0.2.1'] } });
      const failure = failureOf(await new Router(dns, 25, null).route('example.test'));
      assert.equal(failure.permanent, false);
      assert.equal(failure.enhanced, '4.4.3');
      assert.match(failure.reason, new RegExp(code));
    });
  }

  test('the address lookup of the only MX host timing out is temporary', async () => {
    const dns = scripted({
      mx: { 'example.test': [{ exchange: 'mx.example.test', priority: 10 }] },
      a: { 'mx.example.test': 'ETIMEOUT' },
      aaaa: { 'mx.example.test': 'ETIMEOUT' },
    });
    const failure = failureOf(await new Router(dns, 25, null).route('example.test'));
    assert.equal(failure.permanent, false);
    assert.equal(failure.enhanced, '4.4.3');
  });

  test('one MX host failing to resolve does not stop the others', async () => {
    const dns = scripted({
      mx: {
        'example.test': [
          { exchange: 'broken.example.test', priority: 10 },
          { exchange: 'ok.example.test', priority: 20 },
        ],
      },
      a: { 'broken.example.test': 'ESERVFAIL', 'ok.example.test': ['192.0.2.2'] },
      aaaa: { 'broken.example.test': 'ESERVFAIL' },
    });
    assert.deepEqual(hopsOf(await new Router(dns, 25, null).route('example.test')), [
      'ok.example.test 192.0.2.2:25',
    ]);
  });

  test('A fails but AAAA answers: the AAAA addresses are used', async () => {
    const dns = scripted({ a: { 'example.test': 'ETIMEOUT' }, aaaa: { 'example.test': ['2001:db8::9'] } });
    assert.deepEqual(hopsOf(await new Router(dns, 25, null).route('example.test')), [
      'example.test 2001:db8::9:25',
    ]);
  });

  test('a relayhost whose address lookup fails temporarily is a temporary failure', async () => {
    const dns = scripted({ a: { 'smarthost.test': 'ETIMEOUT' }, aaaa: { 'smarthost.test': 'ETIMEOUT' } });
    const failure = failureOf(
      await new Router(dns, 25, parseRelayHost('[smarthost.test]:25', 25)).route('example.test'),
    );
    assert.equal(failure.permanent, false);
    assert.equal(failure.enhanced, '4.4.3');
  });
});

describe('Router: address literals', () => {
  test('[IPv4] and [IPv6:...] domains are delivered to that address on smtp_port, with no DNS', async () => {
    const router = new Router(noDns, 2525, null);
    assert.deepEqual(hopsOf(await router.route('[192.0.2.44]')), ['[192.0.2.44] 192.0.2.44:2525']);
    assert.deepEqual(hopsOf(await router.route('[IPv6:2001:db8::44]')), [
      '[IPv6:2001:db8::44] 2001:db8::44:2525',
    ]);
  });
});

describe('isNotFound', () => {
  test('ENOTFOUND, ENODATA and NXDOMAIN mean "does not exist"; other codes do not', () => {
    for (const code of ['ENOTFOUND', 'ENODATA', 'NXDOMAIN']) assert.equal(isNotFound(dnsError(code)), true);
    for (const code of ['ESERVFAIL', 'ETIMEOUT', 'EREFUSED']) assert.equal(isNotFound(dnsError(code)), false);
    assert.equal(isNotFound(new Error('no code')), false);
  });
});
