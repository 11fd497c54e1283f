/**
 * Writes a directory the way the kubelet's AtomicWriter updates a Secret volume (DESIGN §7):
 * write all files into a new hidden `..YYYY_MM_DD_HH_MM_SS.NNNNNNNNN` directory, point
 * `..data_tmp` at it, `rename(..data_tmp, ..data)` (the atomic step), create the user-visible
 * `name -> ..data/name` symlinks once, then remove the previous hidden directory.
 */
import { chmod, lstat, mkdir, readdir, readlink, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, HotcertError } from './errors.js';

const DATA = '..data';
const DATA_TMP = '..data_tmp';

let sequence = 0;

function timestampedName(): string {
  const now = new Date();
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const nanos = (now.getUTCMilliseconds() * 1_000_000 + (sequence++ % 1_000_000)).toString().padStart(9, '0');
  return `..${now.getUTCFullYear()}_${pad(now.getUTCMonth() + 1)}_${pad(now.getUTCDate())}_${pad(now.getUTCHours())}_${pad(now.getUTCMinutes())}_${pad(now.getUTCSeconds())}.${nanos}`;
}

async function exists(path: string): Promise<boolean> {
  return (await lstatOrUndefined(path)) !== undefined;
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch {
    return undefined;
  }
}

/** A timestamped data directory's name: `..` and one path component, never `..data` or a path. */
function isDataDirName(name: string): boolean {
  return /^\.\.[^/\\]+$/.test(name) && name !== DATA && name !== DATA_TMP;
}

function unsafe(message: string): HotcertError {
  return new HotcertError(ErrorCodes.UNSAFE_PATH, `${message}; refusing to write there (remove the entry, or choose another directory)`);
}

/**
 * The writer deletes the directory `..data` pointed to before: a `..data` (committed to a checkout,
 * say) that points out of the mount would make it delete any directory the user can. So the mount
 * must be a real directory, `..data` and `..data_tmp` links to one of its own `..` directories, and
 * every file it writes either absent or a link into `..data`.
 */
async function assertSafeMount(dir: string, names: readonly string[]): Promise<void> {
  const info = await lstatOrUndefined(dir);
  if (info === undefined) return;
  if (!info.isDirectory()) throw unsafe(`${dir} is ${info.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}, not the mount directory itself`);
  for (const entry of await readdir(dir)) {
    const path = join(dir, entry);
    const entryInfo = await lstat(path);
    if (entry === DATA || entry === DATA_TMP) {
      if (!entryInfo.isSymbolicLink()) throw unsafe(`${path} is not a symbolic link`);
      const target = await readlink(path);
      const targetInfo = isDataDirName(target) ? await lstatOrUndefined(join(dir, target)) : undefined;
      if (!targetInfo?.isDirectory()) throw unsafe(`${path} points to ${JSON.stringify(target)}, which is not one of the mount's own ..-directories`);
    } else if (names.includes(entry) && entryInfo.isSymbolicLink()) {
      const target = await readlink(path);
      if (target !== join(DATA, entry)) throw unsafe(`${path} points to ${JSON.stringify(target)}, not ${join(DATA, entry)}`);
    } else if (names.includes(entry)) {
      throw unsafe(`${path} is a file of its own, not a link into ${DATA}`);
    }
  }
}

/**
 * Writes `files` into the Secret mount `dir` the way the kubelet does. `modes` sets a file's
 * permission bits (the volume's `defaultMode`; 0644 unless given).
 */
export async function kubeletWrite(
  dir: string,
  files: Readonly<Record<string, string | Buffer>>,
  modes: Readonly<Record<string, number>> = {},
  onFlip?: () => void,
): Promise<void> {
  await assertSafeMount(dir, Object.keys(files));
  await mkdir(dir, { recursive: true });
  const previous = (await exists(join(dir, DATA))) ? await readlink(join(dir, DATA)) : undefined;
  const target = timestampedName();
  await mkdir(join(dir, target), { mode: 0o755 });
  for (const [name, content] of Object.entries(files)) {
    // The kubelet writes with the volume's defaultMode (0644 unless set); chmod makes it exact.
    await writeFile(join(dir, target, name), content);
    await chmod(join(dir, target, name), modes[name] ?? 0o644);
  }
  if (await exists(join(dir, DATA_TMP))) await unlink(join(dir, DATA_TMP));
  await symlink(target, join(dir, DATA_TMP));
  await rename(join(dir, DATA_TMP), join(dir, DATA));
  onFlip?.();
  for (const name of Object.keys(files)) {
    if (!(await exists(join(dir, name)))) await symlink(join(DATA, name), join(dir, name));
  }
  // Only ever a `..` directory directly inside the mount, and never through a link.
  if (previous !== undefined && previous !== target && isDataDirName(previous) && (await lstatOrUndefined(join(dir, previous)))?.isDirectory()) {
    await rm(join(dir, previous), { recursive: true, force: true });
  }
}
