/**
 * Human-readable output must not let a value write lines of its own: a DNS name or a path with a
 * newline in it could print a forged "OK". Control characters (C0, DEL, C1) and the Unicode line
 * and paragraph separators are shown as escapes; everything else is left as it is.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

export function escapeControl(text: string): string {
  return text.replace(CONTROL, (char) => NAMED[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
