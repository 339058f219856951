import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { lookup as dnsLookupAsync } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { refusalFor, type NetworkPolicy } from '../domain/network-policy.js';

export const OPEN_POLICY: NetworkPolicy = { allow: [], deny: [] };

/** A refusal by the network policy: ours, final, never worth a retry. */
export class OutboundPolicyError extends Error {
  readonly outboundPolicy = true;
  constructor(message: string) {
    super(message);
    this.name = 'OutboundPolicyError';
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A dns.lookup that only hands out addresses the policy allows. It runs inside net.connect, so the address
 * checked is the address connected to: a name that resolves to a metadata address on the second lookup
 * (DNS rebinding) is refused all the same.
 */
export function guardedLookup(policy: NetworkPolicy) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) {
        callback(err, []);
        return;
      }
      const list = addresses as LookupAddress[];
      const allowed = list.filter((a) => refusalFor(a.address, policy) === null);
      if (allowed.length === 0) {
        const why = list.length > 0 ? refusalFor(list[0].address, policy) : 'no address';
        callback(Object.assign(new OutboundPolicyError(`refusing to connect to ${hostname}: ${why}`), { code: 'EPOLICY' }), []);
        return;
      }
      if (options.all) callback(null, allowed);
      else callback(null, allowed[0].address, allowed[0].family);
    });
  };
}

/** The process-wide keep-alive agent, with every connection checked against the policy (literal IPs and resolved names). */
export function createPolicyDispatcher(policy: NetworkPolicy): Dispatcher {
  const connector = buildConnector({ lookup: guardedLookup(policy) } as buildConnector.BuildOptions);
  return new Agent({
    keepAliveTimeout: 10_000,
    keepAliveMaxTimeout: 60_000,
    connect: (opts, callback) => {
      const host = opts.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host)) {
        const why = refusalFor(host, policy);
        if (why) {
          callback(new OutboundPolicyError(`refusing to connect: ${why}`), null);
          return;
        }
      }
      connector(opts, callback);
    },
  });
}

/**
 * Registration-time check of a base_url or webhook target: literal addresses, and what the name resolves
 * to now. A name that does not resolve yet is let through; the connect-time check still holds.
 */
export async function urlRefusal(raw: string, policy: NetworkPolicy): Promise<string | null> {
  if (!URL.canParse(raw)) return null; // shape errors are the caller's to report
  const url = new URL(raw);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return refusalFor(host, policy);
  let addresses: LookupAddress[];
  try {
    addresses = await dnsLookupAsync(host, { all: true });
  } catch {
    return null;
  }
  for (const a of addresses) {
    const why = refusalFor(a.address, policy);
    if (why) return `${host} resolves to ${why}`;
  }
  return null;
}

/** A URL as it may appear in errors and logs: its origin only (no credentials, path or query). */
export function originOf(raw: string): string {
  return URL.canParse(raw) ? new URL(raw).origin : '(invalid url)';
}
