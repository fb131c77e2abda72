import { describe, expect, it } from 'vitest';
import { requireTool } from '../support/tools.ts';
import { run } from '../clients/support/run.ts';

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

describe('the real-client harness', () => {
  it('a client that is not installed is an error naming it and its package, never a skip', async () => {
    await expect(run('ctr', ['version'], { env: { PATH: '/nonexistent' } })).rejects.toThrow(
      'ctr is not installed: install the Debian package containerd (bash .ci/run installs every client the tests drive)',
    );
    expect(() => requireTool('/nonexistent/docker')).toThrow('/nonexistent/docker is not on PATH: install the Debian package docker.io');
  });
});
