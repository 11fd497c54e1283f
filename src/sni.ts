/**
 * Several certificates by host name: one `SNICallback` over a map of prebuilt contexts, swapped
 * entry by entry (never `server.addContext()`, which grows without bound when called repeatedly).
 * A client without SNI, or asking for a name with no certificate of its own, gets the default.
 */
import type { SecureContext } from 'node:tls';

/** `api.example.com` matches itself; `*.example.com` matches one label in front of `example.com`. */
export function matchServerName(names: Iterable<string>, servername: string | false | null | undefined): string | undefined {
  if (!servername) return undefined;
  const wanted = servername.toLowerCase().replace(/\.$/, '');
  const list = [...names];
  if (list.includes(wanted)) return wanted;
  const dot = wanted.indexOf('.');
  if (dot < 0) return undefined;
  const wildcard = `*${wanted.slice(dot)}`;
  return list.includes(wildcard) ? wildcard : undefined;
}

export class SniContexts {
  readonly #contexts = new Map<string, SecureContext>();

  get names(): string[] {
    return [...this.#contexts.keys()];
  }

  /** Replaces the context of `name` in one assignment: handshakes in flight keep the one they got. */
  set(name: string, context: SecureContext): void {
    this.#contexts.set(name, context);
  }

  /** The pair name serving `servername`, if it has its own certificate. */
  match(servername: string | false | null | undefined): string | undefined {
    return matchServerName(this.#contexts.keys(), servername);
  }

  /** For `tls.Server`'s `SNICallback`: an undefined context means the server's default one. */
  readonly callback = (servername: string, done: (error: Error | null, context?: SecureContext) => void): void => {
    const name = this.match(servername);
    done(null, name === undefined ? undefined : this.#contexts.get(name));
  };
}
