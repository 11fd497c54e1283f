/**
 * An exception thrown by a Socket.IO event handler surfaces as an uncaught exception (Socket.IO
 * dispatches events on a later tick), which would take the whole server down, reloader included.
 * This guard wraps every handler registered on the main namespace and its sockets, so a throw or
 * a rejected promise is reported (metric and log) and the server carries on.
 */
import type { Namespace, Server, Socket } from 'socket.io';

export type HandlerErrorReporter = (event: string, error: unknown) => void;

type Listener = (...args: unknown[]) => unknown;
type Emitter = Pick<Socket, 'on' | 'once' | 'off' | 'removeListener'>;

function guardEmitter(target: Emitter, report: HandlerErrorReporter): void {
  const wrapped = new WeakMap<Listener, Listener>();
  const wrap = (event: string, listener: Listener): Listener => {
    const existing = wrapped.get(listener);
    if (existing) return existing;
    const guarded = function (this: unknown, ...args: unknown[]): unknown {
      try {
        const result = listener.apply(this, args);
        if (result instanceof Promise) result.catch((error: unknown) => report(event, error));
        return result;
      } catch (error) {
        report(event, error);
        return undefined;
      }
    };
    wrapped.set(listener, guarded);
    return guarded;
  };
  const methods = target as unknown as Record<'on' | 'once' | 'off' | 'removeListener', (event: string, listener: Listener) => unknown>;
  for (const name of ['on', 'once'] as const) {
    const original = methods[name].bind(target);
    methods[name] = (event, listener) => original(event, wrap(String(event), listener));
  }
  for (const name of ['off', 'removeListener'] as const) {
    const original = methods[name].bind(target);
    methods[name] = (event, listener) => original(event, wrapped.get(listener) ?? listener);
  }
}

/** Guards `connection` handlers of the server and its main namespace, and every handler on their sockets. */
export function guardHandlers(io: Server, report: HandlerErrorReporter): void {
  const namespace: Namespace = io.of('/');
  guardEmitter(io as unknown as Emitter, report);
  guardEmitter(namespace as unknown as Emitter, report);
  namespace.use((socket, next) => {
    guardEmitter(socket, report);
    next();
  });
}
