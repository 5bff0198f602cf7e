// The mapping of an HR export's columns to what jml knows of a person, given in a JSON file and
// validated here. HR systems name their columns as they like ("Worker ID", "Term Date", "Dept");
// the mapping says which column names the person and which carry lifecycle attributes.
import { z } from 'zod';

/** The attributes an HR import may set: the lifecycle-relevant ones (src/lifecycle/detect.ts). */
export const HR_ATTRIBUTES = ['terminationDate', 'active', 'department', 'title', 'division', 'organization', 'costCenter'] as const;
export type HrAttribute = (typeof HR_ATTRIBUTES)[number];

const column = z.string().trim().min(1).max(200);

export const mappingSchema = z.strictObject({
  /** The column that names the person, and which of their identity attributes it holds. */
  person: z.strictObject({ column, attribute: z.enum(['userName', 'email', 'externalId', 'employeeNumber']) }),
  columns: z
    .strictObject(Object.fromEntries(HR_ATTRIBUTES.map((attribute) => [attribute, column.optional()])) as Record<HrAttribute, z.ZodOptional<typeof column>>)
    .refine((columns) => Object.values(columns).some((value) => value !== undefined), 'must map at least one attribute'),
  /**
   * The column with the date a row's change takes effect (Workday's "Effective Date"): a future one
   * dates the row's mover or rehire for that day, as the webhook's effectiveDate does (decision
   * 026); empty or past, the row applies now. A leaver's date is the terminationDate column.
   */
  effectiveDate: column.optional(),
  /** Cell values meaning active and inactive, compared case-insensitively. */
  activeValues: z
    .strictObject({ active: z.array(z.string().trim().min(1)).min(1), inactive: z.array(z.string().trim().min(1)).min(1) })
    .default({ active: ['true', 'active', 'yes', '1'], inactive: ['false', 'inactive', 'terminated', 'no', '0'] }),
  /** A date without a time (2027-03-31): the start or the end of that day, UTC. */
  dateOnly: z.enum(['startOfDay', 'endOfDay']).default('startOfDay'),
  /** An empty cell keeps the attribute as it is, or clears it (a cleared termination date withdraws a scheduled leaver). */
  emptyCells: z.enum(['keep', 'clear']).default('keep'),
  delimiter: z.enum([',', ';', '\t', '|']).default(','),
});

export type HrMapping = z.output<typeof mappingSchema>;

/** A mapping is a few lines of JSON; an upload of one is refused past this before it is parsed. */
export const MAX_MAPPING_BYTES = 64 * 1024;

export class MappingError extends Error {
  override readonly name = 'MappingError';
}

export function parseMapping(input: unknown, source: string): HrMapping {
  const result = mappingSchema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => `  ${issue.path.join('.') || '(mapping)'}: ${issue.message}`);
  throw new MappingError(`The mapping in ${source} is invalid:\n${issues.join('\n')}`);
}

/** The mapping from JSON text (a file's content or an upload). */
export function parseMappingText(text: string, source: string): HrMapping {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new MappingError(`The mapping in ${source} is not JSON: ${(error as Error).message}`);
  }
  return parseMapping(json, source);
}
