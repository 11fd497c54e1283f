/**
 * The status page on the TLS port (`GET /`): the live certificate rendered on the server, then
 * kept current over the page's own Socket.IO connection. Everything it loads comes from this
 * server, under a strict Content-Security-Policy.
 */
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { LiveCertificate } from './reloader.js';

/** Where the page's own files are served from. */
export const STATUS_ASSET_PREFIX: string = '/hotcert/';

export const STATUS_PAGE_CSP: string = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': STATUS_PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

const ASSET_TYPES: Readonly<Record<string, string>> = {
  'status.js': 'text/javascript; charset=utf-8',
  'status.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

function asset(name: string): string {
  return readFileSync(new URL(`../assets/status/${name}`, import.meta.url), 'utf8');
}

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function countdown(ms: number): string {
  if (ms <= 0) return 'expired';
  const minutes = Math.floor(ms / 60_000);
  if (minutes >= 1440) return `${Math.floor(minutes / 1440)}d ${Math.floor((minutes % 1440) / 60)}h`;
  if (minutes >= 60) return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
  return `${minutes}m ${Math.floor((ms % 60_000) / 1000)}s`;
}

export class StatusPage {
  readonly #template: string;
  readonly #assets: ReadonlyMap<string, string>;
  readonly #version: string;

  constructor(version: string) {
    this.#template = asset('index.html');
    this.#assets = new Map(Object.keys(ASSET_TYPES).map((name) => [name, asset(name)]));
    this.#version = version;
  }

  render(live: LiveCertificate | undefined, nowMs: number): string {
    const values: Record<string, string> = {
      version: this.#version,
      countdown: live ? countdown(Date.parse(live.validTo) - nowMs) : '–',
      subject: live?.subject ?? '–',
      dnsNames: live ? live.dnsNames.join(', ') || '(none)' : '–',
      serialNumber: live?.serialNumber ?? '–',
      fingerprint256: live?.fingerprint256 ?? '–',
      issuer: live?.issuer ?? '–',
      validFrom: live?.validFrom ?? '',
      validTo: live?.validTo ?? '',
      reloadedAt: live?.reloadedAt ?? '',
    };
    return this.#template.replace(/\{\{(\w+)\}\}/g, (_, key: string) => escapeHtml(values[key] ?? ''));
  }

  /** Answers `GET /`; returns false for paths that are not the page's. */
  serve(path: string, res: ServerResponse, live: () => LiveCertificate | undefined): boolean {
    if (path === '/') {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(this.render(live(), Date.now()));
      return true;
    }
    if (!path.startsWith(STATUS_ASSET_PREFIX)) return false;
    const name = path.slice(STATUS_ASSET_PREFIX.length);
    const body = this.#assets.get(name);
    const type = ASSET_TYPES[name];
    if (body === undefined || type === undefined) return false;
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': 'no-cache' });
    res.end(body);
    return true;
  }
}
