/**
 * Specifies bounce classification into SparkPost's bounce classes: a table of peer replies
 * (enhanced code and text) and the class each gets. The first matching rule wins, so text rules
 * for relaying and spam blocks beat the generic enhanced-code rules; a reply with no enhanced code
 * is classified by its text or, failing that, as 1 (undetermined). Custom rule tables are honoured.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BOUNCE_RULES, classifyBounce } from '../../src/delivery/bounce-rules.js';

const CASES: Array<[enhanced: string | undefined, text: string, bounceClass: number, why: string]> = [
  ['5.1.1', '550 5.1.1 No such user', 10, 'invalid recipient'],
  ['5.1.0', '550 5.1.0 Address rejected', 10, 'invalid recipient (other address status)'],
  ['5.1.6', '550 5.1.6 Mailbox has moved', 10, 'invalid recipient (moved)'],
  ['5.1.10', '550 5.1.10 Null MX', 10, 'null MX'],
  ['5.2.2', '552 5.2.2 Mailbox full', 22, 'mailbox full'],
  ['4.2.2', '452 4.2.2 Over quota', 22, 'mailbox full, temporarily'],
  ['5.3.4', '552 5.3.4 Message too big', 23, 'too large'],
  ['4.4.3', 'DNS lookup for x failed (ETIMEOUT)', 21, 'DNS failure'],
  ['5.4.4', 'no address for any MX host of x', 21, 'DNS failure (unroutable)'],
  ['4.4.7', '451 4.4.7 Delivery time expired', 24, 'timeout'],
  ['4.4.2', '421 4.4.2 Connection dropped', 24, 'timeout (connection)'],
  ['5.7.1', '554 5.7.1 Relaying denied', 54, 'relaying denied beats 5.7.x'],
  [undefined, '554 relay access denied', 54, 'relaying denied, no enhanced code'],
  ['5.7.1', '550 5.7.1 Relay not permitted', 54, 'relay not permitted'],
  ['5.7.1', '550 5.7.1 Message rejected as spam', 51, 'spam block beats 5.7.x'],
  ['5.7.1', '554 5.7.1 Service unavailable; client host blocked using Spamhaus', 51, 'block list'],
  [undefined, '550 your IP is on a blacklist', 51, 'block list, no enhanced code'],
  ['5.7.1', '550 5.7.1 Policy violation', 50, 'generic policy block'],
  ['5.7.26', '550 5.7.26 DMARC policy', 50, 'authentication policy'],
  ['5.2.1', '550 5.2.1 Mailbox disabled', 25, 'admin failure (mailbox disabled)'],
  ['4.3.0', '451 4.3.0 Try again later', 20, 'soft bounce'],
  ['4.7.1', '450 4.7.1 Greylisted', 20, 'soft bounce (greylisting)'],
  ['5.0.0', '554 5.0.0 Something failed', 40, 'generic bounce'],
  ['5.6.0', '550 5.6.0 Bad content', 40, 'generic bounce (content)'],
  [undefined, '550 Something went wrong', 1, 'undetermined'],
  [undefined, '', 1, 'undetermined, no text'],
];

describe('classifyBounce', () => {
  for (const [enhanced, text, bounceClass, why] of CASES) {
    test(`${enhanced ?? '(no code)'} "${text}" → ${bounceClass} (${why})`, () => {
      assert.equal(classifyBounce(enhanced, text), bounceClass);
    });
  }

  test('the first matching rule wins', () => {
    const rules = [{ text: /mailbox/i, bounceClass: 99 }, ...BOUNCE_RULES];
    assert.equal(classifyBounce('5.2.2', '552 5.2.2 Mailbox full', rules), 99);
    assert.equal(classifyBounce('5.1.1', '550 5.1.1 No such user', rules), 10);
  });

  test('a rule with both patterns needs both to match', () => {
    const rules = [{ enhanced: /^5\.7\.1$/, text: /dkim/i, bounceClass: 77 }];
    assert.equal(classifyBounce('5.7.1', '550 5.7.1 DKIM failed', rules), 77);
    assert.equal(classifyBounce('5.7.1', '550 5.7.1 SPF failed', rules), 1);
    assert.equal(classifyBounce(undefined, '550 DKIM failed', rules), 1);
  });
});
