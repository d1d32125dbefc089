/**
 * connect → 220 on loopback, as a client that opens a connection per message sees it: `count`
 * sequential raw TCP connections, each timed from the connect call to the end of the server's
 * first reply line, then closed without QUIT. The first `warmup` are not counted (Postfix forks
 * its first smtpd; Node compiles the path). Rejects if a greeting is not a 220.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

export async function probeGreeting(
  port: number,
  count = 100,
  warmup = 5,
  timeoutMs = 10_000,
): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < warmup + count; i++) {
    const ms = await new Promise<number>((resolve, reject) => {
      const start = performance.now();
      const socket = net.connect({ port, host: '127.0.0.1' });
      let text = '';
      socket.setEncoding('latin1');
      socket.setTimeout(timeoutMs, () => {
        socket.destroy();
        reject(new Error(`no greeting on port ${port} within ${timeoutMs} ms`));
      });
      socket.on('data', (chunk: string) => {
        text += chunk;
        const eol = text.indexOf('\n');
        if (eol === -1) return;
        const elapsed = performance.now() - start;
        socket.destroy();
        if (!text.startsWith('220')) reject(new Error(`greeting on port ${port}: ${text.slice(0, eol)}`));
        else resolve(elapsed);
      });
      socket.once('error', reject);
    });
    if (i >= warmup) times.push(ms);
  }
  return times;
}
