// The plan catalogue, compiled once from configuration (and again, whole, on reload).
import { compilePattern, type CompiledPattern, type PatternVars } from './pattern.ts';

/** One plan rule as configuration states it (the config schema validates its shape). */
export interface PlanRule {
  readonly repository?: string | undefined;
  readonly registry?: string | undefined;
  readonly actions: readonly string[];
}

export interface CompiledRule {
  /** Human-readable, for `explain` and logs: `team#2 repository:team/**`. */
  readonly label: string;
  readonly type: 'repository' | 'registry';
  readonly pattern: CompiledPattern;
  readonly actions: ReadonlySet<string>;
}

export interface PlanCatalogue {
  readonly plans: ReadonlyMap<string, readonly CompiledRule[]>;
  readonly defaultPlan: string | undefined;
}

/**
 * One plan's rules (or a credential's narrowing), each labelled `NAME[index] type:pattern`;
 * a bad pattern is a TypeError naming `where[index]`.
 */
export function compileRules(name: string, rules: readonly PlanRule[], where = name): CompiledRule[] {
  return rules.map((rule, index) => {
    const type = rule.registry !== undefined ? 'registry' : 'repository';
    const source = rule.registry ?? rule.repository ?? '';
    let pattern: CompiledPattern;
    try {
      pattern = compilePattern(source);
    } catch (error) {
      throw new TypeError(`${where}[${index}].repository: ${(error as Error).message}`);
    }
    return { label: `${name}[${index}] ${type}:${source}`, type, pattern, actions: new Set(rule.actions) };
  });
}

export function compilePlans(plans: Readonly<Record<string, readonly PlanRule[]>>, defaultPlan: string | undefined): PlanCatalogue {
  const compiled = new Map<string, CompiledRule[]>();
  for (const [plan, rules] of Object.entries(plans)) {
    compiled.set(plan, compileRules(plan, rules, `plans.${plan}`));
  }
  return { plans: compiled, defaultPlan };
}

/** Every rule of `rules` that covers the resource, with the union of the actions they allow. */
export function allowedActions(
  rules: readonly CompiledRule[],
  type: string,
  name: string,
  vars: PatternVars,
): { actions: Set<string>; labels: string[] } {
  const actions = new Set<string>();
  const labels: string[] = [];
  for (const rule of rules) {
    if (rule.type !== type || !rule.pattern.matches(name, vars)) continue;
    labels.push(rule.label);
    for (const action of rule.actions) actions.add(action);
  }
  return { actions, labels };
}
