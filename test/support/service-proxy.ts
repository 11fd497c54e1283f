/**
 * A stand-in for a Kubernetes Service in front of several hotcert replicas, at the TCP level (as
 * kube-proxy is): new connections go round-robin to the replicas whose readiness probe
 * (`GET /readyz` on the metrics port) last answered 200; established connections are left alone
 * when a replica turns unready, as with kube-proxy. TLS passes through untouched.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface Backend {
  readonly port: number;
  readonly metricsPort: number;
}

export class ServiceProxy {
  readonly #server: Server;
  readonly #backends = new Map<Backend, boolean>();
  readonly #sockets = new Set<Socket>();
  readonly #probe: NodeJS.Timeout;
  #next = 0;

  private constructor(server: Server, probeEveryMs: number) {
    this.#server = server;
    this.#probe = setInterval(() => void this.probe(), probeEveryMs);
  }

  static async start(backends: readonly Backend[], { probeEveryMs = 100 }: { probeEveryMs?: number } = {}): Promise<ServiceProxy> {
    let proxy: ServiceProxy | undefined;
    const server = createServer((client) => proxy?.route(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new ServiceProxy(server, probeEveryMs);
    for (const backend of backends) proxy.add(backend);
    await proxy.probe();
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  /** Replicas the Service sends new connections to. */
  get ready(): Backend[] {
    return [...this.#backends].filter(([, ready]) => ready).map(([backend]) => backend);
  }

  add(backend: Backend): void {
    this.#backends.set(backend, false);
  }

  remove(backend: Backend): void {
    this.#backends.delete(backend);
  }

  /** One round of readiness probes (the endpoints controller's view). */
  async probe(): Promise<void> {
    await Promise.all(
      [...this.#backends.keys()].map(async (backend) => {
        let ready = false;
        try {
          const response = await fetch(`http://127.0.0.1:${backend.metricsPort}/readyz`, { signal: AbortSignal.timeout(1_000) });
          ready = response.status === 200;
          await response.body?.cancel();
        } catch {
          ready = false;
        }
        if (this.#backends.has(backend)) this.#backends.set(backend, ready);
      }),
    );
  }

  private route(client: Socket): void {
    const ready = this.ready;
    if (ready.length === 0) {
      client.destroy(); // no endpoints: connection refused, as a Service without ready Pods
      return;
    }
    const backend = ready[this.#next++ % ready.length] as Backend;
    const upstream = connect(backend.port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    }
    client.pipe(upstream).pipe(client);
    client.once('error', () => upstream.destroy());
    upstream.once('error', () => client.destroy());
    client.once('close', () => upstream.end());
    upstream.once('close', () => client.end());
  }

  async close(): Promise<void> {
    clearInterval(this.#probe);
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
