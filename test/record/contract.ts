// The one behavioural contract every ledger driver meets. Each driver's test file calls
// `ledgerContract` with a factory for a fresh, empty store.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidRequestError, UnavailableError } from '../../src/domain/errors.ts';
import type { IssuanceQuery, IssuanceRecord, Ledger } from '../../src/record/ledger.ts';
import { record } from './fixtures.ts';

export interface LedgerHarness {
  /** The ledger under test (replaced by `reopen`). */
  readonly ledger: Ledger;
  /** Closes the current ledger and opens a new one on the same store. */
  reopen(): Promise<Ledger>;
  /** Closes whatever is open and removes the store. */
  dispose(): Promise<void>;
}

export function ledgerContract(name: string, makeLedger: () => Promise<LedgerHarness>): void {
  describe(`ledger contract: ${name}`, () => {
    let h: LedgerHarness;
    beforeEach(async () => {
      h = await makeLedger();
    });
    afterEach(async () => {
      await h.dispose();
    });

    async function all(ledger: Ledger, query: Omit<IssuanceQuery, 'limit' | 'cursor'>, limit: number): Promise<IssuanceRecord[][]> {
      const pages: IssuanceRecord[][] = [];
      let cursor: string | undefined;
      do {
        const page = await ledger.query({ ...query, limit, ...(cursor === undefined ? {} : { cursor }) });
        pages.push(page.records);
        cursor = page.nextCursor;
      } while (cursor !== undefined && pages.length < 1000);
      return pages;
    }

    it('appends a record and gets it back unchanged', async () => {
      const r = record(1, { reason: undefined, binding: { method: 'mtls', x5t: 'x5t-hash' } });
      await h.ledger.append(r);
      const { reason: _omitted, ...expected } = r;
      expect(await h.ledger.get(r.jti)).toEqual(expected);
      expect(await h.ledger.get('no-such-jti')).toBeUndefined();
    });

    it('keeps a rejection with its reason and no grant', async () => {
      const r: IssuanceRecord = { jti: 'rej-1', outcome: 'rejected', reason: 'plan_denied', issuedAt: '2025-03-01T12:00:00.000Z', requestedScopes: ['repository:x:push'], granted: [] };
      await h.ledger.append(r);
      expect(await h.ledger.get('rej-1')).toEqual(r);
    });

    it('stores only the record fields, never what a caller attaches by mistake', async () => {
      const r = record(2);
      await h.ledger.append({ ...r, token: 'eyJ.secret.token' } as IssuanceRecord);
      const got = await h.ledger.get(r.jti);
      expect(got).toEqual(r);
      expect(JSON.stringify(got)).not.toContain('secret');
    });

    it('answers queries newest first, with every filter', async () => {
      const records = Array.from({ length: 20 }, (_, i) => record(i, i % 5 === 4 ? { outcome: 'rejected', reason: 'insufficient_scope', granted: [] } : {}));
      records[7] = record(7, { service: 'other.example' });
      records[9] = record(9, { operation: 'credential', jti: 'rtc_01JCREDENTIAL0000000000000', granted: [] });
      for (const r of records) await h.ledger.append(r);
      const jtis = (rs: readonly IssuanceRecord[]) => rs.map((r) => r.jti);
      const expectFilter = async (query: Omit<IssuanceQuery, 'limit'>, keep: (r: IssuanceRecord) => boolean) => {
        const page = await h.ledger.query({ ...query, limit: 100 });
        expect(jtis(page.records)).toEqual(jtis([...records].reverse().filter(keep)));
        expect(page.nextCursor).toBeUndefined();
      };
      await expectFilter({}, () => true);
      await expectFilter({ subject: 'user-1' }, (r) => r.subject === 'user-1');
      await expectFilter({ license: 'lic-2' }, (r) => r.license === 'lic-2');
      await expectFilter({ tenant: 'tenant-0' }, (r) => r.tenant === 'tenant-0');
      await expectFilter({ service: 'other.example' }, (r) => r.service === 'other.example');
      await expectFilter({ outcome: 'rejected' }, (r) => r.outcome === 'rejected');
      await expectFilter({ operation: 'credential' }, (r) => r.operation === 'credential');
      await expectFilter({ operation: 'token' }, (r) => r.operation === undefined);
      await expectFilter({ repository: 'team/app-2' }, (r) => r.granted.some((g) => g.name === 'team/app-2'));
      const since = new Date(records[5]!.issuedAt);
      const until = new Date(records[12]!.issuedAt);
      // since is inclusive, until exclusive.
      await expectFilter({ since, until }, (r) => r.issuedAt >= records[5]!.issuedAt && r.issuedAt < records[12]!.issuedAt);
      await expectFilter({ subject: 'user-0', tenant: 'tenant-1', since }, (r) => r.subject === 'user-0' && r.tenant === 'tenant-1' && r.issuedAt >= records[5]!.issuedAt);
      await expectFilter({ subject: 'nobody' }, () => false);
    });

    it('pages newest first with an opaque cursor, without gaps or repeats', async () => {
      const records = Array.from({ length: 25 }, (_, i) => record(i));
      for (const r of records) await h.ledger.append(r);
      const pages = await all(h.ledger, {}, 10);
      expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
      expect(pages.flat().map((r) => r.jti)).toEqual([...records].reverse().map((r) => r.jti));

      const exact = await all(h.ledger, { tenant: 'tenant-0' }, 13);
      expect(exact.map((p) => p.length)).toEqual([13]);
      const filtered = await all(h.ledger, { tenant: 'tenant-1' }, 5);
      expect(filtered.flat().map((r) => r.jti)).toEqual([...records].reverse().filter((r) => r.tenant === 'tenant-1').map((r) => r.jti));
    });

    it('rejects a forged cursor and a bad limit as invalid requests', async () => {
      await h.ledger.append(record(1));
      await expect(h.ledger.query({ limit: 10, cursor: 'not-a-cursor' })).rejects.toBeInstanceOf(InvalidRequestError);
      await expect(h.ledger.query({ limit: 10, cursor: Buffer.from('{"x":1}').toString('base64url') })).rejects.toBeInstanceOf(InvalidRequestError);
      await expect(h.ledger.query({ limit: 0 })).rejects.toBeInstanceOf(InvalidRequestError);
    });

    it('puts, lists and deletes revocations, and keeps them across a reopen', async () => {
      expect(await h.ledger.listRevocations()).toEqual([]);
      const lic = { kind: 'license' as const, value: 'lic-9', reason: 'chargeback', revokedAt: '2025-03-01T12:00:00.000Z', revokedBy: 'admin@example' };
      const sub = { kind: 'subject' as const, value: 'user-7', reason: 'abuse', revokedAt: '2025-03-01T12:01:00.000Z' };
      const cred = { kind: 'credential' as const, value: 'rtc_01JCREDENTIAL0000000000000', reason: 'leaked', revokedAt: '2025-03-01T12:02:00.000Z' };
      await h.ledger.putRevocation(lic);
      await h.ledger.putRevocation(sub);
      await h.ledger.putRevocation(cred);
      await h.ledger.putRevocation({ ...sub, reason: 'abuse, confirmed' });
      const sorted = (list: { kind: string; value: string }[]) => [...list].sort((a, b) => `${a.kind}${a.value}`.localeCompare(`${b.kind}${b.value}`));
      expect(sorted(await h.ledger.listRevocations())).toEqual([cred, lic, { ...sub, reason: 'abuse, confirmed' }]);

      const reopened = await h.reopen();
      expect(sorted(await reopened.listRevocations())).toEqual([cred, lic, { ...sub, reason: 'abuse, confirmed' }]);
      expect(await reopened.deleteRevocation('license', 'lic-9')).toBe(true);
      expect(await reopened.deleteRevocation('license', 'lic-9')).toBe(false);
      expect(await reopened.deleteRevocation('subject', 'lic-9')).toBe(false);
      expect(await reopened.deleteRevocation('credential', cred.value)).toBe(true);
      const again = await h.reopen();
      expect(await again.listRevocations()).toEqual([{ ...sub, reason: 'abuse, confirmed' }]);
    });

    it('keys revocations by (kind, tenant, value), across a reopen', async () => {
      const at = '2025-03-01T12:00:00.000Z';
      const platform = { kind: 'subject' as const, value: 'ci', reason: 'platform', revokedAt: at };
      const alpha = { kind: 'subject' as const, value: 'ci', tenant: 'alpha', reason: 'alpha', revokedAt: at, revokedBy: 'admin-alpha' };
      const beta = { kind: 'subject' as const, value: 'ci', tenant: 'beta', reason: 'beta', revokedAt: at };
      const whole = { kind: 'tenant' as const, value: 'gamma', reason: 'contract ended', revokedAt: at };
      for (const r of [platform, alpha, beta, whole]) await h.ledger.putRevocation(r);
      await h.ledger.putRevocation({ ...alpha, reason: 'alpha again' });
      const key = (r: { kind: string; value: string; tenant?: string }) => `${r.kind}/${r.tenant ?? ''}/${r.value}`;
      const sorted = (list: { kind: string; value: string; tenant?: string }[]) => [...list].sort((a, b) => key(a).localeCompare(key(b)));
      const reopened = await h.reopen();
      expect(sorted(await reopened.listRevocations())).toEqual(sorted([platform, { ...alpha, reason: 'alpha again' }, beta, whole]));
      expect(await reopened.deleteRevocation('subject', 'ci', 'alpha')).toBe(true);
      expect(await reopened.deleteRevocation('subject', 'ci', 'alpha')).toBe(false);
      expect(await reopened.deleteRevocation('subject', 'ci')).toBe(true);
      expect(await reopened.deleteRevocation('tenant', 'gamma')).toBe(true);
      expect(await reopened.listRevocations()).toEqual([beta]);
    });

    it('makes 500 concurrent appends durable and queryable, across a reopen', async () => {
      const records = Array.from({ length: 500 }, (_, i) => record(i));
      await Promise.all(records.map((r) => h.ledger.append(r)));
      const check = async (ledger: Ledger) => {
        const pages = await all(ledger, {}, 200);
        const seen = pages.flat().map((r) => r.jti);
        expect(seen).toHaveLength(500);
        expect(new Set(seen)).toEqual(new Set(records.map((r) => r.jti)));
        for (const r of [records[0]!, records[250]!, records[499]!]) expect(await ledger.get(r.jti)).toEqual(r);
      };
      await check(h.ledger);
      await check(await h.reopen());
    });

    it('is ready while open, and refuses appends once closed', async () => {
      await expect(h.ledger.check()).resolves.toBeUndefined();
      const ledger = await h.reopen();
      await ledger.close();
      await expect(ledger.append(record(1))).rejects.toBeInstanceOf(UnavailableError);
      await expect(ledger.check()).rejects.toBeInstanceOf(UnavailableError);
    });

    it('refuses a malformed record instead of storing it', async () => {
      await expect(h.ledger.append({ ...record(1), jti: '' })).rejects.toBeInstanceOf(TypeError);
      await expect(h.ledger.append({ ...record(1), issuedAt: 'yesterday' })).rejects.toBeInstanceOf(TypeError);
      expect((await h.ledger.query({ limit: 10 })).records).toEqual([]);
    });
  });
}
