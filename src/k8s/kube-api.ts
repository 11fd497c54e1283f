/**
 * The few Kubernetes API calls hotcert makes, over @kubernetes/client-node (loaded lazily: a
 * file-only deployment never pays for it). Version 1.4 is used on purpose: 2.x depends on
 * undici 8, which crashes at import on Node.js 20; 1.4 runs on Node 20 and 24 unchanged.
 */
import { existsSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { ConfigError } from '../errors.js';

export interface SecretObject {
  readonly metadata?: { readonly name?: string; readonly namespace?: string; readonly resourceVersion?: string; readonly uid?: string };
  readonly type?: string;
  readonly data?: Readonly<Record<string, string>>;
}

export interface SecretList {
  readonly resourceVersion: string;
  readonly items: readonly SecretObject[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** A `Status` object, as the API server sends in an ERROR watch event or an error response. */
export interface StatusObject {
  readonly kind?: string;
  readonly code?: number;
  readonly reason?: string;
  readonly message?: string;
}

export interface WatchHandle {
  abort(): void;
}

export interface JsonPatchOperation {
  readonly op: 'replace' | 'add';
  readonly path: string;
  readonly value: unknown;
}

/** A failed API call: the HTTP status when there was one (401, 403, 410, 500, …). */
export class KubeApiError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status: number | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KubeApiError';
    this.status = status;
  }
}

export interface KubeApi {
  /** `GET /api/v1/namespaces/NS/secrets/NAME`; `undefined` when it does not exist. */
  getSecret(namespace: string, name: string): Promise<SecretObject | undefined>;
  /** `GET /api/v1/namespaces/NS/secrets?fieldSelector=metadata.name=NAME` */
  listSecrets(namespace: string, name: string): Promise<SecretList>;
  /** The same with `watch=true`, from `resourceVersion`, with bookmarks. `onDone` gets null when the server closed the stream. */
  watchSecrets(
    namespace: string,
    name: string,
    resourceVersion: string,
    timeoutSeconds: number,
    onEvent: (type: WatchEventType, object: unknown) => void,
    onDone: (error: unknown) => void,
  ): Promise<WatchHandle>;
  /** `POST /api/v1/namespaces/NS/events`; resolves with the created Event's name. */
  createEvent(namespace: string, event: object): Promise<string>;
  /** `PATCH /api/v1/namespaces/NS/events/NAME` with a JSON patch. */
  patchEvent(namespace: string, name: string, patch: readonly JsonPatchOperation[]): Promise<void>;
}

export interface KubeConfigSource {
  /** `KUBERNETES_SERVICE_HOST` is set and the service account token is mounted. */
  readonly inCluster: boolean;
  /** `KUBECONFIG` (the first file of a colon-separated list), when set. */
  readonly kubeconfig: string | undefined;
}

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export function kubeConfigSource(env: Readonly<Record<string, string | undefined>>): KubeConfigSource {
  return {
    inCluster: Boolean(env['KUBERNETES_SERVICE_HOST']) && existsSync(SERVICE_ACCOUNT_TOKEN),
    kubeconfig: env['KUBECONFIG']?.split(':').find((path) => path.length > 0),
  };
}

/** In-cluster configuration when running in a pod, else `KUBECONFIG`, else `~/.kube/config`. */
export async function loadKubeConfig(source: KubeConfigSource): Promise<KubeConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  try {
    if (source.inCluster) kc.loadFromCluster();
    else if (source.kubeconfig) kc.loadFromFile(source.kubeconfig);
    else kc.loadFromDefault();
  } catch (error) {
    throw new ConfigError([`Kubernetes API access: cannot load ${source.inCluster ? 'the in-cluster configuration' : (source.kubeconfig ?? '~/.kube/config')}: ${(error as Error).message}`]);
  }
  if (!kc.getCurrentCluster()) {
    throw new ConfigError(['Kubernetes API access: no cluster configured (run in a pod with a service account, or set KUBECONFIG)']);
  }
  return kc;
}

function statusOf(error: unknown): number | undefined {
  const candidate = error as { code?: unknown; statusCode?: unknown };
  if (typeof candidate.code === 'number') return candidate.code;
  if (typeof candidate.statusCode === 'number') return candidate.statusCode;
  return undefined;
}

function wrap(action: string, error: unknown): KubeApiError {
  const status = statusOf(error);
  const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as { code?: unknown }).code;
  const detail = status !== undefined ? `HTTP ${status}` : typeof cause === 'string' ? cause : (error as Error).message;
  return new KubeApiError(`${action}: ${detail}`, status, { cause: error });
}

/** The API over a loaded KubeConfig. */
export async function createKubeApi(kc: KubeConfig): Promise<KubeApi> {
  const { CoreV1Api, Watch } = await import('@kubernetes/client-node');
  const core = kc.makeApiClient(CoreV1Api);
  const watch = new Watch(kc);
  const fieldSelector = (name: string) => `metadata.name=${name}`;
  return {
    async getSecret(namespace, name) {
      try {
        return (await core.readNamespacedSecret({ namespace, name })) as SecretObject;
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw wrap(`get Secret ${namespace}/${name}`, error);
      }
    },
    async listSecrets(namespace, name) {
      try {
        const list = await core.listNamespacedSecret({ namespace, fieldSelector: fieldSelector(name) });
        return { resourceVersion: list.metadata?.resourceVersion ?? '', items: list.items as SecretObject[] };
      } catch (error) {
        throw wrap(`list Secret ${namespace}/${name}`, error);
      }
    },
    async watchSecrets(namespace, name, resourceVersion, timeoutSeconds, onEvent, onDone) {
      const controller = await watch.watch(
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
        { fieldSelector: fieldSelector(name), resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
        (type: string, object: unknown) => onEvent(type as WatchEventType, object),
        (error: unknown) => onDone(error ? wrap(`watch Secret ${namespace}/${name}`, error) : null),
      );
      return { abort: () => controller.abort() };
    },
    async createEvent(namespace, event) {
      try {
        const created = await core.createNamespacedEvent({ namespace, body: event as never });
        return created.metadata?.name ?? '';
      } catch (error) {
        throw wrap(`create Event in ${namespace}`, error);
      }
    },
    async patchEvent(namespace, name, patch) {
      try {
        await core.patchNamespacedEvent({ namespace, name, body: patch as never });
      } catch (error) {
        throw wrap(`patch Event ${namespace}/${name}`, error);
      }
    },
  };
}
