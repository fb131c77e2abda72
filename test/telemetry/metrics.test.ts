import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Server } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTelemetry, OVERFLOW_LABEL, PROMETHEUS_CONTENT_TYPE, type Telemetry } from '../../src/telemetry/metrics.ts';

const PROMTOOL = '/usr/bin/promtool';

let telemetry: Telemetry | undefined;
afterEach(async () => {
  await telemetry?.shutdown();
  telemetry = undefined;
});

function samples(body: string, name: string): string[] {
  return body.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe('createTelemetry', () => {
  it('exposes the exact counter names and values after known calls', async () => {
    telemetry = createTelemetry();
    const { metrics } = telemetry;
    metrics.issued({ service: 'registry.localhost', plan: 'pro' });
    metrics.issued({ service: 'registry.localhost', plan: 'pro' });
    metrics.issued({ service: 'registry.localhost', plan: 'free' });
    metrics.rejected({ service: 'registry.localhost', plan: 'free', reason: 'plan_denied' });
    metrics.rejected({ service: 'registry.localhost', plan: 'free', reason: 'plan_denied' });
    metrics.rejected({ service: 'registry.localhost', plan: 'pro', reason: 'invalid_dpop_proof' });
    metrics.jwksRefresh('failure');

    const { contentType, body } = await telemetry.scrape();
    expect(contentType).toBe(PROMETHEUS_CONTENT_TYPE);
    expect(body).toContain('# TYPE registry_token_issued_total counter\n');
    expect(body).toContain('# TYPE registry_token_rejected_total counter\n');
    expect(samples(body, 'registry_token_issued_total').sort()).toEqual([
      'registry_token_issued_total{service="registry.localhost",plan="free",tenant="none"} 1',
      'registry_token_issued_total{service="registry.localhost",plan="pro",tenant="none"} 2',
    ]);
    expect(samples(body, 'registry_token_rejected_total').sort()).toEqual([
      'registry_token_rejected_total{service="registry.localhost",plan="free",reason="plan_denied",tenant="none"} 2',
      'registry_token_rejected_total{service="registry.localhost",plan="pro",reason="invalid_dpop_proof",tenant="none"} 1',
    ]);
    expect(samples(body, 'registry_token_jwks_refresh_total').sort()).toEqual([
      'registry_token_jwks_refresh_total{outcome="failure"} 1',
      'registry_token_jwks_refresh_total{outcome="success"} 0',
    ]);
    // No doubled suffix, no OpenTelemetry scope labels, no target_info.
    expect(body).not.toMatch(/_total_total|otel_scope|target_info/);
  });

  it('buckets durations in seconds on a millisecond scale', async () => {
    telemetry = createTelemetry();
    telemetry.metrics.tokenDuration(0.004, { outcome: 'issued' });
    telemetry.metrics.tokenDuration(0.2, { outcome: 'rejected' });
    telemetry.metrics.ledgerWrite(0.0007);
    const { body } = await telemetry.scrape();
    expect(body).toContain('# TYPE registry_token_request_duration_seconds histogram\n');
    expect(body).toContain('registry_token_request_duration_seconds_bucket{outcome="issued",le="0.0025"} 0\n');
    expect(body).toContain('registry_token_request_duration_seconds_bucket{outcome="issued",le="0.005"} 1\n');
    expect(body).toContain('registry_token_request_duration_seconds_count{outcome="rejected"} 1\n');
    expect(body).toContain('registry_token_request_duration_seconds_sum{outcome="rejected"} 0.2\n');
    expect(body).toContain('registry_token_ledger_write_duration_seconds_bucket{le="0.0005"} 0\n');
    expect(body).toContain('registry_token_ledger_write_duration_seconds_bucket{le="0.001"} 1\n');
    expect(body).toContain('registry_token_ledger_write_duration_seconds_count 1\n');
  });

  it('caps the distinct values of caller-influenced labels', async () => {
    telemetry = createTelemetry({ maxLabelValues: 2 });
    for (const service of ['a', 'b', 'c', 'd']) telemetry.metrics.issued({ service, plan: 'pro' });
    const lines = samples((await telemetry.scrape()).body, 'registry_token_issued_total').sort();
    expect(lines).toEqual([
      'registry_token_issued_total{service="a",plan="pro",tenant="none"} 1',
      'registry_token_issued_total{service="b",plan="pro",tenant="none"} 1',
      `registry_token_issued_total{service="${OVERFLOW_LABEL}",plan="pro",tenant="none"} 2`,
    ]);
  });

  it('starts no server: nothing listens until the app serves scrape()', async () => {
    // The exporter's own server is created unref'd, so only a listen() spy can see it start.
    const listen = vi.spyOn(Server.prototype, 'listen');
    try {
      telemetry = createTelemetry();
      telemetry.metrics.issued({ service: 'registry.localhost', plan: 'pro' });
      await telemetry.scrape();
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(listen).not.toHaveBeenCalled();
    } finally {
      listen.mockRestore();
    }
  });

  it('passes promtool check metrics', async (ctx) => {
    ctx.skip(!existsSync(PROMTOOL), `${PROMTOOL} is missing (CI installs it)`);
    telemetry = createTelemetry();
    const empty = await telemetry.scrape();
    telemetry.metrics.issued({ service: 'registry.localhost', plan: 'pro' });
    telemetry.metrics.rejected({ service: 'registry.localhost', plan: 'pro', reason: 'license_revoked' });
    telemetry.metrics.tokenDuration(0.003, { outcome: 'issued' });
    telemetry.metrics.jwksRefresh('success');
    telemetry.metrics.ledgerWrite(0.002);
    const full = await telemetry.scrape();
    for (const { body } of [empty, full]) {
      const result = spawnSync(PROMTOOL, ['check', 'metrics'], { input: body, encoding: 'utf8' });
      expect({ status: result.status, stderr: result.stderr, stdout: result.stdout }).toEqual({ status: 0, stderr: '', stdout: '' });
    }
  });
});
