// A zod issue as one line naming the key and the problem: for the service's configuration and
// for the credential helper's settings alike.
import type { z } from 'zod';

function keyPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(top level)' : path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

export function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const at = issue.path.length === 0 ? '' : `${keyPath(issue.path)}.`;
    return issue.keys.map((key) => `${at}${key}: unknown key`).join('; ');
  }
  if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) {
    return `${keyPath(issue.path)}: is required`;
  }
  return `${keyPath(issue.path)}: ${issue.message}`;
}
