import { isIP } from 'node:net';

/**
 * Where outbound requests (service base_urls, webhook targets) may connect (issue 11 item 7/9). Pure: it
 * judges addresses; the engine applies it at registration and at connect time (after DNS), so a name
 * cannot resolve around it.
 */
export interface NetworkPolicy {
  /** When non-empty, only these ranges are allowed (still minus deny and the built-in refusals). */
  allow: readonly Cidr[];
  deny: readonly Cidr[];
}

export interface Cidr {
  text: string;
  family: 4 | 6;
  bits: bigint;
  prefix: number;
}

/** Link-local and cloud metadata: never a service. Loopback and private ranges stay allowed (tests, demo, LAN). */
export const ALWAYS_REFUSED = [
  '169.254.0.0/16', // IPv4 link-local, incl. 169.254.169.254 (AWS, GCP, Azure, OpenStack metadata)
  'fe80::/10', // IPv6 link-local
  'fd00:ec2::254/128', // AWS metadata over IPv6
  '100.100.100.200/32', // Alibaba Cloud metadata
  '0.0.0.0/8', // "this network": connects to the local host on some systems
  '::/128',
].map((c) => parseCidr(c) as Cidr);

export function parseCidr(text: string): Cidr | null {
  const [addr, prefixText] = text.trim().split('/');
  const family = isIP(addr);
  if (family === 0) return null;
  const width = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? width : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > width) return null;
  return { text: text.trim(), family: family as 4 | 6, bits: toBits(addr, family as 4 | 6), prefix };
}

/** Parses a comma-separated CIDR list; returns the entries that do not parse as `bad`. */
export function parseCidrList(raw: string | undefined): { cidrs: Cidr[]; bad: string[] } {
  const cidrs: Cidr[] = [];
  const bad: string[] = [];
  for (const part of (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const c = parseCidr(part);
    if (c) cidrs.push(c);
    else bad.push(part);
  }
  return { cidrs, bad };
}

/** Why `address` (an IP literal) may not be connected to, or null when it may. */
export function refusalFor(address: string, policy: NetworkPolicy): string | null {
  let family = isIP(address);
  if (family === 0) return `${address} is not an IP address`;
  let addr = address;
  // ::ffff:169.254.169.254 is the IPv4 address in disguise.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (family === 6 && mapped) {
    addr = mapped[1];
    family = 4;
  }
  const bits = toBits(addr, family as 4 | 6);
  const hit = (c: Cidr) => c.family === family && inRange(bits, c);
  const builtIn = ALWAYS_REFUSED.find(hit);
  if (builtIn)
    return `${address} is a link-local, cloud-metadata or unspecified address (${builtIn.text}); outbound requests never go there`;
  const denied = policy.deny.find(hit);
  if (denied) return `${address} is in PROVISIONER_OUTBOUND_DENY (${denied.text})`;
  if (policy.allow.length > 0 && !policy.allow.some(hit)) return `${address} is not in PROVISIONER_OUTBOUND_ALLOW`;
  return null;
}

function inRange(bits: bigint, c: Cidr): boolean {
  const width = c.family === 4 ? 32n : 128n;
  const shift = width - BigInt(c.prefix);
  return bits >> shift === c.bits >> shift;
}

function toBits(addr: string, family: 4 | 6): bigint {
  if (family === 4) return addr.split('.').reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n);
  let text = addr.toLowerCase().split('%')[0];
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two hextets.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const v = toBits(quad[1], 4);
    text = `${text.slice(0, -quad[1].length)}${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

/** An absolute http(s) URL: what an endpoint reported by a service may be (never javascript:, data:, file:). */
export function isWebUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const { protocol } = new URL(value);
  return protocol === 'http:' || protocol === 'https:';
}
