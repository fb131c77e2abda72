// Reads the YAML file, applies REGISTRY_TOKEN_* overrides, validates once with zod.
// Every problem comes back as one ConfigError line naming the key, never as a stack trace.
import { readFileSync } from 'node:fs';
import { load as parseYaml } from 'js-yaml';
import type { z } from 'zod';
import { ConfigError } from '../domain/errors.ts';
import { configSchema, planConfigSchema, type Config, type PlanConfig } from './schema.ts';
import { applyEnvOverrides } from './env.ts';
import { describeIssue } from './zod-issues.ts';

export const ENV_PREFIX = 'REGISTRY_TOKEN_';

export interface LoadOptions {
  /** Path of the YAML file; falls back to REGISTRY_TOKEN_CONFIG. */
  path?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError([`${path}: cannot read the configuration file (${code ?? 'error'})`]);
  }
  // An empty file (or one holding only comments) is `{}`; js-yaml 5 refuses it as "no document".
  if (text.split(/\r?\n/).every((line) => /^\s*(#.*)?$/.test(line))) return {};
  try {
    const document = parseYaml(text, { filename: path });
    if (document === undefined || document === null) return {};
    if (typeof document !== 'object' || Array.isArray(document)) {
      throw new ConfigError([`${path}: the top level must be a mapping of sections (server, authority, ...)`]);
    }
    return document;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    // js-yaml's message names the line and column; drop its code excerpt.
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ConfigError([`${path}: not valid YAML: ${message}`]);
  }
}

function validate<T>(schema: z.ZodType<T>, document: unknown): T {
  const result = schema.safeParse(document);
  if (!result.success) throw new ConfigError(result.error.issues.map(describeIssue));
  return result.data;
}

/** Validates an already-merged document. */
export function parseConfig(document: unknown): Config {
  return validate(configSchema, document);
}

/** REGISTRY_TOKEN_CONFIG, case-insensitive like every other REGISTRY_TOKEN_* name. */
export function configPathFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const name = Object.keys(env).find((key) => key.toUpperCase() === `${ENV_PREFIX}CONFIG`);
  return name === undefined ? undefined : env[name];
}

function loadDocument(options: LoadOptions): unknown {
  const env = options.env ?? process.env;
  const path = options.path ?? configPathFromEnv(env);
  const document = path === undefined ? {} : readConfigFile(path);
  return applyEnvOverrides(document, env, ENV_PREFIX);
}

export function loadConfig(options: LoadOptions = {}): Config {
  return parseConfig(loadDocument(options));
}

/**
 * Only `plans`, `defaultPlan` and `revokedLicenses`, validated as the service would; the other
 * sections may be missing or incomplete (a file holding only plans is enough for `explain`).
 */
export function loadPlanConfig(options: LoadOptions = {}): PlanConfig {
  return validate(planConfigSchema, loadDocument(options));
}
