// A ledger wrapped around another (the spool, the refusal bounds): whatever the wrapper does not
// change is the inner store's own, written once here instead of in every wrapper.
import type { IssuanceQuery, IssuancePage, IssuanceRecord, Ledger, Revocation, RevocationKind } from './ledger.ts';

export abstract class LedgerDecorator implements Ledger {
  abstract readonly name: string;
  protected readonly inner: Ledger;

  constructor(inner: Ledger) {
    this.inner = inner;
  }

  abstract append(record: IssuanceRecord): Promise<void>;
  abstract close(): Promise<void>;

  query(query: IssuanceQuery): Promise<IssuancePage> {
    return this.inner.query(query);
  }

  get(jti: string): Promise<IssuanceRecord | undefined> {
    return this.inner.get(jti);
  }

  listRevocations(): Promise<Revocation[]> {
    return this.inner.listRevocations();
  }

  putRevocation(revocation: Revocation): Promise<void> {
    return this.inner.putRevocation(revocation);
  }

  deleteRevocation(kind: RevocationKind, value: string, tenant?: string): Promise<boolean> {
    return this.inner.deleteRevocation(kind, value, tenant);
  }

  check(): Promise<void> {
    return this.inner.check();
  }

  spooled(): number | undefined {
    return this.inner.spooled?.();
  }
}
