/**
 * A minimal DER reader: enough of ASN.1 to walk a CRL and a certificate's TBS structure. Pure; it
 * throws `DerError` on anything malformed (lengths past the end, indefinite lengths, long tags).
 */

export class DerError extends Error {
  override readonly name = 'DerError';
}

/** One DER element: its tag byte and where its header and contents sit in the buffer. */
export interface DerNode {
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset just past the element. */
  readonly end: number;
}

export const DerTag = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OID: 0x06,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  /** `[0]` constructed, context-specific. */
  CONTEXT_0: 0xa0,
} as const;

/** Reads the element that starts at `offset`, which must end at or before `limit`. */
export function readNode(buffer: Buffer, offset: number, limit: number = buffer.length): DerNode {
  if (offset + 2 > limit) throw new DerError(`truncated element at byte ${offset}`);
  const tag = buffer[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tags are not supported (byte ${offset})`);
  let length = buffer[offset + 1] as number;
  let contentStart = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4) throw new DerError(`unsupported length encoding at byte ${offset}`);
    if (contentStart + bytes > limit) throw new DerError(`truncated length at byte ${offset}`);
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + (buffer[contentStart + i] as number);
    contentStart += bytes;
  }
  const end = contentStart + length;
  if (end > limit) throw new DerError(`element at byte ${offset} runs past its container`);
  return { tag, start: offset, contentStart, end };
}

/** The elements inside a constructed element, in order. */
export function childrenOf(buffer: Buffer, node: DerNode): DerNode[] {
  const children: DerNode[] = [];
  for (let offset = node.contentStart; offset < node.end; ) {
    const child = readNode(buffer, offset, node.end);
    children.push(child);
    offset = child.end;
  }
  return children;
}

export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (node?.tag !== tag) throw new DerError(`expected ${what}`);
  return node;
}

export function contents(buffer: Buffer, node: DerNode): Buffer {
  return buffer.subarray(node.contentStart, node.end);
}

export function whole(buffer: Buffer, node: DerNode): Buffer {
  return buffer.subarray(node.start, node.end);
}

/** An OBJECT IDENTIFIER in dotted form. */
export function readOid(buffer: Buffer, node: DerNode): string {
  const bytes = contents(buffer, expectTag(node, DerTag.OID, 'an OBJECT IDENTIFIER'));
  const parts: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      parts.push(value);
      value = 0;
    }
  }
  const first = parts.shift() ?? 0;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...parts].join('.');
}

/** UTCTime or GeneralizedTime (in `Z` form, as RFC 5280 requires) as epoch milliseconds. */
export function readTime(buffer: Buffer, node: DerNode): number {
  const text = contents(buffer, node).toString('latin1');
  const match =
    node.tag === DerTag.UTC_TIME
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
      : node.tag === DerTag.GENERALIZED_TIME
        ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/.exec(text)
        : null;
  if (!match) throw new DerError(`expected a UTCTime or GeneralizedTime, got "${text.slice(0, 20)}"`);
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  const year = node.tag === DerTag.UTC_TIME ? ((y as number) >= 50 ? 1900 : 2000) + (y as number) : (y as number);
  return Date.UTC(year, (mo as number) - 1, d as number, h as number, mi as number, s as number);
}

/** An INTEGER as upper-case hex without leading zero bytes, as `X509Certificate#serialNumber` prints it. */
export function readSerial(buffer: Buffer, node: DerNode): string {
  let bytes = contents(buffer, expectTag(node, DerTag.INTEGER, 'an INTEGER'));
  while (bytes.length > 1 && bytes[0] === 0) bytes = bytes.subarray(1);
  return bytes.toString('hex').toUpperCase();
}

/** Serial numbers compare by value: `0A` and `A` are the same number. */
export function normaliseSerial(serial: string): string {
  return serial.toUpperCase().replace(/^0+(?=.)/, '');
}

/**
 * The DER of a certificate's subject Name (the sixth or fifth element of the TBSCertificate,
 * depending on whether the version is present), to match a CRL's issuer against it.
 */
export function certificateSubjectDer(raw: Buffer): Buffer {
  const certificate = expectTag(readNode(raw, 0), DerTag.SEQUENCE, 'a Certificate SEQUENCE');
  const tbs = expectTag(childrenOf(raw, certificate)[0], DerTag.SEQUENCE, 'a TBSCertificate SEQUENCE');
  const fields = childrenOf(raw, tbs);
  const offset = fields[0]?.tag === DerTag.CONTEXT_0 ? 1 : 0;
  return whole(raw, expectTag(fields[offset + 4], DerTag.SEQUENCE, 'the subject Name'));
}
