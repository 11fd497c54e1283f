/** The baseline for bench/memory.ts: a bare Socket.IO server on an https server with the same certificate. */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { Server } from 'socket.io';

const [certFile, keyFile] = process.argv.slice(2);
const https = createServer({ cert: readFileSync(certFile as string), key: readFileSync(keyFile as string) });
const io = new Server(https);
io.on('connection', (socket) => socket.on('echo', (payload: unknown, ack: (p: unknown) => void) => ack(payload)));
https.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ event: 'listening', port: (https.address() as { port: number }).port })));
process.on('SIGTERM', () => io.close(() => process.exit(0)));
