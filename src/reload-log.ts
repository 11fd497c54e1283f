import type { Logger } from './logger.js';
import type { Reloader } from './reloader.js';

/** One log line per swap and per rejection (repeated identical rejections at debug). Never key material. */
export function logReloaderEvents(reloader: Reloader, logger: Logger): void {
  reloader.on('reload', ({ certificate, trigger, live, previous, durationSeconds }) => {
    logger.info(
      {
        event: 'certificate_reloaded',
        certificate,
        trigger,
        serialNumber: live.serialNumber,
        fingerprint256: live.fingerprint256,
        notAfter: live.validTo,
        durationMs: Math.round(durationSeconds * 1e6) / 1e3,
        previousSerialNumber: previous.serialNumber,
      },
      `certificate "${certificate}" reloaded: serial ${live.serialNumber}, valid until ${live.validTo}`,
    );
  });
  reloader.on('reject', ({ certificate, trigger, reason, file, message, repeated }) => {
    const fields = { event: 'certificate_rejected', certificate, trigger, reason, file };
    if (repeated) logger.debug(fields, message);
    else logger.warn(fields, `certificate "${certificate}" candidate rejected (${reason}); still serving the last good one: ${message}`);
  });
  reloader.on('unchanged', ({ certificate, trigger }) => logger.debug({ event: 'certificate_unchanged', certificate, trigger }, 'certificate unchanged'));
  reloader.on('listenerError', (error) => logger.error({ err: error }, 'a certificate subscriber failed'));
}
