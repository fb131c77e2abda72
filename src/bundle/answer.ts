// A bundle carried in JSON (the answer of POST /admin/bundles/credentials): every file with its
// path, mode and bytes (base64), so whoever writes it out gets the kit byte for byte, and the
// one reader of that form (`bundle credentials --answer`) writes it as the CLI would.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { BundleUsageError, type Io } from './io.ts';
import { writeBundleFiles, type BundleFile } from './manifest.ts';

export interface AnsweredFile {
  readonly path: string;
  /** Octal text, `0600` or `0644`. */
  readonly mode: string;
  /** base64. */
  readonly content: string;
}

export function answeredFiles(files: readonly BundleFile[]): AnsweredFile[] {
  return files.map((file) => ({ path: file.path, mode: `0${file.mode.toString(8)}`, content: file.bytes.toString('base64') }));
}

const answerSchema = z.object({
  created: z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
  files: z.array(z.strictObject({ path: z.string(), mode: z.enum(['0600', '0644']), content: z.base64() })).min(1),
});

/** The files and creation time of an answer; undefined when `value` is not one. */
export function filesOfAnswer(value: unknown): { created: string; files: BundleFile[] } | undefined {
  const parsed = answerSchema.safeParse(value);
  if (!parsed.success) return undefined;
  return {
    created: parsed.data.created,
    files: parsed.data.files.map((file) => ({ path: file.path, mode: Number.parseInt(file.mode, 8), bytes: Buffer.from(file.content, 'base64') })),
  };
}

/** `--answer FILE`: writes what POST /admin/bundles/credentials answered as the kit; issues nothing. */
export async function writeAnswer(path: string, out: string, force: boolean, io: Io): Promise<number> {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw new BundleUsageError(`--answer: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let answer: ReturnType<typeof filesOfAnswer>;
  try {
    answer = filesOfAnswer(JSON.parse(text));
  } catch {
    answer = undefined;
  }
  if (answer === undefined) throw new BundleUsageError(`--answer: ${path} is not an answer of POST /admin/bundles/credentials`);
  const { files } = answer;
  try {
    await writeBundleFiles(out, files, answer.created, { force });
  } catch (error) {
    throw new BundleUsageError(`--answer: ${(error as Error).message}`);
  }
  io.stdout(`${JSON.stringify({ dir: out, kind: 'credentials', created: answer.created, files: files.map((file) => file.path).sort() }, null, 2)}\n`);
  return 0;
}

