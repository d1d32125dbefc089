/** The Received trace header (RFC 5321 section 4.4) that Sluice prepends to every message it accepts. */
export interface TraceInfo {
  helo: string;
  clientIp: string;
  hostname: string;
  /** ESMTP, ESMTPS (TLS), ESMTPA (AUTH), ESMTPSA (both): RFC 3848. */
  secure: boolean;
  authenticated: boolean;
  esmtp: boolean;
  id: string;
  rcpts: string[];
  now: Date;
}

export function receivedHeader(t: TraceInfo): Buffer {
  const protocol = `${t.esmtp ? 'ESMTP' : 'SMTP'}${t.secure ? 'S' : ''}${t.authenticated ? 'A' : ''}`;
  const forClause = t.rcpts.length === 1 ? `\r\n\tfor <${t.rcpts[0]}>` : '';
  const helo = t.helo.replace(/[^\x21-\x7e]/g, '?').slice(0, 255) || 'unknown';
  return Buffer.from(
    `Received: from ${helo} ([${t.clientIp}])\r\n\tby ${t.hostname} (Sluice) with ${protocol} id ${t.id}${forClause};\r\n\t${rfc5322Date(t.now)}\r\n`,
  );
}

export function rfc5322Date(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}
