// The alerting rules are checked and unit-tested by the real promtool: each alert has input
// series that fire it and series that must not (etc/alerts/registry-token.rules.test.yml).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';

const PROMTOOL = '/usr/bin/promtool';
const RULES = fileURLToPath(new URL('../../etc/alerts/registry-token.rules.yml', import.meta.url));
const RULE_TESTS = fileURLToPath(new URL('../../etc/alerts/registry-token.rules.test.yml', import.meta.url));

function promtool(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL, args, { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

interface Rule { alert: string; expr: string; for: string; labels: Record<string, string>; annotations: Record<string, string> }

describe('alerting rules', () => {
  it('define both alerts with severity, summary, description and runbook', () => {
    const rules = (load(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.alert).sort()).toEqual(['RegistryTokenIssuanceDropped', 'RegistryTokenRejectionsRising']);
    for (const rule of rules) {
      expect(rule.labels.severity).toBeTruthy();
      expect(rule.annotations).toMatchObject({ runbook_url: 'docs/operations.md#alerts' });
      expect(rule.annotations.summary).toBeTruthy();
      expect(rule.annotations.description).toBeTruthy();
      // Only the exact exposed names, never a doubled suffix.
      expect(rule.expr).toMatch(/registry_token_(issued|rejected)_total\[/);
      expect(rule.expr).not.toMatch(/_total_total/);
    }
  });

  it('pass promtool check rules', (ctx) => {
    ctx.skip(!existsSync(PROMTOOL), `${PROMTOOL} is missing (CI installs it)`);
    const { status, output } = promtool('check', 'rules', RULES);
    expect(output).toContain('SUCCESS: 2 rules found');
    expect(status).toBe(0);
  });

  it('pass promtool test rules: each alert fires on its series and stays quiet otherwise', (ctx) => {
    ctx.skip(!existsSync(PROMTOOL), `${PROMTOOL} is missing (CI installs it)`);
    const { status, output } = promtool('test', 'rules', RULE_TESTS);
    expect(output).toContain('SUCCESS');
    expect(output).not.toContain('FAILED');
    expect(status).toBe(0);
  });
});
