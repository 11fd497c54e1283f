/**
 * A few log lines per source and window, so that one client cannot fill the log (and the disk of
 * the node) by repeating what makes a line. What is not logged is still counted by the caller.
 */
export interface LogBudgetOptions {
  readonly perWindow: number;
  readonly windowMs: number;
  /** @default Date.now */
  readonly now?: () => number;
}

interface Spent {
  windowStart: number;
  used: number;
  suppressed: number;
}

export class LogBudget {
  readonly #options: LogBudgetOptions;
  readonly #spent = new WeakMap<object, Spent>();

  constructor(options: LogBudgetOptions) {
    this.#options = options;
  }

  /** Whether `source` may log now; `suppressed` counts the lines refused in this window (1 on the first). */
  take(source: object): { readonly log: boolean; readonly suppressed: number } {
    const now = (this.#options.now ?? Date.now)();
    let spent = this.#spent.get(source);
    if (!spent || now - spent.windowStart >= this.#options.windowMs) {
      spent = { windowStart: now, used: 0, suppressed: 0 };
      this.#spent.set(source, spent);
    }
    if (spent.used < this.#options.perWindow) {
      spent.used++;
      return { log: true, suppressed: 0 };
    }
    spent.suppressed++;
    return { log: false, suppressed: spent.suppressed };
  }
}
