/**
 * Rewrite throughput on one core (this process's main thread): the same 50 KB newsletter,
 * message after message, through three paths side by side —
 *  - `sluice`: TrackingTransform with open and click tracking on (a fresh transform, message id
 *    and recipient per message, as the MTA does per recipient);
 *  - `walk only`: the same transform with tracking off (the MIME walk and nothing else);
 *  - `pass-through` (the reference): the bytes copied into a new buffer, the least any stage
 *    between intake and spool does.
 * Each round runs every path for `messages` messages, in an order that flips every round; the
 * result per path is the median over rounds of messages/s and MB/s, by wall clock and by this
 * process's CPU time.
 */
import { performance } from 'node:perf_hooks';
import { TrackingTransform } from '../src/tracking/mime.js';
import { TokenSigner } from '../src/tracking/token.js';
import { newsletterMessage } from './tracking-newsletter.js';

export interface RewriteFigures {
  path: string;
  /** Messages per wall-clock second, one per round. */
  rates: number[];
  /** Messages per CPU second of this process: less disturbed by other work on the machine. */
  cpuRates: number[];
  links: number;
}

const CHUNK = 65_536;
const signer = new TokenSigner([{ id: 'b1', secret: 'bench-secret-0123456789' }], 365 * 86_400_000);

type Path = (message: Buffer, i: number) => { bytes: number; links: number };

function transformPath(on: boolean): Path {
  return (message, i) => {
    const transform = new TrackingTransform({
      open: on,
      click: on,
      baseUrl: 'https://t.example',
      signer,
      messageId: (0x1000_0000 + i).toString(16),
      rcpt: `user${i}@one.example`,
      maxPartSize: 5_242_880,
    });
    let bytes = 0;
    for (let at = 0; at < message.length; at += CHUNK)
      for (const out of transform.push(message.subarray(at, at + CHUNK))) bytes += out.length;
    for (const out of transform.end()) bytes += out.length;
    return { bytes, links: transform.result.links };
  };
}

const passThrough: Path = (message) => {
  const out: Buffer[] = [];
  for (let at = 0; at < message.length; at += CHUNK) out.push(Buffer.from(message.subarray(at, at + CHUNK)));
  return { bytes: Buffer.concat(out).length, links: 0 };
};

export function rewriteBench(rounds: number, messages: number, log: (s: string) => void) {
  const message = newsletterMessage();
  const paths: [string, Path][] = [
    ['sluice (open+click)', transformPath(true)],
    ['walk only (tracking off)', transformPath(false)],
    ['pass-through (reference)', passThrough],
  ];
  const figures = new Map<string, RewriteFigures>(
    paths.map(([name]) => [name, { path: name, rates: [], cpuRates: [], links: 0 }]),
  );
  // Warm-up: let the JIT settle before the first timed round.
  for (const [, run] of paths) for (let i = 0; i < 200; i++) run(message, i);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? paths : [...paths].reverse();
    for (const [name, run] of order) {
      const started = performance.now();
      const cpu = process.cpuUsage();
      let links = 0;
      for (let i = 0; i < messages; i++) links = run(message, round * messages + i).links;
      const seconds = (performance.now() - started) / 1000;
      const used = process.cpuUsage(cpu);
      const f = figures.get(name)!;
      f.rates.push(messages / seconds);
      f.cpuRates.push(messages / ((used.user + used.system) / 1e6));
      f.links = links;
      log(`rewrite round ${round + 1}/${rounds}: ${name} ${(messages / seconds).toFixed(0)} msg/s`);
    }
  }
  return { size: message.length, figures: [...figures.values()] };
}
