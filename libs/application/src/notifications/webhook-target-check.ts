import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { addressRefusal, urlHost, webhookUrlRefusal, type WebhookTargetRules } from '#domain';

/**
 * Why a webhook URL may not be registered, or null (a DI token: the API binds DNS, unit specs a
 * resolver of their own).
 */
export abstract class WebhookTargetCheck {
  abstract refusal(url: string): Promise<string | null>;
}

/** Every address a host name resolves to, as node:dns answers (one lookup, all families). */
export type HostResolver = (host: string) => Promise<string[]>;

const systemResolver: HostResolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((answer) => answer.address);

/**
 * The URL rules of libs/domain (webhook-target), then every address the host resolves to now must
 * be allowed: a name with one private answer is refused, since which answer a later connection
 * gets is the resolver's choice. A name that does not resolve now is not refused here. The sender checks again at each delivery on the address it
 * connects to, so a name that later resolves elsewhere (DNS rebinding) is refused there.
 */
export class ResolvingWebhookTargetCheck extends WebhookTargetCheck {
  constructor(
    private readonly rules: WebhookTargetRules,
    private readonly resolve: HostResolver = systemResolver,
  ) {
    super();
  }

  override async refusal(url: string): Promise<string | null> {
    const refusal = webhookUrlRefusal(url, this.rules);
    if (refusal) return refusal;
    const host = urlHost(new URL(url));
    if (isIP(host) !== 0) return null;
    let addresses: string[];
    try {
      addresses = await this.resolve(host);
    } catch {
      // Not resolvable from here now (a receiver whose DNS is not yet published, a resolver
      // outage): nothing to refuse yet. Every delivery resolves and checks again before it connects.
      return null;
    }
    for (const address of addresses) {
      const refused = addressRefusal(address, this.rules);
      if (refused) return `must reach a public address: ${host} resolves to ${refused}`;
    }
    return null;
  }
}
