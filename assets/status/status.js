// hotcert status page: follows the live certificate over this page's own Socket.IO connection.
// Loaded from the server itself under a strict Content-Security-Policy; writes text only.
(function () {
  'use strict';

  var byId = function (id) { return document.getElementById(id); };
  var state = { socketId: null, connectedAt: null, reconnects: 0, rotations: 0, validTo: null, lastSerial: null };

  function setText(id, text) { byId(id).textContent = text; }

  function setTime(id, iso) {
    var element = byId(id);
    element.setAttribute('datetime', iso);
    element.textContent = new Date(iso).toLocaleString();
  }

  function duration(ms) {
    if (ms <= 0) return 'expired';
    var seconds = Math.floor(ms / 1000);
    var days = Math.floor(seconds / 86400);
    var hours = Math.floor((seconds % 86400) / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var rest = seconds % 60;
    if (days > 0) return days + 'd ' + hours + 'h ' + minutes + 'm';
    if (hours > 0) return hours + 'h ' + minutes + 'm ' + rest + 's';
    if (minutes > 0) return minutes + 'm ' + rest + 's';
    return rest + 's';
  }

  function setConnection(kind, text) {
    var element = byId('connection-state');
    element.className = 'state state-' + kind;
    element.textContent = text;
  }

  function tick() {
    if (state.connectedAt) setText('uptime', duration(Date.now() - state.connectedAt));
    if (state.validTo) setText('countdown', duration(state.validTo - Date.now()));
  }

  function addHistoryRow(certificate) {
    var row = document.createElement('tr');
    var cells = [new Date().toLocaleTimeString(), certificate.serialNumber, new Date(certificate.validTo).toLocaleString(), state.socketId || '–'];
    cells.forEach(function (text, index) {
      var cell = document.createElement('td');
      cell.textContent = text;
      if (index === 1 || index === 3) cell.className = 'mono';
      row.appendChild(cell);
    });
    row.setAttribute('data-serial', certificate.serialNumber);
    row.setAttribute('data-socket-id', state.socketId || '');
    var body = byId('history');
    body.insertBefore(row, body.firstChild);
  }

  function showCertificate(certificate) {
    setText('subject', certificate.subject);
    setText('dns-names', certificate.dnsNames.length > 0 ? certificate.dnsNames.join(', ') : '(none)');
    setText('serial', certificate.serialNumber);
    setText('fingerprint', certificate.fingerprint256);
    setText('issuer', certificate.issuer);
    setTime('valid-from', certificate.validFrom);
    setTime('valid-to', certificate.validTo);
    setTime('reloaded-at', certificate.reloadedAt);
    state.validTo = Date.parse(certificate.validTo);
    if (state.lastSerial !== null && state.lastSerial !== certificate.serialNumber) state.rotations += 1;
    state.lastSerial = certificate.serialNumber;
    setText('rotations', String(state.rotations));
    addHistoryRow(certificate);
    tick();
  }

  if (typeof window.io !== 'function') {
    setConnection('disconnected', 'The Socket.IO client did not load from /socket.io/socket.io.min.js');
    return;
  }

  // WebSocket first, long-polling if that fails: works whether the server offers both or, with
  // several replicas and no sticky sessions, WebSocket only (--transports websocket).
  var socket = window.io({ transports: ['websocket', 'polling'], tryAllTransports: true });

  socket.on('connect', function () {
    if (state.socketId !== null) {
      state.reconnects += 1;
      setText('reconnects', String(state.reconnects));
    }
    state.socketId = socket.id;
    state.connectedAt = Date.now();
    setText('socket-id', socket.id);
    setText('transport', socket.io.engine.transport.name);
    socket.io.engine.on('upgrade', function (transport) { setText('transport', transport.name); });
    setConnection('connected', 'Connected over ' + location.protocol.replace(':', '').toUpperCase());
  });

  socket.on('disconnect', function (reason) {
    setConnection('disconnected', 'Disconnected (' + reason + '), reconnecting…');
  });

  socket.on('connect_error', function (error) {
    setConnection('disconnected', 'Cannot connect: ' + error.message);
  });

  socket.on('hotcert:certificate', showCertificate);

  setInterval(tick, 1000);
  tick();
})();
