// What the authorize stage needs to know about revocations: a read-only view. The
// configuration's list and the runtime entries (ledger store or shared store) are merged behind it.
import { UnavailableError } from '../domain/errors.ts';

export interface RevocationView {
  /**
   * `tenant` is the caller's: a revocation made by a tenant admin is keyed (tenant, value) and
   * touches only that tenant's callers; one made platform-wide (no tenant) touches every caller.
   */
  isLicenseRevoked(license: string, tenant?: string): boolean;
  isSubjectRevoked(subject: string, tenant?: string): boolean;
  /** A registry credential, by its id (`rtc_...`). */
  isCredentialRevoked(id: string, tenant?: string): boolean;
  /** A whole tenant (kind `tenant`, platform admins only). */
  isTenantRevoked(tenant: string): boolean;
  /**
   * Throws UnavailableError `revocations_unavailable` while the runtime list cannot be trusted:
   * not read yet, or last read too long ago. Fail closed: a list that may be missing a
   * revocation must not let the revoked subject through.
   */
  assertCurrent(): void;
}

/** One runtime entry as the store keeps it; `tenant` scopes it to that tenant's callers. */
export interface RuntimeRevocation {
  readonly kind: 'license' | 'subject' | 'credential' | 'tenant';
  readonly value: string;
  readonly tenant?: string | undefined;
}

/** (tenant, value); '' stands for "every tenant", which no tenant claim can be (claims are non-empty). */
function scoped(value: string, tenant: string | undefined): string {
  return `${tenant ?? ''}\u0000${value}`;
}

/** How fresh the runtime list must be; without it the set has no runtime source to wait for. */
export interface RuntimeFreshness {
  readonly maxStalenessSeconds: number;
  /** Milliseconds since the epoch (the service's clock). */
  readonly now: () => number;
}

/** Revocations from the configuration file plus a runtime set that is swapped whole. */
export class RevocationSet implements RevocationView {
  #configured: ReadonlySet<string>;
  #licenses: ReadonlySet<string> = new Set();
  #subjects: ReadonlySet<string> = new Set();
  #credentials: ReadonlySet<string> = new Set();
  #tenants: ReadonlySet<string> = new Set();
  readonly #freshness: RuntimeFreshness | undefined;
  readonly #createdAt: number | undefined;
  /** When the runtime list was last read successfully. */
  #readAt: number | undefined;

  constructor(configuredLicenses: readonly string[] = [], freshness?: RuntimeFreshness) {
    this.#configured = new Set(configuredLicenses);
    this.#freshness = freshness;
    this.#createdAt = freshness?.now();
  }

  setConfigured(licenses: readonly string[]): void {
    this.#configured = new Set(licenses);
  }

  /** The whole runtime list, just read from the store: it is fresh as of now. */
  setRuntime(entries: readonly RuntimeRevocation[]): void {
    const of = (kind: RuntimeRevocation['kind']) => new Set(entries.filter((e) => e.kind === kind).map((e) => scoped(e.value, e.tenant)));
    this.#licenses = of('license');
    this.#subjects = of('subject');
    this.#credentials = of('credential');
    this.#tenants = new Set(entries.filter((e) => e.kind === 'tenant').map((e) => e.value));
    this.#readAt = this.#freshness?.now();
  }

  /** Seconds since the last successful read (before the first one: since this set was made). */
  ageSeconds(): number | undefined {
    if (this.#freshness === undefined) return undefined;
    return Math.max(0, this.#freshness.now() - (this.#readAt ?? this.#createdAt!)) / 1000;
  }

  assertCurrent(): void {
    const freshness = this.#freshness;
    if (freshness === undefined) return;
    if (this.#readAt === undefined) {
      throw new UnavailableError('revocations_unavailable', 'runtime revocations have not been read from their store yet; no token is issued until they are, try again shortly', {
        detail: 'runtime revocations never read since start-up',
      });
    }
    const age = this.ageSeconds()!;
    if (age > freshness.maxStalenessSeconds) {
      throw new UnavailableError('revocations_unavailable', 'runtime revocations could not be re-read from their store recently enough; no token is issued until they are, try again shortly', {
        detail: `runtime revocations last read ${Math.floor(age)} s ago; ledger.revocationMaxStalenessSeconds is ${freshness.maxStalenessSeconds}`,
      });
    }
  }

  isLicenseRevoked(license: string, tenant?: string): boolean {
    return this.#configured.has(license) || matches(this.#licenses, license, tenant);
  }

  isSubjectRevoked(subject: string, tenant?: string): boolean {
    return matches(this.#subjects, subject, tenant);
  }

  isCredentialRevoked(id: string, tenant?: string): boolean {
    return matches(this.#credentials, id, tenant);
  }

  isTenantRevoked(tenant: string): boolean {
    return this.#tenants.has(tenant);
  }
}

/** Revoked platform-wide, or within the caller's tenant. */
function matches(set: ReadonlySet<string>, value: string, tenant: string | undefined): boolean {
  return set.has(scoped(value, undefined)) || (tenant !== undefined && set.has(scoped(value, tenant)));
}
