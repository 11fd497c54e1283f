/**
 * The Dockerfile: linted by dockerfile-utils (the VS Code Docker language server's validator) with
 * every rule at error level, checked for what a production image promises, then built for real
 * with Debian's buildah and run as the non-root user. No registry is reachable here, so the build
 * runs against a local STAND-IN base image (scripts/build-standin-base.sh: Debian bookworm via
 * debootstrap + Node.js 24): it proves the steps, not the official node/distroless bases.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { validate, ValidationSeverity } from 'dockerfile-utils';
import { eventually } from '../support/eventually.js';
import { ROOT } from '../support/helm.js';
import { foreground, freePort, type Foreground } from '../support/processes.js';

const run = promisify(execFile);
const DOCKERFILE = readFileSync(`${ROOT}Dockerfile`, 'utf8');
const BASE = 'localhost/hotcert-standin-base:bookworm-node24';
const IMAGE = 'localhost/hotcert:test';
const E = ValidationSeverity.ERROR;

describe('Dockerfile', () => {
  it('passes dockerfile-utils with every rule as an error', () => {
    const diagnostics = validate(DOCKERFILE, {
      deprecatedMaintainer: E,
      directiveCasing: E,
      emptyContinuationLine: E,
      instructionCasing: E,
      instructionCmdMultiple: E,
      instructionEntrypointMultiple: E,
      instructionHealthcheckMultiple: E,
      instructionJSONInSingleQuotes: E,
      instructionWorkdirRelative: E,
    });
    expect(diagnostics.map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it('pins both base images by digest, on the same Node.js major', () => {
    const build = /^ARG BUILD_IMAGE=(\S+)$/m.exec(DOCKERFILE)?.[1] ?? '';
    const runtime = /^ARG RUNTIME_IMAGE=(\S+)$/m.exec(DOCKERFILE)?.[1] ?? '';
    expect(build).toMatch(/^docker\.io\/library\/node:24-bookworm-slim@sha256:[0-9a-f]{64}$/);
    expect(runtime).toMatch(/^gcr\.io\/distroless\/nodejs24-debian12:nonroot@sha256:[0-9a-f]{64}$/);
    expect(DOCKERFILE.match(/^FROM \S+/gm)).toEqual(['FROM ${BUILD_IMAGE}', 'FROM ${BUILD_IMAGE}', 'FROM ${RUNTIME_IMAGE}']);
  });

  it('runs as a numeric non-root user, in exec form, with OCI labels and no HEALTHCHECK', () => {
    expect(DOCKERFILE).toMatch(/^USER 65532:65532$/m);
    expect(DOCKERFILE).toMatch(/^ENTRYPOINT \["\/nodejs\/bin\/node", "--disable-sigusr1", "\/app\/dist\/cli\.js"\]$/m);
    expect(DOCKERFILE).not.toMatch(/^HEALTHCHECK/m);
    for (const label of ['title', 'description', 'version', 'revision', 'licenses', 'source']) expect(DOCKERFILE).toContain(`org.opencontainers.image.${label}=`);
  });

  it('keeps secrets and the rest of the tree out of the build context and the layers', () => {
    const ignore = readFileSync(`${ROOT}.dockerignore`, 'utf8');
    expect(ignore.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual(['*', '!package.json', '!package-lock.json', '!tsconfig.json', '!tsconfig.build.json', '!src/', '!assets/']);
    expect(DOCKERFILE).not.toMatch(/^(ADD|COPY) \. /m);
    expect(DOCKERFILE).toMatch(/--mount=type=secret,id=ca-bundle,required=false/);
    expect(DOCKERFILE).toMatch(/npm ci --omit=dev --ignore-scripts/);
  });
});

describe('image built with buildah against a stand-in base', () => {
  let server: Foreground | undefined;
  let container: string | undefined;
  afterAll(async () => {
    await server?.stop();
    if (container) await run('buildah', ['rm', container]).catch(() => undefined);
  });

  it('builds, runs as uid 65532 and serves /healthz', async () => {
    expect(process.getuid?.(), 'buildah needs root here (CI runs as root)').toBe(0);
    await run('bash', [`${ROOT}scripts/build-standin-base.sh`, BASE], { maxBuffer: 16 * 1024 * 1024 });
    const secret = existsSync('/etc/ssl/certs/ca-certificates.crt') ? ['--secret', 'id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt'] : [];
    await run(
      'buildah',
      ['bud', '--isolation', 'chroot', '--network', 'host', '--layers=false', ...secret, '--build-arg', `BUILD_IMAGE=${BASE}`, '--build-arg', `RUNTIME_IMAGE=${BASE}`, '-t', IMAGE, ROOT],
      { maxBuffer: 64 * 1024 * 1024 },
    );

    const { stdout: inspected } = await run('buildah', ['inspect', '--type', 'image', IMAGE], { maxBuffer: 16 * 1024 * 1024 });
    const config = (JSON.parse(inspected) as { OCIv1: { config: Record<string, unknown> } }).OCIv1.config;
    expect(config).toMatchObject({ User: '65532:65532', Entrypoint: ['/nodejs/bin/node', '--disable-sigusr1', '/app/dist/cli.js'], Cmd: ['serve', '--cert-dir', '/etc/hotcert/tls'] });
    expect(config['Healthcheck']).toBeUndefined();
    expect(JSON.stringify(inspected)).not.toContain('ca-certificates.crt');

    container = (await run('buildah', ['from', IMAGE])).stdout.trim();
    const [tlsPort, metricsPort] = [await freePort(), await freePort()];
    server = foreground('buildah', ['run', '--isolation', 'chroot', '--network', 'host', container, '--', '/nodejs/bin/node', '--disable-sigusr1', '/app/dist/cli.js', 'dev', '--dir', '/tmp/dev', '--rotate-every', '0', '--port', String(tlsPort), '--metrics-port', String(metricsPort)]);
    await eventually(async () => expect(await (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).text()).toBe('ok\n'), { timeoutMs: 20_000, intervalMs: 200 });
    const { stdout: pids } = await run('pgrep', ['-f', `cli.js dev --dir /tmp/dev --rotate-every 0 --port ${tlsPort}`]);
    const uids = pids
      .trim()
      .split('\n')
      .map((pid) => /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
      .filter((uid) => uid !== '0');
    // Every process of the container (buildah's chroot helper and Node.js itself) runs as 65532.
    expect(uids.length).toBeGreaterThanOrEqual(1);
    expect(new Set(uids)).toEqual(new Set(['65532']));
  }, 600_000);
});
