/**
 * Which browser pages may open a Socket.IO connection. A browser attaches its user's client
 * certificate (mTLS) and cookies to a connection any page opens, so without a check a page on
 * another site could talk to hotcert as the user (cross-site WebSocket hijacking). Browsers say
 * which page opened a connection in `Origin`; clients that are not browsers send none and are not
 * affected.
 */
import type { IncomingMessage } from 'node:http';

export interface OriginPolicyOptions {
  /** Origins allowed (`https://app.example.com`), or `*` for any; `undefined` for the default rule. */
  readonly allowedOrigins: readonly string[] | undefined;
  /** With no list: allow only pages served by hotcert itself (same origin). Else any origin. */
  readonly sameOriginByDefault: boolean;
}

/** Lower-case scheme://host[:port], as browsers send it, without a trailing slash. */
export function normaliseOrigin(origin: string): string {
  return origin.trim().replace(/\/+$/, '').toLowerCase();
}

/** Whether a request may open a connection; `undefined` when every origin is allowed. */
export function originPolicy({ allowedOrigins, sameOriginByDefault }: OriginPolicyOptions): ((request: IncomingMessage) => boolean) | undefined {
  if (allowedOrigins?.includes('*')) return undefined;
  if (allowedOrigins === undefined && !sameOriginByDefault) return undefined;
  const allowed = new Set((allowedOrigins ?? []).map(normaliseOrigin));
  return (request) => {
    const origin = request.headers.origin;
    if (origin === undefined) return true;
    const normalised = normaliseOrigin(origin);
    if (allowed.has(normalised)) return true;
    if (allowedOrigins !== undefined) return false;
    const host = request.headers.host;
    return host !== undefined && normalised === `https://${host.toLowerCase()}`;
  };
}
