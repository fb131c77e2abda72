// The kustomize base in deploy/kubernetes, checked offline: every manifest against the
// Kubernetes 1.27 OpenAPI schemas (kubernetes-models) and the ServiceMonitor against the
// Prometheus operator's CRD schema; the Secrets its generators make from what an operator
// creates (keygen, backends.env); the ConfigMap's configuration through the service's own
// `check-config` with the Deployment's environment; and the wiring between them (probes and
// ports against the configuration, selectors against labels, the image and its user).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { loadAll, load } from 'js-yaml';
import { ConfigMap, Secret, Service, ServiceAccount, type IContainer, type IProjectedVolumeSource } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeConfig } from '../support/process.ts';
import { CLI } from '../support/process.ts';

const BASE = new URL('../../deploy/kubernetes/', import.meta.url).pathname;
const ROOT = new URL('../../', import.meta.url).pathname;
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

/** Each kind the base may hold, with the model whose validate() applies its schema. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

function validate(manifest: Manifest): void {
  const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
  if (Model === undefined) throw new Error(`${manifest.kind} (${manifest.apiVersion}) has no schema here`);
  new Model(manifest as never).validate();
}

interface Kustomization {
  labels: { pairs: Record<string, string>; includeSelectors?: boolean }[];
  resources: string[];
  images: { name: string; newName?: string; newTag?: string }[];
  secretGenerator: { name: string; type?: string; files?: string[]; envs?: string[] }[];
}

const kustomization = load(readFileSync(join(BASE, 'kustomization.yaml'), 'utf8')) as Kustomization;
const manifests: Manifest[] = kustomization.resources.flatMap((file) => loadAll(readFileSync(join(BASE, file), 'utf8')) as Manifest[]);
const one = <T>(kind: string): T & Manifest => {
  const found = manifests.filter((m) => m.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0] as T & Manifest;
};

/** kustomize's `labels` (without includeSelectors): added to every resource's metadata. */
const labelsOf = (manifest: Manifest): Record<string, string> =>
  Object.assign({}, manifest.metadata.labels, ...kustomization.labels.map((entry) => entry.pairs));

const deployment = one<Deployment>('Deployment');
const podSpec = deployment.spec!.template.spec!;
const container = podSpec.containers[0] as IContainer;
const podLabels = deployment.spec!.template.metadata?.labels ?? {};
const configMap = one<ConfigMap>('ConfigMap');
const service = one<Service>('Service');
const configText = configMap.data?.['registry-token.yaml'] ?? '';
const config = load(configText) as { server: { port: number; shutdownTimeoutSeconds: number }; telemetry: { metricsPort: number }; signing: { keyPath: string; certificatePath: string } };

const portNamed = (name: unknown) => container.ports?.find((port) => port.name === name)?.containerPort;
const matches = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels[key] === value);

describe('deploy/kubernetes: the kustomize base', () => {
  let dir: string;
  let secrets: Manifest[];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'registry-token-k8s-'));
    // What the operator makes before the first `kustomize build` (docs/operations.md).
    const keygen = spawnSync(process.execPath, [CLI, 'keygen', '--out', join(dir, 'keys'), '--alg', 'ES256', '--service', 'registry.example.com', '--issuer', 'registry-token'], { encoding: 'utf8' });
    expect(keygen.status, keygen.stderr).toBe(0);
    const sourceOf = (path: string) => (path.startsWith('keys/') ? join(dir, path) : path === 'backends.env' ? join(BASE, 'backends.env.example') : join(BASE, path));
    // The Secrets the generators make, as kustomize makes them (without the name's hash suffix).
    secrets = kustomization.secretGenerator.map((generator) => {
      const data: Record<string, string> = {};
      for (const file of generator.files ?? []) {
        const [key, path] = file.includes('=') ? (file.split('=') as [string, string]) : [posix.basename(file), file];
        data[key] = readFileSync(sourceOf(path)).toString('base64');
      }
      for (const env of generator.envs ?? []) {
        for (const line of readFileSync(sourceOf(env), 'utf8').split('\n')) {
          const match = /^([A-Za-z0-9_.-]+)=(.*)$/.exec(line);
          if (match !== null) data[match[1]!] = Buffer.from(match[2]!).toString('base64');
        }
      }
      return { apiVersion: 'v1', kind: 'Secret', metadata: { name: generator.name }, type: generator.type ?? 'Opaque', data };
    });
  });

  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('lists every manifest of the directory as a resource, and each exists', () => {
    const files = readdirSync(BASE).filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
    expect(manifests.map((m) => m.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount', 'ServiceMonitor']);
  });

  it('every manifest and every generated Secret validates against its schema (ServiceMonitor: the CRD\'s)', () => {
    for (const manifest of [...manifests, ...secrets]) expect(() => validate(manifest), `${manifest.kind}/${manifest.metadata.name}`).not.toThrow();
  });

  it('the validators refuse what the API server would (so the check above can fail)', () => {
    const broken = structuredClone(deployment) as unknown as Manifest & { spec: { replicas: unknown } };
    broken.spec.replicas = 'two';
    expect(() => validate(broken)).toThrow(/replicas must be integer/);
    const monitor = structuredClone(one<ServiceMonitor>('ServiceMonitor')) as unknown as Manifest & { spec: { endpoints: { port: unknown }[] } };
    monitor.spec.endpoints[0]!.port = 9464;
    expect(() => validate(monitor)).toThrow(/port must be string/);
    expect(() => validate({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } })).toThrow(/no schema/);
  });

  it('the ConfigMap\'s configuration passes check-config with the Deployment\'s environment and the generated key', () => {
    // The files where the projected volume puts them, the variables as the Deployment sets them.
    const mount = container.volumeMounts?.find((m) => m.name === 'config');
    const configArg = container.args?.[(container.args?.indexOf('--config') ?? -2) + 1];
    expect(mount?.mountPath).toBe(dirname(configArg ?? ''));
    const projected = podSpec.volumes?.find((v) => v.name === 'config')?.projected as IProjectedVolumeSource;
    const projectedPaths = projected.sources!.flatMap((source) => (source.configMap ?? source.secret)?.items?.map((item) => `${mount!.mountPath}/${item.path}`) ?? []);
    expect(projectedPaths).toEqual(expect.arrayContaining([configArg, config.signing.keyPath, config.signing.certificatePath]));

    const env: Record<string, string> = {};
    for (const variable of container.env ?? []) {
      const ref = variable.valueFrom?.secretKeyRef;
      if (ref === undefined) {
        env[variable.name] = variable.value ?? '';
        continue;
      }
      const secret = secrets.find((s) => s.metadata.name === ref.name) as { data: Record<string, string> } | undefined;
      expect(secret?.data[ref.key], `${variable.name} from ${ref.name}/${ref.key}`).toBeDefined();
      env[variable.name] = Buffer.from(secret!.data[ref.key]!, 'base64').toString('utf8');
    }
    // Only the two paths are moved to this test's directory; they were checked against the mount above.
    env.REGISTRY_TOKEN_SIGNING__KEYPATH = join(dir, 'keys', 'signing-key.pem');
    env.REGISTRY_TOKEN_SIGNING__CERTIFICATEPATH = join(dir, 'keys', 'signing-cert.pem');
    const file = writeConfig(join(dir, 'registry-token.yaml'), load(configText) as Record<string, unknown>);
    const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toUpperCase().startsWith('REGISTRY_TOKEN_')));
    const check = spawnSync(process.execPath, [CLI, 'check-config', '--config', file, '--json'], { encoding: 'utf8', env: { ...clean, ...env } });
    expect(check.status, check.stderr).toBe(0);
    expect(check.stderr).toMatch(/configuration is valid; signing key ES256 kid [A-Z2-7]{4}(:[A-Z2-7]{4}){11}/);
    const effective = JSON.parse(check.stdout) as { ledger: { driver: string; mongodb: { uri: string } }; store: { driver: string; redis: { password: string } } };
    expect(effective.ledger).toMatchObject({ driver: 'mongodb', mongodb: { uri: '***' } });
    expect(effective.store).toMatchObject({ driver: 'redis', redis: { password: '***' } });
  });

  it('probes: liveness on /healthz, readiness on /readyz, on the port the configuration listens on', () => {
    expect(container.livenessProbe?.httpGet).toMatchObject({ path: '/healthz' });
    expect(container.readinessProbe?.httpGet).toMatchObject({ path: '/readyz' });
    for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
      expect(portNamed(probe?.httpGet?.port)).toBe(config.server.port);
    }
    expect(podSpec.terminationGracePeriodSeconds).toBeGreaterThan(config.server.shutdownTimeoutSeconds);
  });

  it('Service and ServiceMonitor reach the container\'s http and metrics ports; /metrics is the metrics port\'s', () => {
    const servicePorts = service.spec!.ports!;
    expect(servicePorts.map((p) => portNamed(p.targetPort))).toEqual([config.server.port, config.telemetry.metricsPort]);
    const monitor = one<ServiceMonitor>('ServiceMonitor');
    expect(monitor.spec.endpoints).toHaveLength(1);
    const endpoint = monitor.spec.endpoints[0]!;
    expect(endpoint.path).toBe('/metrics');
    expect(portNamed(servicePorts.find((p) => p.name === endpoint.port)?.targetPort)).toBe(config.telemetry.metricsPort);
    expect(matches(monitor.spec.selector.matchLabels, labelsOf(service))).toBe(true);
  });

  it('selectors of the Deployment, Service and PodDisruptionBudget select the pods; replicas outnumber what a disruption may take', () => {
    expect(matches(deployment.spec!.selector.matchLabels, podLabels)).toBe(true);
    expect(matches(service.spec!.selector, podLabels)).toBe(true);
    const budget = one<PodDisruptionBudget>('PodDisruptionBudget');
    expect(matches(budget.spec!.selector?.matchLabels, podLabels)).toBe(true);
    expect(deployment.spec!.replicas).toBeGreaterThan(Number(budget.spec!.maxUnavailable));
    expect(podSpec.serviceAccountName).toBe(one<ServiceAccount>('ServiceAccount').metadata.name);
    // The labels kustomize adds to every resource are the ones the selectors use, and no
    // manifest says otherwise.
    const pairs = Object.assign({}, ...kustomization.labels.map((entry) => entry.pairs)) as Record<string, string>;
    expect(matches(deployment.spec!.selector.matchLabels, pairs)).toBe(true);
    for (const manifest of [...manifests, { metadata: { labels: podLabels } } as unknown as Manifest]) {
      for (const [key, value] of Object.entries(manifest.metadata.labels ?? {})) {
        if (key in pairs) expect(value, `${manifest.kind ?? 'pod template'} label ${key}`).toBe(pairs[key]);
      }
    }
  });

  it('the image: the one build.sh makes, as the kustomization names it, run as its non-root user on a read-only root', () => {
    const [name, tag] = (container.image ?? '').split(/:(?=[^:/]+$)/);
    const image = kustomization.images.find((entry) => entry.name === name);
    expect(image, `kustomization images[] for ${name}`).toBeDefined();
    expect(tag).toBe(VERSION);
    expect(image!.newTag).toBe(VERSION);
    expect(readFileSync(join(ROOT, 'deploy/image/build.sh'), 'utf8')).toContain(`IMAGE="\${IMAGE:-${name}:$version}"`);
    const user = /^USER (\d+):(\d+)$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
    expect(podSpec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: Number(user?.[1]), runAsGroup: Number(user?.[2]) });
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(container.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources?.limits).toMatchObject({ memory: expect.any(String) });
    // Every Secret the pods read is one the kustomization generates.
    const secretNames = [
      ...(container.env ?? []).flatMap((v) => v.valueFrom?.secretKeyRef?.name ?? []),
      ...(podSpec.volumes ?? []).flatMap((v) => v.projected?.sources?.flatMap((s) => s.secret?.name ?? []) ?? []),
    ];
    expect(new Set(secretNames)).toEqual(new Set(kustomization.secretGenerator.map((g) => g.name)));
  });
});
