/**
 * Writes a directory the way the kubelet's AtomicWriter updates a Secret volume (DESIGN §7):
 * write all files into a new hidden `..YYYY_MM_DD_HH_MM_SS.NNNNNNNNN` directory, point
 * `..data_tmp` at it, `rename(..data_tmp, ..data)` (the atomic step), create the user-visible
 * `name -> ..data/name` symlinks once, then remove the previous hidden directory.
 */
import { chmod, lstat, mkdir, readlink, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

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
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
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
  if (previous !== undefined && previous !== target) await rm(join(dir, previous), { recursive: true, force: true });
}
