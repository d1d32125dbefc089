/**
 * Bounce classification into SparkPost's bounce classes, kept as data. A rule names up to three
 * patterns: `code` (the basic reply code, "" when the text carries none, as in an out-of-band
 * message), `enhanced` (the RFC 3463 code, "" when absent) and `text` (the whole reply,
 * case-insensitive); the first rule whose patterns all match wins, else class 1 (undetermined).
 * Config rules (`bounces.rules`) are compiled by the same function and go in front of these.
 *
 * Classes: 1 undetermined; 10 invalid recipient; 20 soft bounce; 21 DNS failure; 22 mailbox full;
 * 23 too large; 24 timeout; 25 admin failure; 30 generic bounce, no RCPT; 40 generic bounce;
 * 50 mail block; 51 spam block; 52 spam content; 53 prohibited attachment; 54 relaying denied;
 * 60 auto-reply; 70 transient failure; 80 subscribe; 90 unsubscribe; 100 challenge-response.
 * Hard bounces (the recipient should be suppressed): 10, 30 and 90.
 */

export const BOUNCE_CLASSES = [
  1, 10, 20, 21, 22, 23, 24, 25, 30, 40, 50, 51, 52, 53, 54, 60, 70, 80, 90, 100,
];
export const HARD_BOUNCE_CLASSES = [10, 30, 90];

/** A rule as data (JSON/YAML): regular expression sources. */
export interface BounceRuleSpec {
  code?: string;
  enhanced?: string;
  text?: string;
  class: number;
}

/** A compiled rule. */
export interface BounceRule {
  code?: RegExp;
  enhanced?: RegExp;
  text?: RegExp;
  bounceClass: number;
}

const INVALID_RECIPIENT = [
  'user unknown',
  'unknown (user|recipient)',
  'no such (user|recipient|mailbox|address)',
  'does not exist',
  "doesn[’']t have an? \\S+ account",
  'mailbox (not found|unavailable|does not exist)',
  'recipient ?not ?found',
  'invalid (recipient|mailbox|address)',
  'recipient address rejected',
  'not a valid (mailbox|recipient)',
  'address unknown',
].join('|');

export const BOUNCE_RULE_SPECS: BounceRuleSpec[] = [
  // Out-of-band messages (no SMTP code at all): auto-replies and list or challenge requests.
  { code: '^$', enhanced: '^$', text: 'auto.?(reply|respon)|out of (the )?office|on vacation', class: 60 },
  { code: '^$', enhanced: '^$', text: '\\bunsubscribe\\b', class: 90 },
  { code: '^$', enhanced: '^$', text: '\\bsubscribe\\b', class: 80 },
  {
    code: '^$',
    enhanced: '^$',
    text: 'challenge|verify (that )?you are (a )?human|confirm your',
    class: 100,
  },
  { text: 'relay(ing)? (access )?(denied|not permitted)|not permitted to relay|unable to relay', class: 54 },
  { enhanced: '^5\\.1\\.10$', class: 10 },
  { enhanced: '^5\\.1\\.[0-6]$', class: 10 },
  { code: '^5', text: 'no valid recipients|no recipients (were )?(given|specified)|need rcpt', class: 30 },
  { enhanced: '^[45]\\.2\\.2$', class: 22 },
  { text: 'over quota|quota exceeded|mailbox (is )?full|insufficient (disk |storage )?space', class: 22 },
  { enhanced: '^[45]\\.3\\.4$', class: 23 },
  { text: 'size limit|message (is )?too (large|big)|exceeded .*size', class: 23 },
  { enhanced: '^[45]\\.4\\.[34]$', class: 21 },
  { enhanced: '^[45]\\.4\\.[27]$', class: 24 },
  { enhanced: '^4\\.4\\.1$', class: 70 },
  { code: '^5', text: 'attachment|potential security issue|virus|malware|executable', class: 53 },
  {
    text: 'spam content|content (is |was )?(rejected|considered|filter)|detected as spam|spam score',
    class: 52,
  },
  // Sender authentication (SPF, DKIM, DMARC, reverse DNS) is a mail block, even when it says "blocked".
  { enhanced: '^5\\.7\\.(2[3-9]|30)$', class: 50 },
  { text: 'unauthenticated|dmarc|spf|dkim|reverse dns|ptr record', class: 50 },
  {
    text: 'spam|blocked|blacklist|block ?list|deny ?list|spamhaus|unsolicited|complaints|banned|reputation|not accepted from this ip',
    class: 51,
  },
  { enhanced: '^5\\.7\\.', class: 50 },
  { enhanced: '^5\\.2\\.1$', class: 25 },
  { text: '(mailbox|account) (is |has been )?disabled', class: 25 },
  // Invalid recipients in words: replies without an enhanced code, or with an unhelpful one.
  { code: '^5', text: INVALID_RECIPIENT, class: 10 },
  { code: '^421$', class: 70 },
  { enhanced: '^4\\.', class: 20 },
  { enhanced: '^5\\.', class: 40 },
];

/** Compiles rule specs; throws a message naming the bad rule. */
export function compileBounceRules(specs: BounceRuleSpec[]): BounceRule[] {
  return specs.map((spec, i) => {
    const compile = (source: string | undefined, what: string) => {
      if (source === undefined) return undefined;
      try {
        return new RegExp(source, 'i');
      } catch (error) {
        throw new Error(`bounce rule ${i}: bad ${what} pattern: ${(error as Error).message}`);
      }
    };
    const rule: BounceRule = { bounceClass: spec.class };
    const code = compile(spec.code, 'code');
    const enhanced = compile(spec.enhanced, 'enhanced');
    const text = compile(spec.text, 'text');
    if (code) rule.code = code;
    if (enhanced) rule.enhanced = enhanced;
    if (text) rule.text = text;
    return rule;
  });
}

export const BOUNCE_RULES: BounceRule[] = compileBounceRules(BOUNCE_RULE_SPECS);

/** The built-in rules behind the extra ones (config rules win). */
export function bounceRulesWith(extra: BounceRuleSpec[]): BounceRule[] {
  return extra.length === 0 ? BOUNCE_RULES : [...compileBounceRules(extra), ...BOUNCE_RULES];
}

/** The class of a reply: `text` is the whole reply ("550 5.1.1 ..."), its first three digits the code. */
export function classifyBounce(enhanced: string | undefined, text: string, rules = BOUNCE_RULES): number {
  const code = /^\s*([2-5]\d\d)\b/.exec(text)?.[1] ?? '';
  // A multi-line reply splits sentences: "...a potential\n552-5.7.0 security issue" reads as one line.
  text = text.replace(/\r?\n\d{3}[- ](?:\d\.\d{1,3}\.\d{1,3} )?/g, ' ');
  for (const rule of rules) {
    if (rule.code && !rule.code.test(code)) continue;
    if (rule.enhanced && !rule.enhanced.test(enhanced ?? '')) continue;
    if (rule.text && !rule.text.test(text)) continue;
    return rule.bounceClass;
  }
  return 1;
}

export function isHardBounce(bounceClass: number): boolean {
  return HARD_BOUNCE_CLASSES.includes(bounceClass);
}
