/** The baseline for bench/handshakes.ts: a plain `https.createServer` with the same certificate. */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [certFile, keyFile] = process.argv.slice(2);
const server = createServer({ cert: readFileSync(certFile as string), key: readFileSync(keyFile as string) }, (_req, res) => res.end('ok\n'));
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ event: 'listening', port: (server.address() as { port: number }).port })));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
