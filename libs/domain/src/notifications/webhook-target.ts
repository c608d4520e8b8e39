import { BlockList, isIP } from 'node:net';

/**
 * Where webhooks may go (issue 13 item 6: a PI could register http://169.254.169.254/… and read the
 * answer back). A receiver must be an https URL on a public address. http is allowed only to a
 * loopback address, and only where the deployment enables it for development
 * (WEBHOOK_ALLOW_LOOPBACK_HTTP); private, link-local (the cloud metadata service), shared, multicast
 * and reserved ranges are refused always. The API checks at registration and the sender again at
 * every delivery, on the address it actually connects to (DNS may answer differently later).
 */

/** Loopback: refused unless the deployment allows it for development. */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Never a webhook receiver (IANA special-purpose registries, plus the metadata address). */
const NOT_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // shared address space (carrier-grade NAT)
  ['169.254.0.0', 16], // link-local, including the cloud metadata service 169.254.169.254
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and the broadcast address
] as const) {
  NOT_PUBLIC.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128], // unspecified
  ['64:ff9b::', 96], // NAT64 (embeds an IPv4 address)
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard-only
  ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID, …)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4 (embeds an IPv4 address)
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  NOT_PUBLIC.addSubnet(network, prefix, 'ipv6');
}

export interface WebhookTargetRules {
  /** Development only: http (and https) to a loopback address is allowed. */
  allowLoopbackHttp: boolean;
}

/** Why a receiver at this IP address is refused, or null when it may be sent to. */
export function addressRefusal(address: string, rules: WebhookTargetRules): string | null {
  const family = isIP(address);
  if (family === 0) return `"${address}" is not an IP address`;
  // BlockList checks IPv4-mapped IPv6 addresses (::ffff:127.0.0.1) against the IPv4 ranges too.
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (LOOPBACK.check(address, type)) {
    return rules.allowLoopbackHttp ? null : `${address} is a loopback address`;
  }
  if (NOT_PUBLIC.check(address, type)) {
    return `${address} is a private, link-local or reserved address`;
  }
  return null;
}

/** Why this URL cannot be a receiver before any lookup (scheme, literal address), or null. */
export function webhookUrlRefusal(url: string, rules: WebhookTargetRules): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an absolute https:// URL';
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return 'must be an https:// URL';
  if (parsed.username !== '' || parsed.password !== '') return 'must not carry a user name or password';
  const host = urlHost(parsed);
  if (parsed.protocol === 'http:' && !(rules.allowLoopbackHttp && isLoopbackHost(host))) {
    return rules.allowLoopbackHttp
      ? 'must be an https:// URL (http:// is allowed only to a loopback address here)'
      : 'must be an https:// URL';
  }
  if (isIP(host) !== 0) {
    const refusal = addressRefusal(host, rules);
    if (refusal) return `must reach a public address: ${refusal}`;
  }
  return null;
}

/** The URL's host as an address or name (IPv6 literals without their brackets). */
export function urlHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}
