// One scrape, every worker: the primary asks each worker for its Prometheus exposition and
// returns them as one, each sample labelled `worker="<n>"` and each metric family's HELP and
// TYPE written once. Labelling rather than summing keeps every series true (a gauge such as
// the revocations' age is not a sum); `sum without (worker) (...)` gives the host's figure.

interface Family {
  readonly header: string[];
  readonly samples: string[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?(\s.*)$/;

/** `texts` by worker label; the result ends with a newline. */
export function mergeExpositions(texts: ReadonlyMap<string, string>): string {
  const families = new Map<string, Family>();
  const familyOf = (name: string) => {
    let family = families.get(name);
    if (family === undefined) {
      family = { header: [], samples: [] };
      families.set(name, family);
    }
    return family;
  };
  for (const [worker, text] of texts) {
    let current: Family | undefined;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (meta !== null) {
        current = familyOf(meta[2]!);
        if (!current.header.some((h) => h.startsWith(`# ${meta[1]} `))) current.header.push(line);
        continue;
      }
      if (line.startsWith('#')) continue;
      const sample = SAMPLE.exec(line);
      if (sample === null) continue;
      const [, name, labels, rest] = sample;
      const labelled = labels === undefined || labels === '{}' ? `{worker="${worker}"}` : `{worker="${worker}",${labels.slice(1)}`;
      (current ?? familyOf(name!)).samples.push(`${name}${labelled}${rest}`);
    }
  }
  const out: string[] = [];
  for (const family of families.values()) out.push(...family.header, ...family.samples);
  return `${out.join('\n')}\n`;
}
