/**
 * Specifies configuration loading: with no file every option has its default (data_dir made
 * absolute, durations in milliseconds); a YAML file overrides defaults; `-o key.path=value`
 * overrides the file and keeps YAML types (booleans, numbers, arrays, null) while Postfix-style
 * "[host]:port" stays text; and a bad file yields one ConfigError naming every bad key path at
 * once (unknown keys, wrong types, bad CIDR, bad host:port, bad duration), never a half-valid
 * config. YAML syntax errors and unreadable files are ConfigErrors too.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseDuration } from '../../src/config/duration.js';
import { applyOverride, ConfigError, loadConfig } from '../../src/config/load.js';

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-config-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function yamlFile(text: string): string {
  const file = path.join(dir, `config-${++fileCount}.yaml`);
  fs.writeFileSync(file, text);
  return file;
}

/** Runs loadConfig expecting a ConfigError; returns its problems. */
function problemsOf(options: Parameters<typeof loadConfig>[0]): string[] {
  try {
    loadConfig(options);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.ok(error.problems.length > 0);
    for (const p of error.problems) assert.ok(error.message.includes(p), 'the message lists every problem');
    return error.problems;
  }
  assert.fail('expected a ConfigError');
}

/** Asserts that some problem is about exactly this key path. */
function names(problems: string[], keyPath: string): void {
  assert.ok(
    problems.some((p) => p.startsWith(`${keyPath}: `)),
    `expected a problem for ${keyPath} in:\n${problems.join('\n')}`,
  );
}

describe('loadConfig: defaults', () => {
  test('no file: every option has its default', () => {
    const config = loadConfig();
    assert.equal(config.data_dir, path.resolve('./data'));
    assert.ok(path.isAbsolute(config.data_dir));
    assert.deepEqual(config.listen, {
      smtp: '127.0.0.1:2525',
      submission: '127.0.0.1:2587',
      http: '127.0.0.1:8080',
    });
    assert.deepEqual(config.relay, { networks: ['127.0.0.0/8', '::1/128'], require_auth: false });
    assert.deepEqual(config.tls, { cert: null, key: null });
    assert.equal(config.smtp.hostname, null);
    assert.equal(config.smtp.max_message_size, 26_214_400);
    assert.equal(config.smtp.max_header_size, 102_400);
    assert.equal(config.smtp.max_line_length, 65_536);
    assert.equal(config.delivery.relayhost, null);
    assert.equal(config.delivery.smtp_port, 25);
    assert.equal(config.delivery.tls, 'may');
    assert.equal(config.store.backend, 'embedded');
    assert.equal(config.log.level, 'info');
  });

  test('default durations are in milliseconds', () => {
    const config = loadConfig();
    assert.equal(config.smtp.idle_timeout, 5 * 60_000);
    assert.equal(config.smtp.auth_failure_delay, 1000);
    assert.equal(config.delivery.connection_idle_timeout, 10_000);
    assert.equal(config.delivery.connect_timeout, 30_000);
    assert.equal(config.delivery.command_timeout, 5 * 60_000);
    assert.equal(config.delivery.max_queue_lifetime, 72 * 3_600_000);
    assert.deepEqual(
      config.delivery.retry_schedule,
      [1, 5, 15, 30, 60, 120, 240].map((m) => m * 60_000),
    );
  });

  test('an empty file or a file of only comments gives the defaults', () => {
    assert.deepEqual(loadConfig({ file: yamlFile('') }), loadConfig());
    assert.deepEqual(loadConfig({ file: yamlFile('# nothing here\n') }), loadConfig());
  });
});

describe('loadConfig: YAML file', () => {
  test('values in the file replace defaults; the rest keep theirs', () => {
    const file = yamlFile(
      [
        'data_dir: /var/lib/sluice-test',
        'listen:',
        '  smtp: "0.0.0.0:25"',
        '  http: null',
        'relay:',
        '  networks: [10.0.0.0/8, "2001:db8::/32", 192.0.2.1]',
        '  require_auth: true',
        'smtp:',
        '  hostname: mx.example.test',
        '  max_recipients: 50',
        'delivery:',
        '  relayhost: "[192.0.2.25]:2525"',
        '  tls: none',
        'log:',
        '  level: debug',
      ].join('\n'),
    );
    const config = loadConfig({ file });
    assert.equal(config.data_dir, '/var/lib/sluice-test');
    assert.deepEqual(config.listen, { smtp: '0.0.0.0:25', submission: '127.0.0.1:2587', http: null });
    assert.deepEqual(config.relay, {
      networks: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.1'],
      require_auth: true,
    });
    assert.equal(config.smtp.hostname, 'mx.example.test');
    assert.equal(config.smtp.max_recipients, 50);
    assert.equal(config.smtp.max_connections, 1000);
    assert.equal(config.delivery.relayhost, '[192.0.2.25]:2525');
    assert.equal(config.delivery.tls, 'none');
    assert.equal(config.log.level, 'debug');
  });

  test('a relative data_dir is resolved to an absolute path', () => {
    const config = loadConfig({ file: yamlFile('data_dir: some/where\n') });
    assert.equal(config.data_dir, path.resolve('some/where'));
  });

  test('durations: plain numbers are seconds; ms, s, m, h, d suffixes; all become milliseconds', () => {
    const file = yamlFile(
      [
        'smtp:',
        '  idle_timeout: 30',
        '  auth_failure_delay: 250ms',
        'delivery:',
        '  connection_idle_timeout: 1.5s',
        '  connect_timeout: 2m',
        '  command_timeout: 1h',
        '  max_queue_lifetime: 7d',
        '  retry_schedule: [100ms, 2s, "3m"]',
      ].join('\n'),
    );
    const config = loadConfig({ file });
    assert.equal(config.smtp.idle_timeout, 30_000);
    assert.equal(config.smtp.auth_failure_delay, 250);
    assert.equal(config.delivery.connection_idle_timeout, 1500);
    assert.equal(config.delivery.connect_timeout, 120_000);
    assert.equal(config.delivery.command_timeout, 3_600_000);
    assert.equal(config.delivery.max_queue_lifetime, 7 * 86_400_000);
    assert.deepEqual(config.delivery.retry_schedule, [100, 2000, 180_000]);
  });
});

describe('loadConfig: -o overrides', () => {
  test('overrides keep their YAML types: booleans, numbers, arrays, null', () => {
    const config = loadConfig({
      overrides: [
        'relay.require_auth=true',
        'smtp.max_recipients=5',
        'relay.networks=[10.0.0.0/8, 192.168.0.0/16]',
        'listen.http=null',
        'delivery.retry_schedule=[100ms, 2s]',
        'smtp.idle_timeout=45',
      ],
    });
    assert.equal(config.relay.require_auth, true);
    assert.equal(config.smtp.max_recipients, 5);
    assert.deepEqual(config.relay.networks, ['10.0.0.0/8', '192.168.0.0/16']);
    assert.equal(config.listen.http, null);
    assert.deepEqual(config.delivery.retry_schedule, [100, 2000]);
    assert.equal(config.smtp.idle_timeout, 45_000);
  });

  test('"[host]:port" and "[ipv6]:port" stay text (they would read as YAML flow syntax)', () => {
    const config = loadConfig({
      overrides: [
        'delivery.relayhost=[127.0.0.1]:2525',
        'listen.smtp=[::1]:2525',
        'listen.submission=0.0.0.0:587',
      ],
    });
    assert.equal(config.delivery.relayhost, '[127.0.0.1]:2525');
    assert.equal(config.listen.smtp, '[::1]:2525');
    assert.equal(config.listen.submission, '0.0.0.0:587');
  });

  test('"host:port" relayhost (MX lookup form) stays text', () => {
    assert.equal(
      loadConfig({ overrides: ['delivery.relayhost=relay.example.test:2525'] }).delivery.relayhost,
      'relay.example.test:2525',
    );
  });

  test('an override beats the file; the rest of the file still applies', () => {
    const file = yamlFile('smtp:\n  max_recipients: 1000\n  max_connections: 7\n');
    const config = loadConfig({ file, overrides: ['smtp.max_recipients=3'] });
    assert.equal(config.smtp.max_recipients, 3);
    assert.equal(config.smtp.max_connections, 7);
  });

  test('a value with "=" in it keeps everything after the first "="', () => {
    const raw: Record<string, unknown> = {};
    applyOverride(raw, 'smtp.hostname=a=b');
    assert.deepEqual(raw, { smtp: { hostname: 'a=b' } });
  });

  test('an override without "=" or without a key is a ConfigError', () => {
    names(problemsOf({ overrides: ['smtp.hostname'] }), '"smtp.hostname"');
    assert.throws(() => loadConfig({ overrides: ['=5'] }), ConfigError);
  });

  test('an override cannot reach Object.prototype', () => {
    for (const override of [
      '__proto__.polluted=yes',
      'smtp.__proto__.polluted=yes',
      'constructor.prototype.polluted=1',
    ]) {
      assert.throws(() => loadConfig({ overrides: [override] }), ConfigError, override);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('an override of an unknown or mistyped option is reported with its path', () => {
    const problems = problemsOf({ overrides: ['smtp.no_such_option=1', 'smtp.max_recipients=many'] });
    names(problems, 'smtp.no_such_option');
    names(problems, 'smtp.max_recipients');
  });

  test('HTTP listener timeouts: 0 is refused, and headers may not outlast the whole request', () => {
    names(problemsOf({ overrides: ['http.body_timeout=0'] }), 'http.body_timeout');
    names(problemsOf({ overrides: ['http.keep_alive_timeout=0s'] }), 'http.keep_alive_timeout');
    const problems = problemsOf({ overrides: ['http.headers_timeout=2m', 'http.request_timeout=1m'] });
    names(problems, 'http.headers_timeout');
    assert.match(problems.join('\n'), /must not be longer than http\.request_timeout/);
    const config = loadConfig({
      overrides: ['http.headers_timeout=10s', 'http.max_connections_per_client=0'],
    });
    assert.equal(config.http.headers_timeout, 10_000);
    assert.equal(config.http.max_connections_per_client, 0);
  });
});

describe('loadConfig: bad files', () => {
  test('every bad key path is reported at once', () => {
    const file = yamlFile(
      [
        'unknown_top: 1',
        'listen:',
        '  smtp: "no-port-here"',
        '  smpt: "127.0.0.1:25"',
        'relay:',
        '  networks: [10.0.0.0/33, not-a-cidr, 10.0.0.0/8]',
        '  require_auth: "yes"',
        'smtp:',
        '  max_recipients: many',
        '  max_line_length: -5',
        '  idle_timeout: 5 parsecs',
        'delivery:',
        '  relayhost: "[bad host]:x"',
        '  smtp_port: 70000',
        '  tls: always',
        '  retry_schedule: []',
        'log:',
        '  level: loud',
      ].join('\n'),
    );
    const problems = problemsOf({ file });
    for (const keyPath of [
      'unknown_top',
      'listen.smtp',
      'listen.smpt',
      'relay.networks.0',
      'relay.networks.1',
      'relay.require_auth',
      'smtp.max_recipients',
      'smtp.max_line_length',
      'smtp.idle_timeout',
      'delivery.relayhost',
      'delivery.smtp_port',
      'delivery.tls',
      'delivery.retry_schedule',
      'log.level',
    ]) {
      names(problems, keyPath);
    }
    assert.ok(!problems.some((p) => p.startsWith('relay.networks.2')), 'the valid CIDR is not reported');
    assert.ok(problems.some((p) => /unknown option/.test(p)));
  });

  test('the error names its source file', () => {
    const file = yamlFile('smtp:\n  max_recipients: x\n');
    assert.throws(
      () => loadConfig({ file }),
      (error: unknown) =>
        error instanceof ConfigError && error.source === file && error.message.startsWith(file),
    );
  });

  test('a section that is not a mapping is reported by its name', () => {
    names(problemsOf({ file: yamlFile('smtp: 5\n') }), 'smtp');
  });

  test('bad listen addresses: no port, bad IPv6 brackets, spaces', () => {
    for (const bad of ['localhost', '::1:25', '[::1]', 'a b:25', '127.0.0.1:123456']) {
      names(problemsOf({ overrides: [`listen.smtp=${JSON.stringify(bad)}`] }), 'listen.smtp');
    }
  });

  test('good listen addresses: host:port, [ipv6]:port', () => {
    for (const good of ['localhost:25', '0.0.0.0:2525', '[::]:25', '[2001:db8::1]:587']) {
      assert.equal(loadConfig({ overrides: [`listen.smtp=${JSON.stringify(good)}`] }).listen.smtp, good);
    }
  });

  test('a YAML syntax error is a ConfigError that says so', () => {
    const problems = problemsOf({ file: yamlFile('smtp:\n  max_recipients: [1, 2\nlog: {\n') });
    assert.ok(
      problems.every((p) => p.startsWith('YAML syntax')),
      problems.join('\n'),
    );
  });

  test('a top level that is not a mapping is a ConfigError', () => {
    problemsOf({ file: yamlFile('- a\n- b\n') });
    problemsOf({ file: yamlFile('just a string\n') });
  });

  test('a file that cannot be read is a ConfigError naming the file', () => {
    const missing = path.join(dir, 'missing.yaml');
    const problems = problemsOf({ file: missing });
    assert.match(problems[0]!, /cannot read file/);
  });
});

describe('parseDuration', () => {
  test('numbers are seconds; strings take ms, s, m, h, d; no unit means seconds', () => {
    assert.equal(parseDuration(0), 0);
    assert.equal(parseDuration(2.5), 2500);
    assert.equal(parseDuration('10'), 10_000);
    assert.equal(parseDuration('10ms'), 10);
    assert.equal(parseDuration(' 3 s '), 3000);
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseDuration('1d'), 86_400_000);
  });

  test('negative, infinite and unparsable values are null', () => {
    assert.equal(parseDuration(-1), null);
    assert.equal(parseDuration(Number.POSITIVE_INFINITY), null);
    assert.equal(parseDuration(Number.NaN), null);
    for (const bad of ['', 'soon', '-5s', '5 parsecs', '1w', '5mm'])
      assert.equal(parseDuration(bad), null, bad);
  });
});

describe('loadConfig: ranges, sizes and the nearest option name', () => {
  test('ports of every address are 1-65535', () => {
    const problems = problemsOf({
      overrides: [
        'listen.smtp=127.0.0.1:99999',
        'listen.submission=[::1]:0',
        'delivery.relayhost=[192.0.2.1]:70000',
        'milter.listen=inet:127.0.0.1:65536',
        'policy.listen=127.0.0.1:65535',
        'store.redis.sentinels=["10.0.0.1:26379", "10.0.0.2:99999"]',
      ],
    });
    assert.ok(problems.includes('listen.smtp: port must be 1-65535, got 99999'), problems.join('\n'));
    assert.ok(problems.includes('listen.submission: port must be 1-65535, got 0'));
    assert.ok(problems.includes('delivery.relayhost: port must be 1-65535, got 70000'));
    assert.ok(problems.includes('milter.listen: port must be 1-65535, got 65536'));
    assert.ok(problems.includes('store.redis.sentinels.1: port must be 1-65535, got 99999'));
    assert.ok(!problems.some((p) => p.startsWith('policy.listen')), '65535 is a port');
    assert.equal(
      loadConfig({ overrides: ['delivery.relayhost=relay.example.test'] }).delivery.relayhost,
      'relay.example.test',
      'a relayhost without a port',
    );
  });

  test('every size takes bytes or a unit (KB = 1024 bytes), within its bounds', () => {
    const config = loadConfig({
      file: yamlFile(
        [
          'smtp:',
          '  max_message_size: 25MB',
          '  max_header_size: 512KB',
          '  max_line_length: 1.5KB',
          '  max_command_length: 4k',
          'http:',
          '  max_body: 1GiB',
          'milter:',
          '  max_packet_size: 2 mb',
          'tracking:',
          '  max_html_part_size: 3000',
          'auth:',
          '  max_line_length: 2KiB',
          'policy:',
          '  max_request_size: 64KB',
        ].join('\n'),
      ),
    });
    assert.equal(config.smtp.max_message_size, 26_214_400, '25MB is the default, 25 * 1024 * 1024');
    assert.equal(config.smtp.max_header_size, 512 * 1024);
    assert.equal(config.smtp.max_line_length, 1536);
    assert.equal(config.smtp.max_command_length, 4096);
    assert.equal(config.http.max_body, 1024 ** 3);
    assert.equal(config.milter.max_packet_size, 2 * 1024 ** 2);
    assert.equal(config.tracking.max_html_part_size, 3000);
    assert.equal(config.auth.max_line_length, 2048);
    assert.equal(config.policy.max_request_size, 65_536);

    const problems = problemsOf({
      overrides: [
        'smtp.max_message_size=lots',
        'smtp.max_header_size=0',
        'smtp.max_command_length=256',
        'milter.max_packet_size=1GB',
        'http.max_body=1.5',
        'policy.max_request_size=-5KB',
      ],
    });
    assert.ok(
      problems.includes('smtp.max_message_size: expected a size in bytes, or with a unit: 512KB, 25MB, 1GB'),
    );
    assert.ok(
      problems.includes('smtp.max_header_size: must be at least 1 bytes, got 0'),
      problems.join('\n'),
    );
    assert.ok(problems.includes('smtp.max_command_length: must be at least 512 bytes, got 256'));
    assert.ok(problems.includes('milter.max_packet_size: must be 64KB to 64MB, got 1GB'));
    names(problems, 'http.max_body');
    names(problems, 'policy.max_request_size');
  });

  test('a duration Sluice waits with a timer is at most 24 days; others may be longer', () => {
    const problems = problemsOf({
      overrides: ['delivery.retry_schedule=[1m, 30d]', 'smtp.idle_timeout=25d', 'events.retention=90d'],
    });
    assert.ok(
      problems.includes('delivery.retry_schedule.1: at most 24d (a timer cannot wait longer), got 30d'),
      problems.join('\n'),
    );
    names(problems, 'smtp.idle_timeout');
    assert.ok(!problems.some((p) => p.startsWith('events.retention')), 'a retention is no timer');
  });

  test('an unknown option names the nearest known one, nearby or under another section', () => {
    const problems = problemsOf({
      file: yamlFile(
        [
          'lisen:',
          '  smtp: "127.0.0.1:25"',
          'listen:',
          '  submision: "127.0.0.1:587"',
          'max_message_size: 1000',
          'delivery:',
          '  relay_host: "[10.0.0.1]"',
          'zzzzzzzz: 1',
        ].join('\n'),
      ),
    });
    assert.ok(problems.includes('lisen: unknown option; did you mean listen?'), problems.join('\n'));
    assert.ok(problems.includes('listen.submision: unknown option; did you mean listen.submission?'));
    assert.ok(problems.includes('max_message_size: unknown option; did you mean smtp.max_message_size?'));
    assert.ok(problems.includes('delivery.relay_host: unknown option; did you mean delivery.relayhost?'));
    assert.ok(problems.includes('zzzzzzzz: unknown option'), 'nothing near: no guess');
    const viaO = problemsOf({ overrides: ['listen.smpt=127.0.0.1:25'] });
    assert.deepEqual(viaO, ['listen.smpt: unknown option; did you mean listen.smtp?']);
  });
});
