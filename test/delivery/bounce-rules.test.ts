/**
 * Specifies bounce classification into SparkPost's bounce classes: a table of peer replies
 * (enhanced code and text) and the class each gets. The first matching rule wins, so text rules
 * for relaying and spam blocks beat the generic enhanced-code rules; a reply with no enhanced code
 * is classified by its text or, failing that, as 1 (undetermined). Custom rule tables are honoured.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BOUNCE_CLASSES,
  BOUNCE_RULES,
  bounceRulesWith,
  classifyBounce,
  compileBounceRules,
  isHardBounce,
} from '../../src/delivery/bounce-rules.js';

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

/** Replies as big mailbox providers send them (multi-line replies joined with newlines, as nodemailer does). */
const REAL_WORLD: Array<[who: string, enhanced: string | undefined, text: string, bounceClass: number]> = [
  [
    'Gmail, no such user',
    '5.1.1',
    "550-5.1.1 The email account that you tried to reach does not exist. Please try\n550-5.1.1 double-checking the recipient's email address for typos or\n550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser x1si123 - gsmtp",
    10,
  ],
  [
    'Gmail, over quota',
    '5.2.2',
    '552-5.2.2 The email account that you tried to reach is over quota. Please direct\n552 5.2.2 the recipient to https://support.google.com/mail/?p=OverQuotaPerm - gsmtp',
    22,
  ],
  [
    'Gmail, over quota (temporary)',
    '4.2.2',
    '452-4.2.2 The email account that you tried to reach is over quota and inactive. - gsmtp',
    22,
  ],
  [
    'Gmail, message too big',
    '5.3.4',
    "552-5.3.4 Your message exceeded Google's message size limits. Please visit\n552 5.3.4 https://support.google.com/mail/?p=MaxSizeError - gsmtp",
    23,
  ],
  [
    'Gmail, unauthenticated sender',
    '5.7.26',
    '550-5.7.26 This mail is unauthenticated, which poses a security risk to the\n550-5.7.26 sender and Gmail users, and has been blocked. The sender must\n550 5.7.26 authenticate with at least one of SPF or DKIM. - gsmtp',
    50,
  ],
  [
    'Gmail, likely unsolicited',
    '5.7.1',
    '550-5.7.1 [192.0.2.1] Our system has detected that this message is likely\n550-5.7.1 unsolicited mail. To reduce the amount of spam sent to Gmail, this\n550 5.7.1 message has been blocked. - gsmtp',
    51,
  ],
  [
    'Gmail, rate limited for spam',
    '4.7.0',
    '421-4.7.0 [192.0.2.1] Our system has detected an unusual rate of\n421-4.7.0 unsolicited mail originating from your IP address. To protect our\n421 4.7.0 users from spam, mail sent from your IP address has been temporarily rate limited. - gsmtp',
    51,
  ],
  [
    'Gmail, dangerous attachment',
    '5.7.0',
    '552-5.7.0 This message was blocked because its content presents a potential\n552-5.7.0 security issue. Please visit https://support.google.com/mail/?p=BlockedMessage - gsmtp',
    53,
  ],
  [
    'Gmail, account disabled',
    '5.2.1',
    '550-5.2.1 The email account that you tried to reach is disabled. - gsmtp',
    25,
  ],
  [
    'Outlook.com, mailbox unavailable',
    '5.5.0',
    '550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [DB5EUR03FT010.eop-EUR03.prod.protection.outlook.com]',
    10,
  ],
  [
    'Exchange Online, recipient not found',
    '5.1.10',
    '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
    10,
  ],
  [
    'Exchange Online, directory-based edge blocking',
    '5.4.1',
    '550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [AM0PR01MB1234.eurprd01.prod.exchangelabs.com]',
    10,
  ],
  [
    'Outlook.com, IP on block list',
    '5.7.1',
    "550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).",
    51,
  ],
  [
    'Exchange Online, banned sending IP',
    '5.7.606',
    '550 5.7.606 Access denied, banned sending IP [192.0.2.1]. To request removal from this list please visit https://sender.office.com/',
    51,
  ],
  [
    'Outlook.com, server busy',
    '4.7.500',
    '451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (S77719)',
    20,
  ],
  [
    'Yahoo, no such account (no enhanced code)',
    undefined,
    "554 delivery error: dd This user doesn't have a yahoo.com account (nobody@yahoo.com) [0] - mta1234.mail.bf1.yahoo.com",
    10,
  ],
  [
    'Yahoo, disabled mailbox',
    undefined,
    '554 delivery error: dd Sorry your message to someone@yahoo.com cannot be delivered. This mailbox is disabled (554.30). - mta1234.mail.gq1.yahoo.com',
    25,
  ],
  [
    'Yahoo, deferred for complaints',
    '4.7.0',
    '421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes',
    51,
  ],
  [
    'Yahoo, Spamhaus listing',
    '5.7.1',
    "553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.1, because the ip is in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes",
    51,
  ],
  [
    'Postfix, user unknown',
    '5.1.1',
    '550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in virtual mailbox table',
    10,
  ],
  ['Postfix, relay denied', '5.7.1', '554 5.7.1 <x@example.org>: Relay access denied', 54],
  ['Postfix, greylisted', '4.7.1', '450 4.7.1 <x@example.org>: Recipient address rejected: Greylisted', 20],
  ['Postfix, no valid recipients', '5.5.1', '554 5.5.1 Error: no valid recipients', 30],
  ['Exim, no enhanced code', undefined, '550 Unknown user', 10],
  ['content filter', '5.7.1', '554 5.7.1 Message rejected: spam content detected', 52],
  ['service not available', undefined, '421 Service not available, closing transmission channel', 70],
  ['connection failure (no peer reply)', '4.4.1', 'connection to mx.example.org[192.0.2.1]:25 failed', 70],
  ['auto-reply (out of band)', undefined, 'I am out of the office until Monday', 60],
  ['unsubscribe request (out of band)', undefined, 'Please unsubscribe me from this list', 90],
  ['subscribe request (out of band)', undefined, 'subscribe', 80],
  [
    'challenge-response (out of band)',
    undefined,
    'Please verify that you are a human before I accept your mail',
    100,
  ],
  ['unsubscribe in a 5xx reply is not class 90', '5.0.0', '550 5.0.0 Use the unsubscribe link', 40],
];

describe('classifyBounce on real-world replies', () => {
  for (const [who, enhanced, text, bounceClass] of REAL_WORLD) {
    test(`${who} → ${bounceClass}`, () => {
      assert.equal(classifyBounce(enhanced, text), bounceClass);
    });
  }
  test('every class the table produces is a SparkPost class, and 10, 30, 90 are the hard ones', () => {
    for (const rule of BOUNCE_RULES) assert.ok(BOUNCE_CLASSES.includes(rule.bounceClass));
    assert.deepEqual(
      BOUNCE_CLASSES.filter((c) => isHardBounce(c)),
      [10, 30, 90],
    );
  });
});

describe('rules from config', () => {
  test('config rules come first and use the same data shape', () => {
    const rules = bounceRulesWith([{ text: 'mailbox unavailable', code: '^5', class: 40 }]);
    assert.equal(
      classifyBounce('5.5.0', '550 5.5.0 Requested action not taken: mailbox unavailable', rules),
      40,
    );
    assert.equal(classifyBounce('5.1.1', '550 5.1.1 No such user', rules), 10);
  });
  test('a bad pattern is reported with its rule number', () => {
    assert.throws(
      () => compileBounceRules([{ class: 10 }, { text: '(', class: 10 }]),
      /bounce rule 1: bad text pattern/,
    );
  });
});

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
