/**
 * Numbers of the Sendmail 8 mail filter protocol, version 6 (libmilter's mfdef.h, as Sendmail
 * 8.14+ and Postfix 2.6+ speak it): action flags the filter asks for (SMFIF_*), protocol flags
 * for stages the filter does not want or will not answer (SMFIP_*), and the macro stages of the
 * negotiation reply (SMFIM_*). Values only; wire.ts and session.ts give them meaning.
 */

export const MILTER_VERSION = 6;

/** Actions: what the filter may do to a message at end of message. */
export const SMFIF = {
  ADDHDRS: 0x01,
  CHGBODY: 0x02,
  ADDRCPT: 0x04,
  DELRCPT: 0x08,
  CHGHDRS: 0x10,
  QUARANTINE: 0x20,
  CHGFROM: 0x40,
  ADDRCPT_PAR: 0x80,
  SETSYMLIST: 0x100,
} as const;

/** Protocol flags: NO* = do not send this stage; NR_* = the filter will not reply to it. */
export const SMFIP = {
  NOCONNECT: 0x1,
  NOHELO: 0x2,
  NOMAIL: 0x4,
  NORCPT: 0x8,
  NOBODY: 0x10,
  NOHDRS: 0x20,
  NOEOH: 0x40,
  NR_HDR: 0x80,
  NOUNKNOWN: 0x100,
  NODATA: 0x200,
  SKIP: 0x400,
  RCPT_REJ: 0x800,
  NR_CONN: 0x1000,
  NR_HELO: 0x2000,
  NR_MAIL: 0x4000,
  NR_RCPT: 0x8000,
  NR_DATA: 0x10000,
  NR_UNKN: 0x20000,
  NR_EOH: 0x40000,
  NR_BODY: 0x80000,
  HDR_LEADSPC: 0x100000,
  MDS_256K: 0x10000000,
  MDS_1M: 0x20000000,
} as const;

/** Macro stages, as numbered in the list of the OPTNEG reply (note EOM < EOH). */
export const SMFIM = {
  CONNECT: 0,
  HELO: 1,
  ENVFROM: 2,
  ENVRCPT: 3,
  DATA: 4,
  EOM: 5,
  EOH: 6,
} as const;

export type MacroStage = keyof typeof SMFIM;

/** MTA → filter command codes. */
export const COMMAND_CODES = {
  optneg: 'O',
  connect: 'C',
  helo: 'H',
  mail: 'M',
  rcpt: 'R',
  abort: 'A',
  data: 'T',
  header: 'L',
  eoh: 'N',
  body: 'B',
  eom: 'E',
  quit: 'Q',
  quit_nc: 'K',
  unknown: 'U',
  macro: 'D',
} as const;

/** Filter → MTA response codes. */
export const RESPONSE_CODES = {
  optneg: 'O',
  continue: 'c',
  accept: 'a',
  reject: 'r',
  tempfail: 't',
  discard: 'd',
  skip: 's',
  progress: 'p',
  replycode: 'y',
  addheader: 'h',
  insheader: 'i',
  chgheader: 'm',
  replbody: 'b',
  chgfrom: 'e',
  addrcpt: '+',
  delrcpt: '-',
  addrcpt_par: '2',
  quarantine: 'q',
} as const;

/** Largest body chunk in one SMFIC_BODY or SMFIR_REPLBODY packet (Postfix's MILTER_CHUNK_SIZE). */
export const MAX_BODY_CHUNK = 65_535;
/** Hard ceiling on any packet length we would ever buffer, whatever the configuration says. */
export const ABSOLUTE_MAX_PACKET = 64 * 1024 * 1024;
