/**
 * Bounce classification into SparkPost's bounce classes, kept as data: the first rule whose
 * enhanced-code pattern and (optional) text pattern match wins. The delivery-engine issue
 * extends this table and lets config add rules; the mechanism stays the same.
 */
export interface BounceRule {
  enhanced?: RegExp;
  text?: RegExp;
  /** SparkPost bounce class, e.g. 10 Invalid Recipient, 21 DNS Failure, 54 Relaying Denied. */
  bounceClass: number;
}

export const BOUNCE_RULES: BounceRule[] = [
  { text: /relay(ing)? (access )?(denied|not permitted)/i, bounceClass: 54 },
  { enhanced: /^5\.1\.10$/, bounceClass: 10 },
  { enhanced: /^5\.1\.[0-6]$/, bounceClass: 10 },
  { enhanced: /^[45]\.2\.2$/, bounceClass: 22 },
  { enhanced: /^[45]\.3\.4$/, bounceClass: 23 },
  { enhanced: /^[45]\.4\.[34]$/, bounceClass: 21 },
  { enhanced: /^[45]\.4\.[27]$/, bounceClass: 24 },
  { text: /spam|blocked|blacklist|blocklist/i, bounceClass: 51 },
  { enhanced: /^5\.7\./, bounceClass: 50 },
  { enhanced: /^5\.2\.1$/, bounceClass: 25 },
  { enhanced: /^4\./, bounceClass: 20 },
  { enhanced: /^5\./, bounceClass: 40 },
];

export function classifyBounce(enhanced: string | undefined, text: string, rules = BOUNCE_RULES): number {
  for (const rule of rules) {
    if (rule.enhanced && !(enhanced && rule.enhanced.test(enhanced))) continue;
    if (rule.text && !rule.text.test(text)) continue;
    return rule.bounceClass;
  }
  return 1;
}
