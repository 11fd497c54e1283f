// helm test: opens a WSS connection to hotcert the way a Socket.IO client does (Engine.IO v4
// over WebSocket), verifies the certificate against the CA from the Secret and the server name,
// joins the main namespace and waits for the hotcert:certificate announcement. Node.js built-ins only.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

const host = process.env.HOTCERT_TEST_HOST;
const port = Number(process.env.HOTCERT_TEST_PORT ?? '443');
const servername = process.env.HOTCERT_TEST_SERVERNAME || host;
const ca = readFileSync(process.env.HOTCERT_TEST_CA ?? '/etc/hotcert/tls/ca.crt');
const deadline = setTimeout(() => fail('no hotcert:certificate within 20 s'), 20_000);

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

/** One masked client text frame (RFC 6455 §5.3: clients must mask). */
function frame(text) {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const header = payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]));
  return Buffer.concat([header, mask, masked]);
}

/** Splits unmasked server frames off the front of `buffer`. */
function* frames(state) {
  for (;;) {
    const b = state.buffer;
    if (b.length < 2) return;
    let length = b[1] & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (b.length < 4) return;
      length = b.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (b.length < 10) return;
      length = Number(b.readBigUInt64BE(2));
      offset = 10;
    }
    if (b.length < offset + length) return;
    state.buffer = b.subarray(offset + length);
    yield { opcode: b[0] & 0x0f, text: b.subarray(offset, offset + length).toString('utf8') };
  }
}

const req = request({
  host,
  port,
  servername,
  ca,
  path: '/socket.io/?EIO=4&transport=websocket',
  headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': randomBytes(16).toString('base64') },
});
req.on('response', (res) => fail(`expected a WebSocket upgrade, got HTTP ${res.statusCode}`));
req.on('error', (error) => fail(`${error.code ?? ''} ${error.message}`));
req.on('upgrade', (res, socket) => {
  const peer = socket.getPeerCertificate();
  console.log(`TLS ok: ${socket.getProtocol()}, certificate serial ${peer.serialNumber}, subject ${peer.subject?.CN ?? ''}`);
  const state = { buffer: Buffer.alloc(0) };
  socket.on('data', (chunk) => {
    state.buffer = Buffer.concat([state.buffer, chunk]);
    for (const { opcode, text } of frames(state)) {
      if (opcode !== 1) continue;
      if (text.startsWith('0{')) socket.write(frame('40')); // Engine.IO open, then join namespace "/"
      else if (text === '2') socket.write(frame('3')); // ping, pong
      else if (text.startsWith('42')) {
        const [event, payload] = JSON.parse(text.slice(2));
        if (event === 'hotcert:certificate') {
          console.log(`hotcert:certificate received: serial ${payload.serialNumber}, valid to ${payload.validTo}`);
          clearTimeout(deadline);
          socket.end();
          process.exit(0);
        }
      }
    }
  });
  socket.on('error', (error) => fail(error.message));
  console.log(`WebSocket upgrade: HTTP ${res.statusCode}`);
});
req.end();
