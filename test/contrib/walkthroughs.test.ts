/**
 * The walk-throughs run as written. README.md's five-minute tour and its HTTP API example are
 * read from the file: every shell command of their code blocks is run with bash, in that order,
 * against a real `sluice serve` and Postfix's smtp-sink, and each must succeed and print what
 * the README says it prints. Only what cannot be the same in a shared test run is changed: the
 * well-known ports become free loopback ports, `./data` is a scratch directory (the commands run
 * there, `bin/` linked to this checkout), `make run ARGS=…` runs the `sluice serve` that `make
 * run` starts (the build is the suite's), and `<the key>` and the example message id are the ones
 * the earlier commands printed. A command the runner does not know fails the test, so a new
 * step in the README cannot go unrun. contrib/postfix/README.md's YAML blocks pass `sluice config
 * check` (its Postfix steps run in test/e2e/postfix-stage0.test.ts from main.cf.stage0 itself).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runProgram, sluiceCli } from '../harness/clients.js';
import { freePort, waitFor, waitForPort } from '../harness/net.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
let scratch: string;
const background: ChildProcess[] = [];

before(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'sluice-walkthrough-'));
  symlinkSync(path.join(root, 'bin'), path.join(scratch, 'bin'));
});

after(async () => {
  for (const child of background) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(-child.pid!, 'SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  }
  rmSync(scratch, { recursive: true, force: true });
});

/** The text of a `## heading` section, up to the next `## `. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}`);
  assert.ok(start >= 0, `section "${heading}" in the README`);
  const end = markdown.indexOf('\n## ', start + 4);
  return markdown.slice(start, end < 0 ? undefined : end);
}

/**
 * The commands of the ```sh blocks, as bash reads them: a backslash-newline continues the line,
 * a newline inside quotes belongs to the command, a `#` after a space outside quotes starts a
 * comment; blank lines are dropped.
 */
function commands(text: string): string[] {
  const out: string[] = [];
  for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const source = block[1]!.replace(/\\\n\s*/g, ' ');
    let current = '';
    let quote: string | null = null;
    let comment = false;
    for (let i = 0; i < source.length; i++) {
      const c = source[i]!;
      if (comment) {
        if (c === '\n') comment = false;
        else continue;
      }
      if (quote) {
        if (c === quote) quote = null;
        current += c;
      } else if (c === "'" || c === '"') {
        quote = c;
        current += c;
      } else if (c === '#' && (current === '' || /\s$/.test(current))) {
        comment = true;
      } else if (c === '\n') {
        if (current.trim()) out.push(current.trim());
        current = '';
      } else current += c;
    }
    if (current.trim()) out.push(current.trim());
  }
  return out;
}

function yamlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

test("README's tour and HTTP API example run as written and print what the README says", async () => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const steps = [
    ...commands(section(readme, 'A five-minute tour')),
    ...commands(section(readme, 'The HTTP API')),
  ];
  assert.ok(steps.length >= 9, `the tour's commands: ${steps.join('\n')}`);
  const ports: Record<string, number> = {
    '2525': await freePort(),
    '2587': await freePort(),
    '8080': await freePort(),
    '2600': await freePort(),
  };
  const env = { ...process.env, PATH: `/usr/sbin:/usr/bin:/bin:${process.env.PATH ?? ''}` };
  const vars: Record<string, string> = {};
  let key = '';
  let messageId = '';
  const ran: string[] = [];

  const localise = (command: string) =>
    command
      .replace(
        /127\.0\.0\.1(\]?):(2525|2587|8080|2600)\b/g,
        (_, bracket: string, port: string) => `127.0.0.1${bracket}:${ports[port]}`,
      )
      .replace(/<the key>/g, key)
      .replace(/\b01a2b3c4d5e6f7a8b9c0\b/g, messageId);
  const bash = (command: string) =>
    runProgram('/bin/bash', ['-c', `cd ${JSON.stringify(scratch)} && ${command}`], {
      env,
      timeoutMs: 60_000,
    });
  const spawnBackground = (command: string) => {
    const child = spawn('/bin/bash', ['-c', command], {
      cwd: scratch,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    background.push(child);
    return { child, output: () => output };
  };

  for (const step of steps) {
    const command = localise(step);
    ran.push(command);
    if (/^smtp-sink .*&$/.test(command)) {
      spawnBackground(command.replace(/&$/, ''));
      await waitForPort(ports['2600']!);
    } else if (/^make run ARGS="([^"]*)"$/.test(command)) {
      // What `make run` starts once it has built: the suite built already.
      const args = /^make run ARGS="([^"]*)"$/.exec(command)![1]!;
      const serve = spawnBackground(
        `exec node bin/sluice.js serve -o listen.smtp=127.0.0.1:${ports['2525']} -o listen.submission=127.0.0.1:${ports['2587']} -o listen.http=127.0.0.1:${ports['8080']} ${args}`,
      );
      await Promise.race([
        waitForPort(ports['2525']!, '127.0.0.1', 60_000),
        new Promise((_, reject) =>
          serve.child.once('exit', () => reject(new Error(`serve exited: ${serve.output()}`))),
        ),
      ]);
      await waitForPort(ports['8080']!, '127.0.0.1', 30_000);
    } else if (/^node bin\/sluice\.js keys create .*--grant smtp\/inject$/.test(command)) {
      const result = await bash(command);
      assert.equal(result.code, 0, `${command}\n${result.stderr}`);
      key = result.stdout.trim();
      assert.match(key, /^[0-9a-f]{40}$/, 'the key, printed once (README: 40 hex characters)');
    } else if (/^(\w+)=\$\((node bin\/sluice\.js keys create [^)]*)\)$/.test(command)) {
      const [, name, inner] = /^(\w+)=\$\((node bin\/sluice\.js keys create [^)]*)\)$/.exec(command)!;
      const result = await bash(inner!);
      assert.equal(result.code, 0, `${command}\n${result.stderr}`);
      vars[name!] = result.stdout.trim();
      assert.match(vars[name!]!, /^[0-9a-f]{40}$/);
    } else if (/^swaks /.test(command)) {
      const result = await bash(command);
      assert.equal(result.code, 0, `${command}\n${result.stdout}`);
      const queued = /<~ {1,2}250 2\.0\.0 Ok: queued as ([0-9a-f]{20})/.exec(result.stdout);
      assert.ok(queued, `README: "<- 250 2.0.0 Ok: queued as …"\n${result.stdout}`);
      messageId = queued[1]!;
    } else if (command === 'node bin/sluice.js events tail') {
      // It follows for ever: what it prints before ^C is the point.
      const tail = spawnBackground(`exec ${command}`);
      await waitFor(() => /\sdelivery\s+[0-9a-f]{20}\s+you@example\.net/.test(tail.output()), 30_000, 'tail');
      process.kill(-tail.child.pid!, 'SIGINT');
      const code = await new Promise((resolve) => tail.child.once('exit', resolve));
      assert.equal(code, 0, tail.output());
    } else if (/^node bin\/sluice\.js events search --type delivery --json$/.test(command)) {
      const found = await waitFor(
        async () => {
          const result = await bash(command);
          assert.equal(result.code, 0, result.stderr);
          const events = JSON.parse(result.stdout) as Array<Record<string, unknown>>;
          return events.length > 0 ? events : null;
        },
        30_000,
        'the delivery event',
      );
      const event = found!.find((e) => e.message_id === messageId)!;
      assert.equal(event.campaign_id, 'welcome', 'the X-MSYS-API of step 3');
      assert.deepEqual(event.rcpt_tags, ['onboarding']);
      assert.deepEqual(event.rcpt_meta, { user: 42 });
    } else if (/^node bin\/sluice\.js (keys list|events search --message-id \S+)$/.test(command)) {
      const result = await bash(command);
      assert.equal(result.code, 0, `${command}\n${result.stderr}`);
      if (command.includes('keys list')) assert.match(result.stdout, /my app\s+smtp\/inject/);
      else assert.match(result.stdout, new RegExp(`injection\\s+${messageId}\\s+you@example\\.net`));
    } else if (/^curl /.test(command)) {
      const result = await runProgram('/bin/bash', ['-c', command], {
        env: { ...env, ...vars },
        timeoutMs: 60_000,
      });
      assert.equal(result.code, 0, `${command}\n${result.stderr}`);
      const answer = JSON.parse(result.stdout) as { results?: Record<string, unknown> };
      assert.equal(answer.results?.total_accepted_recipients, 1, result.stdout);
      assert.equal(answer.results?.total_rejected_recipients, 0);
    } else {
      assert.fail(`the walk-through test does not know how to run this README command: ${step}`);
    }
  }
  assert.ok(
    ran.some((c) => c.startsWith('curl ')),
    'the HTTP API example ran',
  );
});

test('contrib/postfix/README.md: its configuration examples pass sluice config check', async () => {
  const guide = readFileSync(path.join(root, 'contrib/postfix/README.md'), 'utf8');
  const blocks = yamlBlocks(guide);
  assert.ok(blocks.length >= 2, 'step 2 and the sluice policy section');
  for (const [i, block] of blocks.entries()) {
    const file = path.join(scratch, `postfix-readme-${i}.yaml`);
    writeFileSync(file, block);
    const result = await sluiceCli(['config', 'check', file]);
    assert.equal(result.code, 0, `block ${i}:\n${block}\n${result.stderr}`);
  }
});
