import { describe, expect, it } from 'vitest';
import { RevocationSet } from '../../src/authorize/revocations.ts';
import { UnavailableError } from '../../src/domain/errors.ts';
import { parseConfig } from '../../src/config/loader.ts';

describe('RevocationSet', () => {
  it('revokes nothing by default', () => {
    const set = new RevocationSet();
    expect(set.isLicenseRevoked('lic-1')).toBe(false);
    expect(set.isSubjectRevoked('svc')).toBe(false);
  });

  it('revokes the configured licences', () => {
    const set = new RevocationSet(['lic-1', 'lic-2']);
    expect(set.isLicenseRevoked('lic-1')).toBe(true);
    expect(set.isLicenseRevoked('lic-2')).toBe(true);
    expect(set.isLicenseRevoked('lic-3')).toBe(false);
    // configured entries are licences, never subjects
    expect(set.isSubjectRevoked('lic-1')).toBe(false);
  });

  it('replaces the configured list whole (reload)', () => {
    const set = new RevocationSet(['lic-1']);
    set.setConfigured(['lic-2']);
    expect(set.isLicenseRevoked('lic-1')).toBe(false);
    expect(set.isLicenseRevoked('lic-2')).toBe(true);
  });

  it('adds runtime licences and subjects, keeping them apart', () => {
    const set = new RevocationSet(['lic-1']);
    set.setRuntime([
      { kind: 'license', value: 'lic-9' },
      { kind: 'subject', value: 'svc-bad' },
    ]);
    expect(set.isLicenseRevoked('lic-1')).toBe(true);
    expect(set.isLicenseRevoked('lic-9')).toBe(true);
    expect(set.isSubjectRevoked('svc-bad')).toBe(true);
    expect(set.isLicenseRevoked('svc-bad')).toBe(false);
    expect(set.isSubjectRevoked('lic-9')).toBe(false);
  });

  it('swaps the runtime set whole, leaving the configured list alone', () => {
    const set = new RevocationSet(['lic-1']);
    set.setRuntime([{ kind: 'subject', value: 'svc-bad' }, { kind: 'license', value: 'lic-9' }]);
    set.setRuntime([{ kind: 'subject', value: 'svc-other' }]);
    expect(set.isSubjectRevoked('svc-bad')).toBe(false);
    expect(set.isLicenseRevoked('lic-9')).toBe(false);
    expect(set.isSubjectRevoked('svc-other')).toBe(true);
    expect(set.isLicenseRevoked('lic-1')).toBe(true);
    set.setRuntime([]);
    expect(set.isSubjectRevoked('svc-other')).toBe(false);
  });

  it('changing the configured list keeps the runtime entries', () => {
    const set = new RevocationSet();
    set.setRuntime([{ kind: 'license', value: 'lic-9' }]);
    set.setConfigured([]);
    expect(set.isLicenseRevoked('lic-9')).toBe(true);
  });

  it('with a runtime source, is not current until read, then until the staleness bound passes', () => {
    let now = 1_000_000;
    const set = new RevocationSet([], { maxStalenessSeconds: 60, now: () => now });
    const refusal = () => {
      try {
        set.assertCurrent();
      } catch (error) {
        return error;
      }
      return undefined;
    };
    expect(refusal()).toBeInstanceOf(UnavailableError);
    expect((refusal() as UnavailableError).reason).toBe('revocations_unavailable');
    now += 5_000;
    expect(set.ageSeconds()).toBe(5);
    set.setRuntime([]);
    expect(refusal()).toBeUndefined();
    now += 60_000;
    expect(refusal()).toBeUndefined();
    now += 1;
    expect((refusal() as UnavailableError).reason).toBe('revocations_unavailable');
    set.setRuntime([]);
    expect(refusal()).toBeUndefined();
    expect(set.ageSeconds()).toBe(0);
  });

  it('without a runtime source, is always current', () => {
    expect(() => new RevocationSet(['lic-1']).assertCurrent()).not.toThrow();
  });
});

describe('ledger.revocationMaxStalenessSeconds', () => {
  const base = {
    authority: { issuer: 'https://auth.example', audiences: ['r'] },
    signing: { issuer: 'r', keyPath: 'k.pem' },
    registry: { realm: 'https://r.example/token' },
  };
  it('defaults to 60 and must exceed revocationPollSeconds', () => {
    expect(parseConfig(base).ledger.revocationMaxStalenessSeconds).toBe(60);
    expect(() => parseConfig({ ...base, ledger: { revocationPollSeconds: 30, revocationMaxStalenessSeconds: 30 } })).toThrow(
      /ledger\.revocationMaxStalenessSeconds: must be greater than ledger\.revocationPollSeconds \(30\)/,
    );
  });
});
