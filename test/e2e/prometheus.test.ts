// The real consumer of /metrics: Debian's prometheus scrapes the running service, loads the alert
// rules of deploy/monitoring/, and answers every PromQL query of the Grafana dashboard there with
// data, after traffic this test caused (issued, refused, rate-limited). Its query API must return
// the counters with exactly the values the test caused.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack, SERVICE } from '../support/stack.ts';
import { callWithProof, dpopGet, newDpopKeys, tokenUrl, type KeyPair } from '../support/dpop-client.ts';
import { freePort } from '../support/process.ts';
import { requireTool } from '../support/tools.ts';

const MONITORING = fileURLToPath(new URL('../../deploy/monitoring/', import.meta.url));
const DASHBOARD = join(MONITORING, 'registry-token.dashboard.json');
const RULES = join(MONITORING, 'registry-token.rules.yml');

interface Sample { metric: Record<string, string>; value: [number, string] }
interface QueryAnswer { status: string; error?: string; data?: { resultType: string; result: Sample[] } }
interface Panel { title: string; targets: { refId: string; expr: string }[] }
interface RuleState { name: string; query: string; health: string; lastError?: string; lastEvaluation: string }

/**
 * Grafana's own interval variable has no meaning to Prometheus: it becomes a fixed window that
 * covers all of this test's traffic (Grafana makes it at least four scrape intervals).
 */
function asPromQL(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m');
}

describe('prometheus scrapes the service', () => {
  let stack: Stack;
  let prometheus: ChildProcess;
  let prometheusUrl: string;
  let log = '';

  async function query(expression: string): Promise<QueryAnswer> {
    const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expression)}`);
    return (await response.json()) as QueryAnswer;
  }

  async function value(expression: string): Promise<number | undefined> {
    try {
      const sample = (await query(expression)).data?.result?.[0]?.value[1];
      return sample === undefined ? undefined : Number(sample);
    } catch {
      return undefined; // prometheus still starting
    }
  }

  /** Polls until `expression` has the value `done` accepts; returns the last value seen. */
  async function until(expression: string, done: (v: number | undefined) => boolean): Promise<number | undefined> {
    const deadline = Date.now() + 45_000;
    let seen: number | undefined;
    while (Date.now() < deadline) {
      seen = await value(expression);
      if (done(seen)) return seen;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return seen;
  }

  const issued = 'sum(registry_token_issued_total{service="registry.localhost",plan="team"})';
  const revoked = 'sum(registry_token_rejected_total{reason="license_revoked"})';
  const limited = 'sum(registry_token_rate_limited_total{limit="failed_auth"})';

  beforeAll(async () => {
    // Named at once when missing, not as a 45 s wait for a server that never starts.
    requireTool('prometheus');
    requireTool('promtool');
    stack = await startStack({
      // Two failed authentications per address a minute: the third anonymous request is a 429.
      config: (base) => ({ ...base, rateLimits: { failedAuthPerAddress: { max: 2, windowSeconds: 60 } } }),
    });

    const port = await freePort();
    prometheusUrl = `http://127.0.0.1:${port}`;
    const target = new URL(stack.url).host;
    const config = join(stack.dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'rule_files:',
        `  - ${RULES}`,
        'scrape_configs:',
        '  - job_name: registry-token',
        '    static_configs:',
        `      - targets: ['${target}']`,
        '',
      ].join('\n'),
    );
    prometheus = spawn('prometheus', [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(stack.dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    prometheus.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    // Scraped once before any traffic, so every counter's first sample predates its increase
    // and rate() sees it grow.
    expect(await until('up{job="registry-token"}', (v) => v === 1), log).toBe(1);

    const keys: Record<'team' | 'revoked', KeyPair> = { team: await newDpopKeys(), revoked: await newDpopKeys() };
    const team = await stack.authority.tokenWithDpop('team-dpop', keys.team);
    const revokedToken = await stack.authority.tokenWithDpop('revoked', keys.revoked);
    const url = tokenUrl(stack.url, { service: SERVICE, scope: ['repository:team/app:pull'] });
    const pull = async (token: string, pair: KeyPair) => (await dpopGet(url, token, pair)).status;

    // Two rounds: series born in the first are scraped before the second makes them grow.
    expect(await pull(team, keys.team)).toBe(200);
    expect(await pull(revokedToken, keys.revoked)).toBe(403);
    expect(await until(issued, (v) => v === 1), log).toBe(1);
    expect(await until(revoked, (v) => v === 1), log).toBe(1);
    for (let i = 0; i < 2; i++) expect(await pull(team, keys.team)).toBe(200);
    expect(await pull(revokedToken, keys.revoked)).toBe(403);
    const anonymous = [];
    for (let i = 0; i < 3; i++) anonymous.push((await callWithProof(url)).status);
    expect(anonymous).toEqual([401, 401, 429]);
  });

  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    await stack?.close();
  });

  it('returns the counters with the values the test caused', async () => {
    expect(await until(issued, (v) => v === 3), log).toBe(3);
    expect(await until(revoked, (v) => v === 2), log).toBe(2);
    expect(await until(limited, (v) => v === 1), log).toBe(1);
    expect(await value('up{job="registry-token"}')).toBe(1);
  });

  it('answers every query of every dashboard panel with data', async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
    const targets = dashboard.panels.flatMap((panel) => panel.targets.map((t) => ({ where: `${panel.title} ${t.refId}`, expr: asPromQL(t.expr) })));
    expect(targets.length).toBeGreaterThanOrEqual(11);
    const empty: string[] = [];
    for (const { where, expr } of targets) {
      const answer = await query(expr);
      expect(answer.status, `${where}: ${answer.error ?? ''}`).toBe('success');
      const result = answer.data?.result ?? [];
      if (result.length === 0) {
        empty.push(`${where}: ${expr}`);
        continue;
      }
      // Not a NaN quantile of an idle histogram, nor an Inf share of nothing.
      for (const sample of result) expect(Number.isFinite(Number(sample.value[1])), `${where} ${JSON.stringify(sample)}`).toBe(true);
    }
    expect(empty, log).toEqual([]);
  });

  it('shows the traffic this test made in the rate panels', async () => {
    const series = async (expr: string) =>
      Object.fromEntries(((await query(asPromQL(expr))).data?.result ?? []).map((s) => [Object.values(s.metric).join(',') || 'value', Number(s.value[1])]));
    const byReason = await series('sum by (reason) (rate(registry_token_rejected_total[$__rate_interval]))');
    expect(byReason.license_revoked, JSON.stringify(byReason)).toBeGreaterThan(0);
    expect((await series('sum by (plan) (rate(registry_token_issued_total[$__rate_interval]))')).team).toBeGreaterThan(0);
    expect((await series('sum by (limit) (rate(registry_token_rate_limited_total[$__rate_interval]))')).failed_auth).toBeGreaterThan(0);
    expect((await series('min by (driver) (registry_token_store_up)')).memory).toBe(1);
    // One DPoP proof per issued or refused-after-authentication exchange is remembered.
    expect((await series('max(registry_token_replay_cache_entries)')).value).toBe(5);
  });

  it('loads the alert rules, evaluates each without error, and runs their expressions', async () => {
    const groups = (load(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }).groups;
    const defined = groups.flatMap((group) => group.rules);
    let states: RuleState[] = [];
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const body = (await (await fetch(`${prometheusUrl}/api/v1/rules`)).json()) as { data: { groups: { rules: RuleState[] }[] } };
      states = body.data.groups.flatMap((group) => group.rules);
      if (states.length === defined.length && states.every((rule) => !rule.lastEvaluation.startsWith('0001-'))) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(states.map((rule) => rule.name).sort()).toEqual(defined.map((rule) => rule.alert).sort());
    for (const rule of states) expect({ name: rule.name, health: rule.health, lastError: rule.lastError ?? '' }).toEqual({ name: rule.name, health: 'ok', lastError: '' });
    for (const rule of defined) {
      const answer = await query(rule.expr);
      expect(answer.status, `${rule.alert}: ${answer.error ?? ''}`).toBe('success');
    }
    // A healthy service with this traffic fires nothing.
    const alerts = (await (await fetch(`${prometheusUrl}/api/v1/alerts`)).json()) as { data: { alerts: { labels: { alertname: string }; state: string }[] } };
    expect(alerts.data.alerts.filter((alert) => alert.state === 'firing')).toEqual([]);
  });

  it('promtool accepts the live exposition', async () => {
    const body = await (await fetch(`${stack.url}/metrics`)).text();
    const result = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });
});
