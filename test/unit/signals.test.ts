/** The signal trap with a fake process: signals during start-up, a second stop, SIGHUP and SIGUSR1. */
import { describe, expect, it, vi } from 'vitest';
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { SignalTrap, type ProcessSignals } from '../../src/signals.js';

function fakeProcess(): ProcessSignals & { send(signal: NodeJS.Signals): void; count(): number } {
  const emitter = new EventEmitter();
  return {
    on: (signal, listener) => emitter.on(signal, listener),
    off: (signal, listener) => emitter.off(signal, listener),
    send: (signal) => emitter.emit(signal),
    count: () => emitter.eventNames().reduce((sum, name) => sum + emitter.listenerCount(name), 0),
  };
}

function fakeServer() {
  let finish: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (finish = resolve));
  return { reload: vi.fn(async () => undefined), close: vi.fn(() => closed), finish: () => finish() };
}

describe('SignalTrap', () => {
  it('traps every signal from the start, and carries out a stop asked for during start-up once the server is up', async () => {
    const signals = fakeProcess();
    const trap = new SignalTrap(signals, pino({ level: 'silent' }));
    expect(signals.count()).toBe(5);
    signals.send('SIGTERM');
    signals.send('SIGHUP');
    const server = fakeServer();
    const running = trap.run(server);
    expect(server.close).toHaveBeenCalledWith();
    expect(server.reload).not.toHaveBeenCalled();
    server.finish();
    await running;
    expect(signals.count()).toBe(0);
  });

  it('reloads on SIGHUP while serving, stops on SIGUSR2, hurries on a second stop, ignores SIGUSR1 and SIGHUP while stopping', async () => {
    const signals = fakeProcess();
    const trap = new SignalTrap(signals, pino({ level: 'silent' }));
    const server = fakeServer();
    const onStop = vi.fn();
    const running = trap.run(server, onStop);
    signals.send('SIGUSR1');
    signals.send('SIGHUP');
    expect(server.reload).toHaveBeenCalledWith('manual');
    signals.send('SIGUSR2');
    expect(onStop).toHaveBeenCalledTimes(1);
    signals.send('SIGHUP');
    signals.send('SIGTERM');
    expect(server.reload).toHaveBeenCalledTimes(1);
    expect(server.close.mock.calls).toEqual([[], [{ immediate: true }]]);
    server.finish();
    await running;
  });

  it('releases its handlers when start-up fails', () => {
    const signals = fakeProcess();
    new SignalTrap(signals, pino({ level: 'silent' })).release();
    expect(signals.count()).toBe(0);
  });
});
