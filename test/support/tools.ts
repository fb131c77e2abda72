// The system programs the e2e tests drive (prometheus, promtool, podman, ...). A missing one is
// named at once with the package that brings it, instead of surfacing as a 30 s timeout.
import { spawnSync } from 'node:child_process';

/** Debian package of each program, as .ci/run installs it. */
export const PACKAGE_OF: Record<string, string> = {
  prometheus: 'prometheus',
  promtool: 'prometheus',
  'docker-registry': 'docker-registry',
  skopeo: 'skopeo',
  openssl: 'openssl',
  podman: 'podman',
  buildah: 'buildah',
  mmdebstrap: 'mmdebstrap',
  runc: 'runc',
  docker: 'docker.io',
  dockerd: 'docker.io',
  containerd: 'containerd',
  ctr: 'containerd',
  curl: 'curl',
};

/** Throws `prometheus is not on PATH: ...` unless `name` can be run. */
export function requireTool(name: string, versionArgs: readonly string[] = ['--version']): void {
  const result = spawnSync(name, versionArgs, { encoding: 'utf8', timeout: 10_000 });
  const code = (result.error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') {
    const pkg = PACKAGE_OF[name.split('/').pop()!];
    throw new Error(`${name} is not on PATH: install ${pkg === undefined ? 'it' : `the Debian package ${pkg}`} (bash .ci/run installs everything the tests need)`);
  }
  if (result.error !== undefined) throw new Error(`${name} ${versionArgs.join(' ')} could not run: ${result.error.message}`);
}
