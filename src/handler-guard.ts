/**
 * An exception thrown by a Socket.IO event handler surfaces as an uncaught exception (Socket.IO
 * dispatches events on a later tick), which would take the whole server down, reloader included.
 * This guard wraps every handler registered on the main namespace and its sockets, so a throw or
 * a rejected promise is reported (metric and log) and the server carries on.
 */
import type { Namespace, Server, Socket } from 'socket.io';

/** `socket` is the socket whose handler failed, when it was one (not a namespace's). */
export type HandlerErrorReporter = (event: string, error: unknown, socket?: Socket) => void;

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

type AnyListener = (event: string, ...args: unknown[]) => unknown;
type NamespaceMiddleware = (socket: Socket, next: (error?: Error) => void) => unknown;
type PacketMiddleware = (packet: unknown[], next: (error?: Error) => void) => unknown;

/** Runs `call`, reporting a throw or a rejection under `event`; `onFailure` runs after either. */
function guarded(event: string, report: HandlerErrorReporter, call: () => unknown, onFailure?: (error: unknown) => void): void {
  const fail = (error: unknown) => {
    report(event, error);
    onFailure?.(error);
  };
  try {
    const result = call();
    if (result instanceof Promise) result.catch(fail);
  } catch (error) {
    fail(error);
  }
}

/** `onAny`, `prependAny`, `onAnyOutgoing`, `prependAnyOutgoing`: catch-all listeners, guarded too. */
function guardCatchAll(socket: Socket, report: HandlerErrorReporter): void {
  const methods = socket as unknown as Record<string, (listener: AnyListener) => unknown>;
  for (const name of ['onAny', 'prependAny', 'onAnyOutgoing', 'prependAnyOutgoing', 'offAny', 'offAnyOutgoing']) {
    const original = methods[name]?.bind(socket);
    if (!original) continue;
    const wrappedListeners = new WeakMap<AnyListener, AnyListener>();
    if (name.startsWith('off')) {
      methods[name] = (listener?: AnyListener) => original((listener && wrappedListeners.get(listener)) ?? (listener as AnyListener));
      continue;
    }
    methods[name] = (listener: AnyListener) => {
      const wrapper: AnyListener = (event, ...args) => guarded(`${name}:${event}`, report, () => listener(event, ...args));
      wrappedListeners.set(listener, wrapper);
      return original(wrapper);
    };
  }
  // Per-socket middleware: a throw drops the packet that caused it (its handler never runs).
  const use = socket.use.bind(socket);
  socket.use = ((middleware: PacketMiddleware) =>
    use((packet, next) => guarded('socket.use', report, () => middleware(packet as unknown[], next)))) as Socket['use'];
}

function guardSocket(socket: Socket, report: HandlerErrorReporter): void {
  const reportForSocket: HandlerErrorReporter = (event, error) => report(event, error, socket);
  guardEmitter(socket, reportForSocket);
  guardCatchAll(socket, reportForSocket);
}

/** A namespace: its `connection` handlers, its middleware (a throw refuses the connection), its sockets. */
function guardNamespace(namespace: Namespace, report: HandlerErrorReporter): void {
  guardEmitter(namespace as unknown as Emitter, report);
  const use = namespace.use.bind(namespace);
  namespace.use = ((middleware: NamespaceMiddleware) =>
    use((socket, next) => {
      let called = false;
      const once = (error?: Error) => {
        if (called) return;
        called = true;
        next(error);
      };
      // A middleware that throws before calling next() refuses the connection, as an error would.
      guarded('middleware', report, () => middleware(socket, once), () => once(new Error('internal server error')));
    })) as Namespace['use'];
  use((socket, next) => {
    guardSocket(socket, report);
    next();
  });
}

/**
 * Guards every namespace (the main one and any created later): their `connection` handlers and
 * middleware, and on their sockets every event handler, catch-all listener and packet middleware.
 */
export function guardHandlers(io: Server, report: HandlerErrorReporter): void {
  guardEmitter(io as unknown as Emitter, report);
  guardNamespace(io.of('/'), report);
  io.on('new_namespace', (namespace) => guardNamespace(namespace, report));
  // io.use() is the main namespace's use(), looked up when called: it reaches the guarded one.
}
