/**
 * The ways certificate files change on disk: the kubelet's atomic swap, and plain writers that
 * rewrite in place, rename over, delete and recreate, or write the key a moment after the cert.
 */
import { rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kubeletWrite } from './kubelet.js';
import { sleep } from './eventually.js';
import type { Leaf } from './certs.js';

export interface Writer {
  readonly name: string;
  /** Writes `leaf` into `dir`; resolves when the last byte is in place. */
  write(dir: string, leaf: Leaf): Promise<void>;
}

export const kubeletWriter: Writer = {
  name: 'kubelet atomic swap',
  write: (dir, leaf) => kubeletWrite(dir, leaf.secretFiles),
};

export const inPlaceWriter: Writer = {
  name: 'in-place rewrite',
  async write(dir, leaf) {
    await writeFile(join(dir, 'tls.crt'), leaf.chainPem);
    await writeFile(join(dir, 'tls.key'), leaf.keyPem);
  },
};

export const renameOverWriter: Writer = {
  name: 'rename-over',
  async write(dir, leaf) {
    await writeFile(join(dir, '.tls.crt.tmp'), leaf.chainPem);
    await writeFile(join(dir, '.tls.key.tmp'), leaf.keyPem);
    await rename(join(dir, '.tls.crt.tmp'), join(dir, 'tls.crt'));
    await rename(join(dir, '.tls.key.tmp'), join(dir, 'tls.key'));
  },
};

export const deleteRecreateWriter: Writer = {
  name: 'delete-then-recreate',
  async write(dir, leaf) {
    await unlink(join(dir, 'tls.crt'));
    await unlink(join(dir, 'tls.key'));
    await sleep(30);
    await writeFile(join(dir, 'tls.crt'), leaf.chainPem);
    await writeFile(join(dir, 'tls.key'), leaf.keyPem);
  },
};

export const nonAtomicWriter: Writer = {
  name: 'non-atomic writer (key 300 ms after the cert)',
  async write(dir, leaf) {
    await writeFile(join(dir, 'tls.crt'), leaf.chainPem);
    await sleep(300);
    await writeFile(join(dir, 'tls.key'), leaf.keyPem);
  },
};

/** Plain files, for the writers that do not use the kubelet layout. */
export async function writePlain(dir: string, leaf: Leaf): Promise<void> {
  await writeFile(join(dir, 'tls.crt'), leaf.chainPem);
  await writeFile(join(dir, 'tls.key'), leaf.keyPem);
}

export const WRITERS: readonly Writer[] = [kubeletWriter, inPlaceWriter, renameOverWriter, deleteRecreateWriter, nonAtomicWriter];
