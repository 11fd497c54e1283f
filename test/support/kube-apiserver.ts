/**
 * A protocol-faithful STAND-IN for the Kubernetes API server (no real one can run here).
 *
 * HTTPS with its own CA and a bearer token; `GET /api/v1/namespaces/NS/secrets` lists
 * (SecretList with metadata.resourceVersion) and, with `watch=true`, streams chunked JSON lines
 * of ADDED/MODIFIED/DELETED/BOOKMARK/ERROR events from the requested resourceVersion, honouring
 * `timeoutSeconds`, `allowWatchBookmarks` and `fieldSelector=metadata.name=NAME`; a
 * resourceVersion older than the compaction point gets an ERROR event with a 410 Status, as the
 * real server sends it. `POST .../events` and `PATCH .../events/NAME` (JSON, merge or strategic
 * merge patch) are recorded. It is strict where the real server is: no token, 401; wrong path,
 * 404; unsupported field selector or query parameter, 400; an Event whose involvedObject is in
 * another namespace, 422. Faults on demand: drop or stall open watches, answer the next requests
 * with 401/403/500, refuse connections. Every request served is recorded (method, path, query).
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { TestPki } from './certs.js';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly status: number;
  readonly body: string;
  readonly at: number;
}

export interface StoredSecret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string; resourceVersion: string; uid: string };
  type: string;
  data: Record<string, string>;
}

interface HistoryEntry {
  readonly rv: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: StoredSecret;
}

interface OpenWatch {
  readonly res: ServerResponse;
  readonly namespace: string;
  readonly name: string | undefined;
  readonly bookmarks: boolean;
  stalled: boolean;
}

const SECRET_QUERY = new Set(['watch', 'resourceVersion', 'resourceVersionMatch', 'timeoutSeconds', 'allowWatchBookmarks', 'fieldSelector', 'labelSelector', 'limit', 'continue', 'pretty', 'sendInitialEvents']);
const EVENT_QUERY = new Set(['pretty', 'dryRun', 'fieldManager', 'fieldValidation', 'force']);
const PATCH_TYPES = new Set(['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json']);

function status(code: number, reason: string, message: string): object {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

export class KubeApiStandIn {
  readonly requests: RecordedRequest[] = [];
  readonly events = new Map<string, Record<string, unknown>>();
  readonly #secrets = new Map<string, StoredSecret>();
  readonly #history: HistoryEntry[] = [];
  readonly #watches = new Set<OpenWatch>();
  readonly #sockets = new Set<Socket>();
  #rv = 1000;
  #compactedBefore = 0;
  #failures: number[] = [];
  #server: Server;
  #port = 0;

  private constructor(
    readonly pki: TestPki,
    readonly token: string,
    tls: { cert: string; key: string },
  ) {
    this.#server = this.#create(tls);
  }

  static async start(token = `token-${randomUUID()}`): Promise<KubeApiStandIn> {
    const pki = await TestPki.create();
    const leaf = await pki.leaf({ commonName: 'kube-apiserver', dnsNames: ['localhost', 'kubernetes.default.svc'], ipAddresses: ['127.0.0.1'] });
    const standIn = new KubeApiStandIn(pki, token, { cert: leaf.chainPem, key: leaf.keyPem });
    await standIn.listen(0);
    return standIn;
  }

  get port(): number {
    return this.#port;
  }

  get caPem(): string {
    return this.pki.caPem;
  }

  get resourceVersion(): string {
    return String(this.#rv);
  }

  #create(tls: { cert: string; key: string }): Server {
    const server = createServer(tls, (req, res) => this.#handle(req, res));
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    return server;
  }

  listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => {
        this.#port = (this.#server.address() as { port: number }).port;
        resolve();
      });
    });
  }

  /** A kubeconfig file for this stand-in (token auth, its CA), written into `dir`. */
  async writeKubeconfig(dir: string, token = this.token): Promise<string> {
    const path = join(dir, 'kubeconfig');
    const yaml = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: stand-in',
      '  cluster:',
      `    server: https://127.0.0.1:${this.#port}`,
      `    certificate-authority-data: ${Buffer.from(this.caPem).toString('base64')}`,
      'users:',
      '- name: hotcert',
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: stand-in',
      '  context:',
      '    cluster: stand-in',
      '    user: hotcert',
      'current-context: stand-in',
      '',
    ].join('\n');
    await writeFile(path, yaml, { mode: 0o600 });
    return path;
  }

  // --- state --------------------------------------------------------------------------------

  /** Creates or replaces a Secret; open watches see ADDED or MODIFIED. */
  putSecret(namespace: string, name: string, data: Record<string, string | Buffer>, type = 'kubernetes.io/tls'): StoredSecret {
    const key = `${namespace}/${name}`;
    const existing = this.#secrets.get(key);
    const secret: StoredSecret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace, resourceVersion: String(++this.#rv), uid: existing?.metadata.uid ?? randomUUID() },
      type,
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    };
    this.#secrets.set(key, secret);
    this.#publish({ rv: this.#rv, type: existing ? 'MODIFIED' : 'ADDED', object: secret });
    return secret;
  }

  deleteSecret(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const existing = this.#secrets.get(key);
    if (!existing) return;
    this.#secrets.delete(key);
    const object = { ...existing, metadata: { ...existing.metadata, resourceVersion: String(++this.#rv) } };
    this.#publish({ rv: this.#rv, type: 'DELETED', object });
  }

  /** Forgets history: a watch from an older resourceVersion now gets 410 Gone. */
  compact(): void {
    this.#compactedBefore = this.#rv; // older resourceVersions are gone; the current one can still be watched
    this.#history.length = 0;
  }

  /** Bumps the resourceVersion with a change to some other object (other Secrets, elsewhere). */
  bumpUnrelated(): void {
    this.#rv++;
  }

  /** Sends a BOOKMARK with the current resourceVersion to open watches that asked for them. */
  bookmark(): void {
    for (const watch of this.#watches) {
      if (watch.bookmarks && !watch.stalled) this.#send(watch, { type: 'BOOKMARK', object: { kind: 'Secret', apiVersion: 'v1', metadata: { resourceVersion: this.resourceVersion } } });
    }
  }

  /** Ends every open watch stream abruptly (the connection is reset). */
  dropWatches(): void {
    for (const watch of this.#watches) watch.res.socket?.destroy();
    this.#watches.clear();
  }

  /** Ends every open watch stream cleanly, as the server does when timeoutSeconds runs out. */
  endWatches(): void {
    for (const watch of this.#watches) watch.res.end();
    this.#watches.clear();
  }

  /** Open watches stop receiving anything, but stay open. */
  stallWatches(): void {
    for (const watch of this.#watches) watch.stalled = true;
  }

  /** Answers the next `count` requests with `code` (401, 403, 500, …). */
  failNext(code: number, count = 1): void {
    for (let i = 0; i < count; i++) this.#failures.push(code);
  }

  /** Stops listening and cuts every connection: clients see connection refused. */
  async goDown(): Promise<void> {
    this.#watches.clear();
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Listens again on the same port. */
  async comeBack(): Promise<void> {
    await this.listen(this.#port);
  }

  get openWatches(): number {
    return this.#watches.size;
  }

  async close(): Promise<void> {
    await this.goDown();
  }

  /** The distinct requests made, with names generalised: `GET /api/v1/namespaces/NS/secrets watch`. */
  requestShapes(): string[] {
    return [...new Set(this.requests.map((r) => `${r.method} ${r.path.replace(/\/(events|secrets)\/[^/]+$/, '/$1/NAME')}${r.query['watch'] ? ' watch' : ''}`))].sort();
  }

  /**
   * The RBAC verbs those requests need, per resource, as the API server authorizes them:
   * GET of one object is `get`, of a collection `list`, with watch=true `watch`; POST `create`.
   */
  rbacVerbs(): Record<string, string[]> {
    const verbs: Record<string, Set<string>> = {};
    for (const r of this.requests) {
      const match = /^\/api\/v1\/namespaces\/[^/]+\/([a-z]+)(\/[^/]+)?$/.exec(r.path);
      if (!match) continue;
      const resource = match[1] as string;
      const verb =
        r.method === 'GET' ? (r.query['watch'] ? 'watch' : match[2] ? 'get' : 'list') : ({ POST: 'create', PATCH: 'patch', PUT: 'update', DELETE: 'delete' } as Record<string, string>)[r.method] ?? r.method;
      (verbs[resource] ??= new Set()).add(verb);
    }
    return Object.fromEntries(Object.entries(verbs).map(([resource, set]) => [resource, [...set].sort()]));
  }

  // --- protocol -----------------------------------------------------------------------------

  #publish(entry: HistoryEntry): void {
    this.#history.push(entry);
    for (const watch of this.#watches) {
      if (watch.stalled || watch.namespace !== entry.object.metadata.namespace) continue;
      if (watch.name !== undefined && watch.name !== entry.object.metadata.name) continue;
      this.#send(watch, { type: entry.type, object: entry.object });
    }
  }

  #send(watch: OpenWatch, event: object): void {
    if (!watch.res.writableEnded) watch.res.write(`${JSON.stringify(event)}\n`);
  }

  #reply(res: ServerResponse, code: number, body: object): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'https://stand-in');
      const query = Object.fromEntries(url.searchParams);
      const record = (code: number) => this.requests.push({ method: req.method ?? '', path: url.pathname, query, status: code, body, at: Date.now() });
      const reply = (code: number, payload: object) => {
        record(code);
        this.#reply(res, code, payload);
      };
      if (req.headers.authorization !== `Bearer ${this.token}`) return reply(401, status(401, 'Unauthorized', 'Unauthorized'));
      const injected = this.#failures.shift();
      if (injected !== undefined) {
        const reasons: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 500: 'InternalError', 503: 'ServiceUnavailable' };
        return reply(injected, status(injected, reasons[injected] ?? 'InternalError', `injected failure ${injected}`));
      }
      const secrets = /^\/api\/v1\/namespaces\/([a-z0-9-]+)\/secrets$/.exec(url.pathname);
      const secret = /^\/api\/v1\/namespaces\/([a-z0-9-]+)\/secrets\/([a-z0-9.-]+)$/.exec(url.pathname);
      if (secret && req.method === 'GET') {
        const unknown = Object.keys(query).filter((k) => !['pretty', 'resourceVersion'].includes(k));
        if (unknown.length > 0) return reply(400, status(400, 'BadRequest', `unknown query parameters: ${unknown.join(', ')}`));
        const found = this.#secrets.get(`${secret[1]}/${secret[2]}`);
        return found ? reply(200, found) : reply(404, status(404, 'NotFound', `secrets "${secret[2]}" not found`));
      }
      const events = /^\/api\/v1\/namespaces\/([a-z0-9-]+)\/events(?:\/([a-z0-9.-]+))?$/.exec(url.pathname);
      if (secrets && req.method === 'GET') return this.#secretsRequest(secrets[1] as string, query, res, record, reply);
      if (events && req.method === 'POST' && events[2] === undefined) return this.#createEvent(events[1] as string, query, body, reply);
      if (events && req.method === 'PATCH' && events[2] !== undefined) return this.#patchEvent(events[1] as string, events[2], query, req.headers['content-type'], body, reply);
      return reply(404, status(404, 'NotFound', 'the server could not find the requested resource'));
    });
  }

  #secretsRequest(namespace: string, query: Record<string, string>, res: ServerResponse, record: (code: number) => void, reply: (code: number, payload: object) => void): void {
    const unknown = Object.keys(query).filter((k) => !SECRET_QUERY.has(k));
    if (unknown.length > 0) return reply(400, status(400, 'BadRequest', `unknown query parameters: ${unknown.join(', ')}`));
    let name: string | undefined;
    if (query['fieldSelector'] !== undefined) {
      const match = /^metadata\.name=([a-z0-9.-]+)$/.exec(query['fieldSelector']);
      if (!match) return reply(400, status(400, 'BadRequest', `field label not supported: ${query['fieldSelector'].split('=')[0]}`));
      name = match[1];
    }
    const matching = [...this.#secrets.values()].filter((s) => s.metadata.namespace === namespace && (name === undefined || s.metadata.name === name));
    if (query['watch'] !== 'true' && query['watch'] !== '1') {
      return reply(200, { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: this.resourceVersion }, items: matching });
    }
    const from = Number(query['resourceVersion'] ?? '0');
    const timeoutSeconds = query['timeoutSeconds'] === undefined ? 1800 : Number(query['timeoutSeconds']);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 0) return reply(400, status(400, 'BadRequest', 'timeoutSeconds must be a non-negative integer'));
    record(200);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const watch: OpenWatch = { res, namespace, name, bookmarks: query['allowWatchBookmarks'] === 'true', stalled: false };
    if (from !== 0 && from < this.#compactedBefore) {
      res.end(`${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${this.#compactedBefore})`) })}\n`);
      return;
    }
    for (const entry of this.#history) {
      if (entry.rv > from && entry.object.metadata.namespace === namespace && (name === undefined || entry.object.metadata.name === name)) {
        this.#send(watch, { type: entry.type, object: entry.object });
      }
    }
    this.#watches.add(watch);
    const timer = setTimeout(() => res.end(), timeoutSeconds * 1000);
    res.once('close', () => {
      clearTimeout(timer);
      this.#watches.delete(watch);
    });
  }

  #createEvent(namespace: string, query: Record<string, string>, body: string, reply: (code: number, payload: object) => void): void {
    const unknown = Object.keys(query).filter((k) => !EVENT_QUERY.has(k));
    if (unknown.length > 0) return reply(400, status(400, 'BadRequest', `unknown query parameters: ${unknown.join(', ')}`));
    let event: Record<string, any>;
    try {
      event = JSON.parse(body) as Record<string, any>;
    } catch {
      return reply(400, status(400, 'BadRequest', 'the body is not JSON'));
    }
    const name = event['metadata']?.name as string | undefined;
    if (!name || !event['involvedObject'] || !event['reason'] || typeof event['message'] !== 'string') {
      return reply(422, status(422, 'Invalid', 'Event is invalid: metadata.name, involvedObject, reason and message are required'));
    }
    if (event['involvedObject'].namespace !== namespace || (event['metadata'].namespace ?? namespace) !== namespace) {
      return reply(422, status(422, 'Invalid', 'Event is invalid: involvedObject.namespace does not match the namespace of the event'));
    }
    if (this.events.has(name)) return reply(409, status(409, 'AlreadyExists', `events "${name}" already exists`));
    const stored = { ...event, metadata: { ...event['metadata'], namespace, resourceVersion: String(++this.#rv), uid: randomUUID() } };
    this.events.set(name, stored);
    return reply(201, stored);
  }

  #patchEvent(namespace: string, name: string, query: Record<string, string>, contentType: string | undefined, body: string, reply: (code: number, payload: object) => void): void {
    const unknown = Object.keys(query).filter((k) => !EVENT_QUERY.has(k));
    if (unknown.length > 0) return reply(400, status(400, 'BadRequest', `unknown query parameters: ${unknown.join(', ')}`));
    const type = (contentType ?? '').split(';')[0]?.trim() ?? '';
    if (!PATCH_TYPES.has(type)) return reply(415, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${[...PATCH_TYPES].join(', ')}`));
    const event = this.events.get(name);
    if (!event || (event['metadata'] as { namespace: string }).namespace !== namespace) return reply(404, status(404, 'NotFound', `events "${name}" not found`));
    const patch = JSON.parse(body) as unknown;
    if (type === 'application/json-patch+json') {
      for (const op of patch as Array<{ op: string; path: string; value: unknown }>) {
        if (op.op !== 'replace' && op.op !== 'add') return reply(422, status(422, 'Invalid', `unsupported patch op ${op.op}`));
        event[op.path.replace(/^\//, '')] = op.value;
      }
    } else {
      Object.assign(event, patch);
    }
    (event['metadata'] as { resourceVersion: string }).resourceVersion = String(++this.#rv);
    return reply(200, event);
  }
}
