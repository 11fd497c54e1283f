// A connection-flood attacker in its own process, so that its work does not slow the event loop
// of the legitimate clients being measured. Usage: node flood-attacker.mjs CONFIG_JSON
// CONFIG: { port, serverCa, strangerCa, idle, idleDelayMs, trickle, loopers, loopPauseMs, durationMs }
// Prints one JSON line with what it saw: how long each idle and trickling connection was held
// (seconds, from TCP connect or TLS handshake to close) and how many failed handshakes it made.
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';

const config = JSON.parse(process.argv[2]);
const { port } = config;
const idleHeld = [];
const trickleHeld = [];
let failedHandshakes = 0;

const idleDone = (async () => {
  await sleep(config.idleDelayMs ?? 0);
  const pending = [];
  for (let i = 0; i < config.idle; i++) {
    pending.push(
      new Promise((resolve) => {
        let opened;
        const socket = netConnect({ host: '127.0.0.1', port });
        socket.on('error', () => undefined);
        socket.once('connect', () => (opened = performance.now()));
        socket.once('close', () => {
          idleHeld.push(opened === undefined ? -1 : (performance.now() - opened) / 1000);
          resolve();
        });
      }),
    );
    if (i % 250 === 249) await sleep(100);
  }
  await Promise.all(pending);
})();

const request = 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ' + 'x'.repeat(100);
const trickleDone = Promise.all(
  Array.from(
    { length: config.trickle },
    () =>
      new Promise((resolve) => {
        let secured;
        let drip;
        const socket = tlsConnect({ host: '127.0.0.1', port, ca: config.serverCa, servername: 'localhost' });
        socket.on('error', () => undefined);
        socket.once('secureConnect', () => {
          secured = performance.now();
          let sent = 0;
          drip = setInterval(() => socket.writable && socket.write(request[sent++ % request.length]), 1_000);
        });
        socket.once('close', () => {
          clearInterval(drip);
          trickleHeld.push(secured === undefined ? -1 : (performance.now() - secured) / 1000);
          resolve();
        });
      }),
  ),
);

const until = performance.now() + config.durationMs;
const loopsDone = Promise.all(
  Array.from({ length: config.loopers }, async () => {
    while (performance.now() < until) {
      await new Promise((resolve) => {
        const socket = tlsConnect({ host: '127.0.0.1', port, ca: config.strangerCa, servername: 'localhost' });
        socket.once('secureConnect', () => socket.destroy());
        socket.once('error', () => failedHandshakes++);
        socket.once('close', resolve);
      });
      await sleep(config.loopPauseMs);
    }
  }),
);

await Promise.all([idleDone, trickleDone, loopsDone]);
process.stdout.write(`${JSON.stringify({ idleHeld, trickleHeld, failedHandshakes })}\n`);
