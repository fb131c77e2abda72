// What the authorize stage needs to know about revocations: a read-only view. The
// configuration's list and the ledger store's runtime entries are merged behind it.
export interface RevocationView {
  isLicenseRevoked(license: string): boolean;
  isSubjectRevoked(subject: string): boolean;
}

/** Revocations from the configuration file plus a runtime set that is swapped whole. */
export class RevocationSet implements RevocationView {
  #configured: ReadonlySet<string>;
  #licenses: ReadonlySet<string> = new Set();
  #subjects: ReadonlySet<string> = new Set();

  constructor(configuredLicenses: readonly string[] = []) {
    this.#configured = new Set(configuredLicenses);
  }

  setConfigured(licenses: readonly string[]): void {
    this.#configured = new Set(licenses);
  }

  setRuntime(entries: readonly { kind: 'license' | 'subject'; value: string }[]): void {
    this.#licenses = new Set(entries.filter((e) => e.kind === 'license').map((e) => e.value));
    this.#subjects = new Set(entries.filter((e) => e.kind === 'subject').map((e) => e.value));
  }

  isLicenseRevoked(license: string): boolean {
    return this.#configured.has(license) || this.#licenses.has(license);
  }

  isSubjectRevoked(subject: string): boolean {
    return this.#subjects.has(subject);
  }
}
