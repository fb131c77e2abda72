// Every command the real-client suite runs, with what it must show: the one table that
// test/clients/*.test.ts play (support/play.ts runs exactly these argument arrays and asserts
// the outcome) and that `npm run docs:clients` renders into docs/clients.md, so the document
// cannot name a command the suite does not run, nor a result CI did not see.
//
// $NAME is a variable the test fills in: REGISTRY (host:port of the protected registry), MIRROR
// (the pull-through cache), TOKEN_SERVICE (the service's base URL), ID and CREDENTIAL (a
// registry credential's id, used as the username, and its secret), AUTH (a containers auth.json),
// CONFIG (a Docker config directory), LAYOUT (the hand-built OCI layout), ARCHIVE (a tar of it),
// OUT (a directory to pull into), EXPIRED_AT (when the credential expired).

export type Program = 'docker' | 'podman' | 'buildah' | 'skopeo' | 'ctr' | 'curl' | 'registry-token';

/** How each program runs in CI: its global flags and environment, given once here. */
export interface Setup {
  readonly globalArgs: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly how: string;
}

export const SETUP: Record<Program, Setup> = {
  docker: {
    globalArgs: [],
    env: { DOCKER_HOST: 'unix://$DOCKER_SOCK' },
    how: 'Debian\'s docker.io CLI (/usr/bin/docker) against a dockerd the test starts: `dockerd --iptables=false --ip-masq=false --bridge=none --storage-driver=vfs --data-root DIR/data --exec-root DIR/exec --pidfile DIR/docker.pid -H unix://DIR/docker.sock --insecure-registry 127.0.0.0/8` (every registry of the test is plain HTTP on loopback)',
  },
  podman: {
    globalArgs: ['--root', '$STATE/root', '--runroot', '$STATE/run', '--storage-driver', 'vfs', '--tmpdir', '$STATE/tmp', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none'],
    env: {},
    how: 'no daemon; its storage under the test\'s directory',
  },
  buildah: {
    globalArgs: ['--root', '$STATE/root', '--runroot', '$STATE/run', '--storage-driver', 'vfs'],
    env: {},
    how: 'no daemon; its storage under the test\'s directory',
  },
  skopeo: { globalArgs: ['--insecure-policy'], env: {}, how: 'no daemon, no storage' },
  ctr: {
    globalArgs: ['--address', '$CONTAINERD_SOCK', '--namespace', 'ci'],
    env: {},
    how: 'against a containerd the test starts with a config of its own: `root`, `state`, `grpc.address` under DIR, `disabled_plugins = ["io.containerd.grpc.v1.cri"]`',
  },
  curl: { globalArgs: ['-sS', '--max-time', '20'], env: {}, how: 'Debian\'s curl' },
  'registry-token': { globalArgs: [], env: {}, how: 'this package\'s CLI (`src/cli.ts`), with the development Authority of the tests' },
};

export interface Flow {
  /** Unique; the tests play flows by id. */
  readonly id: string;
  /** The column of the table: the client as people name it. */
  readonly client: string;
  readonly flow: string;
  readonly argv: readonly string[];
  /** Written to the program's stdin. */
  readonly stdin?: string;
  /** Must exit 0 and print this (stdout or stderr), when given. */
  readonly shows?: string;
  /** Must exit non-zero and print this (stdout or stderr): what the user sees. */
  readonly fails?: string;
  /**
   * What the program prints instead of `fails` when it loses a race inside itself: the same
   * refusal, another message. The test then proves the refusal by what the registry and the
   * ledger saw, not by the words.
   */
  readonly orFails?: { readonly shows: string; readonly when: string };
}

const REVOKED = 'the registry credential $ID has been revoked; run "registry-token login" to get a new one';
const EXPIRED = 'the registry credential expired on $EXPIRED_AT; run "registry-token login" to get a new one';

// buildah pull keeps a local copy unless told to ask the registry again (podman pull always asks).
const podmanLike = (program: 'podman' | 'buildah', repo: string, always = program === 'buildah' ? ['--policy', 'always'] : []): Flow[] => [
  {
    id: `${program}.login`, client: program, flow: 'login',
    argv: [program, 'login', '--tls-verify=false', '--authfile', '$AUTH', '-u', '$ID', '--password-stdin', '$REGISTRY'],
    stdin: '$CREDENTIAL', shows: 'Login Succeeded!',
  },
  { id: `${program}.load`, client: program, flow: 'image from a docker-archive', argv: [program, 'pull', 'docker-archive:$ARCHIVE'] },
  {
    id: `${program}.push`, client: program, flow: 'push',
    argv: [program, 'push', '--tls-verify=false', '--authfile', '$AUTH', '$IMAGE_ID', `docker://$REGISTRY/${repo}/app:1.0`],
  },
  {
    id: `${program}.pull`, client: program, flow: 'pull',
    argv: [program, 'pull', ...always, '--tls-verify=false', '--authfile', '$AUTH', `$REGISTRY/${repo}/app:1.0`],
  },
  {
    id: `${program}.mount`, client: program, flow: 'push to another repository (cross-repository mount)',
    argv: [program, 'push', '--tls-verify=false', '--authfile', '$AUTH', `$REGISTRY/${repo}/app:1.0`, `docker://$REGISTRY/${repo}/other:1.0`],
  },
  {
    id: `${program}.pull-only-push`, client: program, flow: 'push with a pull-only credential',
    argv: [program, 'push', '--tls-verify=false', '--authfile', '$AUTH', `$REGISTRY/${repo}/app:1.0`, `docker://$REGISTRY/${repo}/app:pull-only`],
    fails: 'requested access to the resource is denied',
  },
  {
    id: `${program}.revoked`, client: program, flow: 'pull with a revoked credential',
    argv: [program, 'pull', ...always, '--tls-verify=false', '--authfile', '$AUTH', `$REGISTRY/${repo}/app:1.0`],
    fails: `unable to retrieve auth token: invalid username/password: unauthorized: ${REVOKED}`,
  },
  {
    id: `${program}.expired`, client: program, flow: 'pull with an expired credential',
    argv: [program, 'pull', ...always, '--tls-verify=false', '--creds', '$ID:$CREDENTIAL', `$REGISTRY/${repo}/app:1.0`],
    fails: `unable to retrieve auth token: invalid username/password: unauthorized: ${EXPIRED}`,
  },
];

export const FLOWS: readonly Flow[] = [
  // ------------------------------------------------------------------ docker
  {
    id: 'docker.login', client: 'docker', flow: 'login (stores an identity token)',
    argv: ['docker', '--config', '$CONFIG', 'login', '-u', '$ID', '--password-stdin', '$REGISTRY'],
    stdin: '$CREDENTIAL', shows: 'Login Succeeded',
  },
  { id: 'docker.load', client: 'docker', flow: 'image from a docker-archive', argv: ['docker', 'load', '-i', '$ARCHIVE'] },
  { id: 'docker.tag', client: 'docker', flow: 'tag', argv: ['docker', 'tag', 'team/app:1.0', '$REGISTRY/team/docker/app:1.0'] },
  { id: 'docker.push', client: 'docker', flow: 'push (POST refresh_token)', argv: ['docker', '--config', '$CONFIG', 'push', '$REGISTRY/team/docker/app:1.0'] },
  { id: 'docker.rmi', client: 'docker', flow: 'remove the local copy', argv: ['docker', 'rmi', '$REGISTRY/team/docker/app:1.0'] },
  { id: 'docker.pull', client: 'docker', flow: 'pull', argv: ['docker', '--config', '$CONFIG', 'pull', '$REGISTRY/team/docker/app:1.0'] },
  { id: 'docker.tag-other', client: 'docker', flow: 'tag for another repository', argv: ['docker', 'tag', '$REGISTRY/team/docker/app:1.0', '$REGISTRY/team/docker/other:1.0'] },
  {
    id: 'docker.mount', client: 'docker', flow: 'push to another repository (cross-repository mount)',
    argv: ['docker', '--config', '$CONFIG', 'push', '$REGISTRY/team/docker/other:1.0'], shows: 'Mounted from team/docker/app',
  },
  {
    id: 'docker.pull-only-push', client: 'docker', flow: 'push with a pull-only credential',
    argv: ['docker', '--config', '$CONFIG', 'push', '$REGISTRY/team/docker/other:1.0'],
    fails: 'denied: requested access to the resource is denied',
  },
  {
    id: 'docker.revoked', client: 'docker', flow: 'pull with a revoked credential',
    argv: ['docker', '--config', '$CONFIG', 'pull', '$REGISTRY/team/docker/app:1.0'],
    fails: `unauthorized: ${REVOKED}`,
  },
  {
    id: 'docker.expired', client: 'docker', flow: 'login with an expired credential',
    argv: ['docker', '--config', '$CONFIG', 'login', '-u', '$ID', '--password-stdin', '$REGISTRY'],
    stdin: '$CREDENTIAL', fails: `unauthorized: ${EXPIRED}`,
  },
  {
    id: 'docker.expired-identity', client: 'docker', flow: 'pull with an expired identity token (POST refresh_token)',
    argv: ['docker', '--config', '$CONFIG', 'pull', '$REGISTRY/team/docker/app:1.0'],
    fails: `unauthorized: ${EXPIRED}`,
  },
  {
    id: 'docker.helper-push', client: 'docker', flow: 'push with only `credHelpers` in config.json',
    argv: ['docker', '--config', '$CONFIG', 'push', '$REGISTRY/team/docker/helper:1.0'],
  },
  {
    id: 'docker.helper-pull', client: 'docker', flow: 'pull with only `credHelpers` in config.json',
    argv: ['docker', '--config', '$CONFIG', 'pull', '$REGISTRY/team/docker/helper:1.0'],
  },
  {
    id: 'docker.mirror-pull', client: 'docker', flow: 'pull through the mirror (no credential on the client)',
    argv: ['docker', '--config', '$CONFIG', 'pull', '$MIRROR/team/docker/app:1.0'],
  },
  // ------------------------------------------------------------------ podman, buildah
  ...podmanLike('podman', 'team/podman'),
  {
    id: 'podman.helper-push', client: 'podman', flow: 'push with only `credHelpers` in auth.json',
    argv: ['podman', 'push', '--tls-verify=false', '--authfile', '$AUTH', '$IMAGE_ID', 'docker://$REGISTRY/team/podman/helper:1.0'],
  },
  {
    id: 'podman.helper-pull', client: 'podman', flow: 'pull with only `credHelpers` in auth.json',
    argv: ['podman', 'pull', '--tls-verify=false', '--authfile', '$AUTH', '$REGISTRY/team/podman/helper:1.0'],
  },
  ...podmanLike('buildah', 'team/buildah'),
  // ------------------------------------------------------------------ skopeo
  {
    id: 'skopeo.login', client: 'skopeo', flow: 'login',
    argv: ['skopeo', 'login', '--tls-verify=false', '--authfile', '$AUTH', '-u', '$ID', '--password-stdin', '$REGISTRY'],
    stdin: '$CREDENTIAL', shows: 'Login Succeeded!',
  },
  {
    id: 'skopeo.push', client: 'skopeo', flow: 'push',
    argv: ['skopeo', 'copy', '--dest-tls-verify=false', '--dest-authfile', '$AUTH', 'oci:$LAYOUT:1.0', 'docker://$REGISTRY/team/skopeo/app:1.0'],
  },
  {
    id: 'skopeo.pull', client: 'skopeo', flow: 'pull',
    argv: ['skopeo', 'copy', '--src-tls-verify=false', '--src-authfile', '$AUTH', 'docker://$REGISTRY/team/skopeo/app:1.0', 'oci:$OUT:1.0'],
  },
  {
    id: 'skopeo.mount', client: 'skopeo', flow: 'copy to another repository (cross-repository mount)',
    argv: ['skopeo', 'copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--authfile', '$AUTH', 'docker://$REGISTRY/team/skopeo/app:1.0', 'docker://$REGISTRY/team/skopeo/other:1.0'],
  },
  {
    id: 'skopeo.list-tags', client: 'skopeo', flow: 'list tags',
    argv: ['skopeo', 'list-tags', '--tls-verify=false', '--authfile', '$AUTH', 'docker://$REGISTRY/team/skopeo/app'], shows: '"1.0"',
  },
  {
    id: 'skopeo.delete-refused', client: 'skopeo', flow: 'delete with a plan without `delete`',
    argv: ['skopeo', 'delete', '--tls-verify=false', '--authfile', '$AUTH', 'docker://$REGISTRY/team/skopeo/other:1.0'],
    fails: '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Class":"","Name":"team/skopeo/other","Action":"delete"}]}]}',
  },
  {
    id: 'skopeo.delete', client: 'skopeo', flow: 'delete (operator plan)',
    argv: ['skopeo', 'delete', '--tls-verify=false', '--authfile', '$AUTH', 'docker://$REGISTRY/team/skopeo/other:1.0'],
  },
  {
    id: 'skopeo.pull-only-push', client: 'skopeo', flow: 'push with a pull-only credential',
    argv: ['skopeo', 'copy', '--dest-tls-verify=false', '--dest-authfile', '$AUTH', 'oci:$LAYOUT:1.0', 'docker://$REGISTRY/team/skopeo/app:pull-only'],
    fails: 'requested access to the resource is denied',
  },
  {
    id: 'skopeo.revoked', client: 'skopeo', flow: 'inspect with a revoked credential',
    argv: ['skopeo', 'inspect', '--tls-verify=false', '--authfile', '$AUTH', 'docker://$REGISTRY/team/skopeo/app:1.0'],
    fails: `unable to retrieve auth token: invalid username/password: unauthorized: ${REVOKED}`,
  },
  {
    id: 'skopeo.expired-login', client: 'skopeo', flow: 'login with an expired credential',
    argv: ['skopeo', 'login', '--tls-verify=false', '--authfile', '$AUTH', '-u', '$ID', '--password-stdin', '$REGISTRY'],
    stdin: '$CREDENTIAL', fails: 'logging into "$REGISTRY": invalid username/password',
  },
  {
    id: 'skopeo.expired', client: 'skopeo', flow: 'inspect with an expired credential',
    argv: ['skopeo', 'inspect', '--tls-verify=false', '--creds', '$ID:$CREDENTIAL', 'docker://$REGISTRY/team/skopeo/app:1.0'],
    fails: `unable to retrieve auth token: invalid username/password: unauthorized: ${EXPIRED}`,
  },
  {
    id: 'registry-token.login-auth-file', client: 'skopeo', flow: '`registry-token login` writes an identity token into auth.json',
    argv: ['registry-token', 'login', '$REGISTRY', '--insecure', '--issuer', '$ISSUER', '--client-id', 'team-dpop', '--client-secret-file', '$SECRET_FILE', '--auth-file', '$AUTH'],
    shows: 'Login succeeded',
  },
  {
    id: 'skopeo.identity-push', client: 'skopeo', flow: 'push with that identity token (POST refresh_token)',
    argv: ['skopeo', 'copy', '--dest-tls-verify=false', '--dest-authfile', '$AUTH', 'oci:$LAYOUT:1.0', 'docker://$REGISTRY/team/skopeo/identity:1.0'],
  },
  // ------------------------------------------------------------------ curl: the catalog
  {
    id: 'curl.catalog-token', client: 'curl', flow: 'a token for `registry:catalog:*` (operator plan)',
    argv: ['curl', '--fail-with-body', '-u', '$ID:$CREDENTIAL', '$TOKEN_SERVICE/token?service=$SERVICE&scope=registry:catalog:*'], shows: '"scope":"registry:catalog:*"',
  },
  {
    id: 'curl.catalog', client: 'curl', flow: '`/v2/_catalog` with that token',
    argv: ['curl', '--fail-with-body', '-H', 'Authorization: Bearer $TOKEN', 'http://$REGISTRY/v2/_catalog'], shows: '"repositories":[',
  },
  {
    id: 'curl.catalog-refused', client: 'curl', flow: 'a token for `registry:catalog:*` (team plan)',
    argv: ['curl', '--fail-with-body', '-u', '$ID:$CREDENTIAL', '$TOKEN_SERVICE/token?service=$SERVICE&scope=registry:catalog:*'],
    fails: '"errors":[{"code":"DENIED","message":"plan \\"team\\" grants none of the requested access"}]',
  },
  // ------------------------------------------------------------------ ctr
  { id: 'ctr.import', client: 'ctr', flow: 'image from an OCI archive', argv: ['ctr', 'images', 'import', '--base-name', 'team/app', '$ARCHIVE'] },
  {
    id: 'ctr.push', client: 'ctr', flow: 'push with `--user` (POST grant_type=password)',
    argv: ['ctr', 'images', 'push', '--plain-http', '--user', '$ID:$CREDENTIAL', '$REGISTRY/team/ctr/app:1.0', 'team/app:1.0'],
  },
  {
    id: 'ctr.pull', client: 'ctr', flow: 'pull with `--user`',
    argv: ['ctr', 'images', 'pull', '--plain-http', '--snapshotter', 'native', '--user', '$ID:$CREDENTIAL', '$REGISTRY/team/ctr/app:1.0'],
  },
  {
    id: 'ctr.mount', client: 'ctr', flow: 'push to another repository (cross-repository mount)',
    argv: ['ctr', 'images', 'push', '--plain-http', '--user', '$ID:$CREDENTIAL', '$REGISTRY/team/ctr/other:1.0', '$REGISTRY/team/ctr/app:1.0'],
  },
  {
    id: 'ctr.refresh-push', client: 'ctr', flow: 'push with `--refresh` (POST grant_type=refresh_token)',
    argv: ['ctr', 'images', 'push', '--plain-http', '--refresh', '$CREDENTIAL', '$REGISTRY/team/ctr/refresh:1.0', 'team/app:1.0'],
  },
  {
    id: 'ctr.refresh-pull', client: 'ctr', flow: 'pull with `--refresh`',
    argv: ['ctr', 'images', 'pull', '--plain-http', '--snapshotter', 'native', '--refresh', '$CREDENTIAL', '$REGISTRY/team/ctr/refresh:1.0'],
  },
  {
    id: 'ctr.pull-only-push', client: 'ctr', flow: 'push with a pull-only credential',
    argv: ['ctr', 'images', 'push', '--plain-http', '--user', '$ID:$CREDENTIAL', '$REGISTRY/team/ctr/app:pull-only', 'team/app:1.0'],
    fails: 'server message: insufficient_scope: authorization failed',
    orFails: {
      shows: 'io: read/write on closed pipe',
      when: 'when the registry\'s 401 for the manifest arrives before ctr has finished writing it (ctr 1.6 reports its writer\'s error, not the answer)',
    },
  },
  {
    id: 'ctr.revoked', client: 'ctr', flow: 'pull with a revoked credential',
    argv: ['ctr', 'images', 'pull', '--plain-http', '--snapshotter', 'native', '--user', '$ID:$CREDENTIAL', '$REGISTRY/team/ctr/app:1.0'],
    fails: 'failed to fetch oauth token: unexpected status: 401 Unauthorized',
  },
  {
    id: 'ctr.expired', client: 'ctr', flow: 'pull with an expired credential',
    argv: ['ctr', 'images', 'pull', '--plain-http', '--snapshotter', 'native', '--user', '$ID:$CREDENTIAL', '$REGISTRY/team/ctr/app:1.0'],
    fails: 'failed to fetch oauth token: unexpected status: 401 Unauthorized',
  },
  // ------------------------------------------------------------------ the mirror
  {
    id: 'mirror.pull', client: 'docker-registry (mirror)', flow: 'pull through the mirror, which logs in upstream with a credential',
    argv: ['skopeo', 'copy', '--src-tls-verify=false', 'docker://$MIRROR/team/mirror/app:1.0', 'oci:$OUT:1.0'],
  },
  {
    id: 'mirror.revoked', client: 'docker-registry (mirror)', flow: 'pull through the mirror once its credential is revoked',
    argv: ['skopeo', 'copy', '--src-tls-verify=false', 'docker://$MIRROR/team/mirror/app:2.0', 'oci:$OUT:2.0'],
    fails: 'reading manifest 2.0 in $MIRROR/team/mirror/app: manifest unknown: manifest unknown',
  },
];

export function flowById(id: string): Flow {
  const found = FLOWS.find((f) => f.id === id);
  if (found === undefined) throw new Error(`no flow ${id} in test/clients/flows.ts`);
  return found;
}
