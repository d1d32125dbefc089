/**
 * Shared by the endpoint benchmark and its server child: the benchmark's messages (100 message
 * ids × 1 recipient), their injection facts, and signed click tokens for them — the links a
 * newsletter's readers would click.
 */
import type { MessageFacts } from '../src/core/events.js';
import { TokenSigner } from '../src/tracking/token.js';

export const BENCH_KEY_ID = 'bench';

export function benchMessages(): { messageId: string; rcpt: string }[] {
  return Array.from({ length: 100 }, (_, i) => ({
    messageId: (0x5000_0000 + i).toString(16).padStart(20, '0'),
    rcpt: `reader${i}@one.example`,
  }));
}

export function benchFacts(messageId: string): MessageFacts {
  return {
    message_id: messageId,
    transmission_id: '1',
    msg_from: 'news@shop.example',
    friendly_from: 'news@shop.example',
    subject: 'This week at the shop',
    msg_size: 50_000,
    injection_time: new Date().toISOString(),
    recv_method: 'esmtp',
    api_key_id: null,
    client_ip: '127.0.0.1',
    msys: { campaign_id: 'weekly', tags: ['news'], metadata: { list: 'weekly' } },
  };
}

/** Request paths /f/TOKEN: 10 links for each benchmark message. */
export function clickPaths(secret: string): string[] {
  const signer = new TokenSigner([{ id: BENCH_KEY_ID, secret }], 365 * 86_400_000);
  return benchMessages().flatMap(({ messageId, rcpt }) =>
    Array.from({ length: 10 }, (_, linkIndex) => {
      const url = `https://shop.example/p/${1000 + linkIndex}?utm_source=newsletter&utm_medium=email`;
      return `/f/${signer.sign({ kind: 'click', messageId, rcpt, linkIndex, linkName: `link-${linkIndex}`, url })}`;
    }),
  );
}
