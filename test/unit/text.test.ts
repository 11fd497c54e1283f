import { describe, expect, it } from 'vitest';
import { escapeControl } from '../../src/text.js';

describe('escapeControl', () => {
  it('shows control characters and line separators as escapes, and leaves the rest alone', () => {
    expect(escapeControl('a\nb\r\tc')).toBe('a\\nb\\r\\tc');
    expect(escapeControl('\u001b[31mred\u007f\u0085\u2028')).toBe('\\u001b[31mred\\u007f\\u0085\\u2028');
    expect(escapeControl('CN=büro, O=Ex "quoted" <tag>')).toBe('CN=büro, O=Ex "quoted" <tag>');
  });
});
