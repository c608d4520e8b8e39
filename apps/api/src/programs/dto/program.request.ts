import { z } from 'zod';
import { MAX_INFRASTRUCTURE_REQUEUE_LIMIT, ORGANIZATION_TYPES } from '#domain';
import { paginationQuery } from '../../common/pagination.js';
import {
  identifier,
  integerIn,
  rubricCriterionSchema,
  sectorTargetsSchema,
  trackSchema,
  wholeNumber,
  wholeNumberIn,
} from '#application';
import { decimalToBasisPoints } from '#domain';
import { agencyCode } from './agency.request.js';

/** The most GPU-hours one budget line may carry: far above a year of the whole 50,000-GPU pool (4.4e8 / 5). */
export const MAX_BUDGET_GPU_HOURS = 100_000_000;

/** GPU models name ledger accounts, so they never contain ":". */
export const gpuModel = identifier('H100');

const organizationType = z.enum(ORGANIZATION_TYPES);

export { rubricCriterionSchema, sectorTargetsSchema, trackSchema };

export type SectorTargetsRequest = z.infer<typeof sectorTargetsSchema>;

const budgetLine = z.strictObject({
  gpuModel,
  gpuHours: wholeNumber('must be a whole number of GPU-hours')
    .min(1)
    .max(MAX_BUDGET_GPU_HOURS, {
      message: `must be at most ${MAX_BUDGET_GPU_HOURS.toLocaleString('en')} GPU-hours`,
    }),
});

const subsidyRate = z
  .number()
  .min(0)
  .max(1)
  .refine((rate) => decimalToBasisPoints(rate) !== null, {
    message: 'must have at most 4 decimal places (e.g. 0.7)',
  });

const isoInstant = z.iso.datetime({
  offset: true,
  message: 'must be an ISO-8601 instant, e.g. 2026-03-01T00:00:00Z',
});

export const ON_EXHAUSTION_POLICIES = ['finish', 'stop'] as const;
export type OnExhaustionPolicy = (typeof ON_EXHAUSTION_POLICIES)[number];

/**
 * What happens to the running workloads of an allocation that can no longer run (exhausted, expired,
 * suspended): `finish` lets them end on their own, `stop` cancels them.
 */
export const infrastructureRequeueLimitSchema = integerIn(0, MAX_INFRASTRUCTURE_REQUEUE_LIMIT).meta({
  description:
    'Times a workload that the infrastructure failed (its node went down, its run was lost) goes back to ' +
    'the queue, keeping its age, with the failed attempt refunded, before it ends failed. Default 3.',
});

export const onExhaustionSchema = z.enum(ON_EXHAUSTION_POLICIES).meta({
  description:
    'What happens to running workloads of an exhausted, expired or suspended allocation: "finish" lets them end, "stop" cancels them.',
});

/**
 * Use-it-or-lose-it rules. Their shape is checked by libs/domain parseRecallRules (every problem
 * listed at once, 400 INVALID_RECALL_RULES), so the schema only bounds the list.
 */
export const recallRulesSchema = z
  .array(z.record(z.string(), z.unknown()))
  .max(20)
  .meta({
    description:
      'Recall rules: `{ id, at: { days } | { windowBasisPoints }, usedBelowBasisPoints, recall: { remainingBasisPoints } | { grantedBasisPoints } }`; shares are basis points (2500 = 25%).',
    examples: [
      [
        {
          id: 'day30',
          at: { days: 30 },
          usedBelowBasisPoints: 1000,
          recall: { remainingBasisPoints: 2500 },
        },
      ],
    ],
  });

export const createProgramRequest = z
  .strictObject({
    code: identifier('AI-GPU-2026-1'),
    name: z.string().trim().min(1).max(200),
    agencyCode,
    fiscalYear: wholeNumberIn(2000, 9999),
    startsAt: isoInstant,
    endsAt: isoInstant,
    budgets: z
      .array(budgetLine)
      .min(1)
      .max(50)
      .superRefine((lines, context) => {
        const seen = new Set<string>();
        lines.forEach((line, index) => {
          if (seen.has(line.gpuModel)) {
            context.addIssue({
              code: 'custom',
              path: [index, 'gpuModel'],
              message: `${line.gpuModel} has two budget lines; give one line per GPU model`,
            });
          }
          seen.add(line.gpuModel);
        });
      }),
    subsidyRates: z.partialRecord(organizationType, subsidyRate),
    eligibleOrganizationTypes: z.array(organizationType).min(1).max(ORGANIZATION_TYPES.length),
    tracks: z.array(trackSchema).min(1).max(20),
    sectorTargets: sectorTargetsSchema.optional(),
    rubric: z.array(rubricCriterionSchema).min(1).max(50),
    /** Default `finish`. */
    onExhaustion: onExhaustionSchema.optional(),
    /** Default: none. */
    recallRules: recallRulesSchema.optional(),
    /** Default 3. */
    infrastructureRequeueLimit: infrastructureRequeueLimitSchema.optional(),
  })
  .refine((program) => Date.parse(program.endsAt) > Date.parse(program.startsAt), {
    path: ['endsAt'],
    message: 'must be after startsAt',
    // Reported together with every other problem, as long as both instants themselves are valid.
    when: (payload) => {
      const value = payload.value as { startsAt?: unknown; endsAt?: unknown } | null;
      return (
        typeof value?.startsAt === 'string' &&
        typeof value.endsAt === 'string' &&
        !payload.issues.some((issue) => issue.path?.[0] === 'startsAt' || issue.path?.[0] === 'endsAt')
      );
    },
  });
export type CreateProgramRequest = z.infer<typeof createProgramRequest>;

export const listProgramsQuery = z.strictObject({
  ...paginationQuery,
  agencyCode: agencyCode.optional(),
  fiscalYear: z.coerce.number().int().min(2000).max(9999).optional(),
  /** Reviewer view: only the programs the caller is assigned to review. */
  assignedToMe: z.enum(['true', 'false']).optional(),
});
export type ListProgramsQuery = z.infer<typeof listProgramsQuery>;

/** Replaces a program's usage policy (PUT: an omitted infrastructureRequeueLimit is the default, 3). */
export const usagePolicyRequest = z.strictObject({
  onExhaustion: onExhaustionSchema,
  recallRules: recallRulesSchema,
  infrastructureRequeueLimit: infrastructureRequeueLimitSchema.optional(),
});
export type UsagePolicyRequest = z.infer<typeof usagePolicyRequest>;
