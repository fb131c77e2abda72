// Issuance quotas over the memory driver's counters (the redis driver's are proved across
// replicas in test/store/quotas-replicas.test.ts): which quota applies, which refuses, what the
// refusal says, and that a caller without the key is not held to it.
import { describe, expect, it } from 'vitest';
import { TooManyRequestsError } from '../../src/domain/errors.ts';
import { createIssuanceQuotas, limitFor, noQuotas } from '../../src/quotas/quotas.ts';
import { openMemoryStore } from '../../src/store/memory.ts';
import { ledgerRevocations } from '../../src/store/index.ts';
import { thrown } from '../support/thrown.ts';

function store() {
  const none = { listRevocations: async () => [], putRevocation: async () => {}, deleteRevocation: async () => false };
  return openMemoryStore({ replay: { capacity: 100, perClient: 10 }, ledgerRevocations: ledgerRevocations(none), now: () => Date.now() });
}

async function refusal(run: () => Promise<void>): Promise<TooManyRequestsError> {
  try {
    await run();
  } catch (error) {
    return thrown(TooManyRequestsError, () => {
      throw error;
    });
  }
  throw new Error('expected a quota refusal, got none');
}

describe('issuance quotas', () => {
  it('limitFor: an override wins over the default; no default and no override is no quota', () => {
    const limit = { tokensPerMinute: 10, overrides: { big: 100 } };
    expect(limitFor(limit, 'big')).toBe(100);
    expect(limitFor(limit, 'small')).toBe(10);
    expect(limitFor({ overrides: { big: 100 } }, 'small')).toBeUndefined();
    // An inherited property name is not an override.
    expect(limitFor(limit, 'toString')).toBe(10);
  });

  it('nothing configured: the no-op gate, no counters opened', () => {
    let opened = 0;
    const quotas = createIssuanceQuotas({ perTenant: { overrides: {} }, perLicense: { overrides: {} } }, () => {
      opened += 1;
      throw new Error('no counters expected');
    });
    expect(quotas).toBe(noQuotas);
    expect(opened).toBe(0);
  });

  it('a tenant quota: the (max+1)th token in a minute is refused naming the tenant, its limit and when to retry', async () => {
    const shared = store();
    const quotas = createIssuanceQuotas({ perTenant: { tokensPerMinute: 3, overrides: { big: 5 } }, perLicense: { overrides: {} } }, shared.counters);
    for (let i = 0; i < 3; i++) await quotas.admit({ tenant: 'alpha', license: 'lic-a' });
    const error = await refusal(() => quotas.admit({ tenant: 'alpha', license: 'lic-a' }));
    expect(error.status).toBe(429);
    expect(error.reason).toBe('quota_exceeded');
    expect(error.dockerCode).toBe('TOOMANYREQUESTS');
    expect(error.quota).toBe('tenant alpha');
    expect(error.message).toMatch(/^the issuance quota of tenant "alpha" \(3 tokens per minute\) is used up; retry in \d+ s$/);
    expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(error.retryAfterSeconds).toBeLessThanOrEqual(60);
    // Each tenant has its own count; an override raises one tenant's.
    for (let i = 0; i < 3; i++) await quotas.admit({ tenant: 'beta', license: 'lic-b' });
    for (let i = 0; i < 5; i++) await quotas.admit({ tenant: 'big', license: 'lic-c' });
    expect((await refusal(() => quotas.admit({ tenant: 'big', license: 'lic-c' }))).quota).toBe('tenant big');
    // A caller without a tenant is not held to a tenant quota.
    for (let i = 0; i < 10; i++) await quotas.admit({ tenant: undefined, license: 'lic-x' });
  });

  it('a licence quota refuses on its own, after the tenant quota allowed the token', async () => {
    const shared = store();
    const quotas = createIssuanceQuotas({ perTenant: { tokensPerMinute: 100, overrides: {} }, perLicense: { overrides: { 'lic-small': 2 } } }, shared.counters);
    await quotas.admit({ tenant: 'alpha', license: 'lic-small' });
    await quotas.admit({ tenant: 'alpha', license: 'lic-small' });
    const error = await refusal(() => quotas.admit({ tenant: 'alpha', license: 'lic-small' }));
    expect(error.quota).toBe('license lic-small');
    expect(error.message).toMatch(/^the issuance quota of licence "lic-small" \(2 tokens per minute\)/);
    // Licences without an override (and no default) have no quota.
    for (let i = 0; i < 5; i++) await quotas.admit({ tenant: 'alpha', license: 'lic-other' });
  });
});
