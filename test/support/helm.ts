/** Real Helm 3 and Helm 4 binaries (installed into .cache by scripts/install-test-deps.sh). */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHART = `${ROOT}charts/hotcert`;

export const HELMS = [
  { name: 'Helm 3', binary: `${ROOT}.cache/helm3/helm` },
  { name: 'Helm 4', binary: `${ROOT}.cache/helm4/helm` },
] as const;

export type K8sObject = Record<string, any> & { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> } };

export function requireHelm(binary: string): void {
  if (!existsSync(binary)) throw new Error(`${binary} is missing: run bash scripts/install-test-deps.sh`);
}

export async function helm(binary: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  requireHelm(binary);
  return run(binary, [...args], { maxBuffer: 32 * 1024 * 1024 });
}

/** `helm template` into objects. */
export async function render(binary: string, args: readonly string[] = [], release = 'hotcert', namespace = 'hotcert'): Promise<K8sObject[]> {
  const { stdout } = await helm(binary, ['template', release, CHART, '--namespace', namespace, ...args]);
  return parseAllDocuments(stdout)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((doc): doc is K8sObject => doc !== null);
}

export function find(objects: readonly K8sObject[], kind: string, nameSuffix = ''): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));
  if (!found) throw new Error(`no ${kind}${nameSuffix ? ` named *${nameSuffix}` : ''} in the render`);
  return found;
}
