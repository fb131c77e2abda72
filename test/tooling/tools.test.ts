import { describe, expect, it } from 'vitest';
import { requireTool } from '../support/tools.ts';

describe('requireTool', () => {
  it('names a missing program and the package that brings it, at once', () => {
    const env = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      expect(() => requireTool('prometheus')).toThrow('prometheus is not on PATH: install the Debian package prometheus (bash .ci/run installs everything the tests need)');
    } finally {
      process.env.PATH = env;
    }
  });

  it('passes for a program that is there', () => {
    expect(() => requireTool('bash')).not.toThrow();
  });
});
