#!/usr/bin/env node
/**
 * The `hotcert` command. Maps every ending to its exit code (DESIGN §3).
 */
import { ConfigError } from './errors.js';
import { helpText, parseInvocation, type Invocation } from './config.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';
import { createLogger, type Logger } from './logger.js';
import { serve } from './serve.js';
import { dev } from './dev.js';
import { checkCertificate, formatReport, processEnvironment } from './check.js';
import { packageVersion } from './version.js';

export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

export async function main(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, io: CliIo = process): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = parseInvocation({ argv, env });
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr.write(`hotcert: ${error.message}\n`);
      return ExitCode.CONFIG;
    }
    throw error;
  }
  if (invocation.kind === 'version') {
    io.stdout.write(`${packageVersion()}\n`);
    return ExitCode.OK;
  }
  if (invocation.kind === 'help') {
    io.stdout.write(helpText(invocation.command));
    return ExitCode.OK;
  }
  const { config } = invocation;
  if (config.command === 'check') {
    const report = await checkCertificate(config.certificate, config.serverName, processEnvironment());
    io.stdout.write(config.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return report.servable ? ExitCode.OK : ExitCode.CHECK_FAILED;
  }

  const logger: Logger = createLogger({ level: config.logLevel });
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, `unexpected error: ${error.message}`);
    process.exit(ExitCode.UNEXPECTED);
  });
  try {
    if (config.command === 'dev') await dev(config, logger, io.stdout);
    else await serve(config, logger);
    return ExitCode.OK;
  } catch (error) {
    const code = exitCodeFor(error);
    const message = error instanceof Error ? error.message : String(error);
    logger.fatal({ err: error, exitCode: code }, message);
    io.stderr.write(`hotcert: ${message}\n`);
    return code;
  }
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    // Exit now rather than wait for stray handles: every resource was closed above.
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`hotcert: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = ExitCode.UNEXPECTED;
  },
);
