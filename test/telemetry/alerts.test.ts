// The monitoring files of deploy/monitoring/: the alerting rules are checked and unit-tested by
// the real promtool (each alert has input series that fire it and series that must not,
// registry-token.rules.test.yml), and every metric name the rules and the Grafana dashboard use
// is one the service really exposes. test/e2e/prometheus.test.ts runs all of it against a
// real Prometheus scraping the service.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTelemetry } from '../../src/telemetry/metrics.ts';
import { requireTool } from '../support/tools.ts';

const file = (name: string) => fileURLToPath(new URL(`../../deploy/monitoring/${name}`, import.meta.url));
const RULES = file('registry-token.rules.yml');
const RULE_TESTS = file('registry-token.rules.test.yml');
const DASHBOARD = file('registry-token.dashboard.json');

function promtool(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

interface Rule { alert: string; expr: string; for: string; labels: Record<string, string>; annotations: Record<string, string> }
interface Panel { id: number; type: string; title: string; description: string; gridPos: object; targets: { refId: string; expr: string }[] }

const rules = (load(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; title: string; panels: Panel[]; templating: { list: { name: string; type: string }[] } };

/** Every metric name in the service's exposition, with each traced metric exercised once. */
async function exposedNames(): Promise<Set<string>> {
  const telemetry = createTelemetry();
  const { metrics } = telemetry;
  metrics.issued({ service: 's', plan: 'p' });
  metrics.rejected({ service: 's', plan: 'p', reason: 'plan_denied' });
  metrics.tokenDuration(0.01, { outcome: 'issued' });
  metrics.credential({ outcome: 'issued', plan: 'p', reason: 'none' });
  metrics.ledgerWrite(0.001);
  metrics.storeCommand('replay', 'ok', 0.001);
  metrics.observeRevocationsAge(() => 1);
  metrics.observeSpoolDepth(() => 0);
  metrics.observeReplayCache(() => ({ entries: 1, capacity: 10 }));
  metrics.observeStore(() => ({ driver: 'memory', up: true }));
  const { body } = await telemetry.scrape();
  await telemetry.shutdown();
  return new Set(body.split('\n').filter((line) => line !== '' && !line.startsWith('#')).map((line) => line.split(/[{ ]/)[0]!));
}

const namesIn = (expr: string) => [...expr.matchAll(/\bregistry_token_\w+/g)].map((m) => m[0]);

describe('alerting rules', () => {
  beforeAll(() => requireTool('promtool'));

  it('define the alerts with severity, summary, description and runbook', () => {
    expect(rules.map((r) => r.alert).sort()).toEqual([
      'RegistryTokenIssuanceDropped',
      'RegistryTokenRejectionsRising',
      'RegistryTokenReplayCacheNearlyFull',
      'RegistryTokenStoreUnavailable',
    ]);
    for (const rule of rules) {
      expect(rule.labels.severity).toBeTruthy();
      expect(rule.annotations).toMatchObject({ runbook_url: 'docs/operations.md#alerts' });
      expect(rule.annotations.summary).toBeTruthy();
      expect(rule.annotations.description).toBeTruthy();
    }
  });

  it('pass promtool check rules', () => {
    const { status, output } = promtool('check', 'rules', RULES);
    expect(output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(status).toBe(0);
  });

  it('pass promtool test rules: each alert fires on its series and stays quiet otherwise', () => {
    const { status, output } = promtool('test', 'rules', RULE_TESTS);
    expect(output).toContain('SUCCESS');
    expect(output).not.toContain('FAILED');
    expect(status).toBe(0);
    const tested = new Set([...readFileSync(RULE_TESTS, 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
    for (const rule of rules) expect(tested.has(rule.alert), `${rule.alert} has a promtool test`).toBe(true);
  });
});

describe('the Grafana dashboard', () => {
  it('is a dashboard whose panels each have an id, a place, a description and PromQL targets, over a chosen Prometheus', () => {
    expect(dashboard.uid).toBe('registry-token');
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource' }));
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels) {
      expect(panel.description, panel.title).toBeTruthy();
      expect(panel.gridPos, panel.title).toBeDefined();
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets) expect(target.expr, panel.title).toMatch(/registry_token_/);
    }
  });

  it('covers what an operator watches', () => {
    const all = dashboard.panels.flatMap((panel) => panel.targets.map((t) => t.expr)).join('\n');
    for (const name of [
      'registry_token_issued_total',
      'registry_token_rejected_total',
      'registry_token_request_duration_seconds_bucket',
      'registry_token_ledger_write_duration_seconds_bucket',
      'registry_token_jwks_refresh_total',
      'registry_token_replay_cache_entries',
      'registry_token_rate_limited_total',
      'registry_token_store_up',
      'registry_token_store_errors_total',
    ]) expect(all, name).toContain(name);
    expect(all).toMatch(/sum by \(reason\)/);
  });
});

describe('metric names in rules and dashboard', () => {
  it('are exactly names the service exposes (no doubled _total, no typo)', async () => {
    const exposed = await exposedNames();
    const used = [...rules.map((rule) => rule.expr), ...dashboard.panels.flatMap((panel) => panel.targets.map((t) => t.expr))].flatMap(namesIn);
    expect(used.length).toBeGreaterThan(10);
    for (const name of used) expect(exposed.has(name), `${name} is not exposed; exposed: ${[...exposed].join(' ')}`).toBe(true);
  });
});
