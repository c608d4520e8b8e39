import type { AllocationRequestRepository, Tx } from '#persistence';
import type { ProgramReader } from '../directory/program-reader.js';

/**
 * GPU-seconds the program can still grant per model, as submissions and decisions check it: the
 * program's budget left (ProgramReader.budgetLeft, which already nets the grants whose intent is
 * pending) minus those pending grants once more (AllocationRequestRepository.pendingGrantsOf).
 * The second subtraction is what the API's ProgramRulesReader did; it is kept so that moving the
 * code changes no answer, and is reported on issue 12 as counting pending grants twice.
 * Deciders lock the program row first (ProgramReader.lockProgram).
 */
export async function requestBudgetLeft(
  programs: ProgramReader,
  requests: AllocationRequestRepository,
  tx: Tx,
  programId: string,
): Promise<Record<string, bigint>> {
  const left = await programs.budgetLeft(tx, programId);
  const pending = await requests.pendingGrantsOf(tx, programId);
  return Object.fromEntries(
    Object.entries(left).map(([gpuModel, amount]) => [gpuModel, amount - (pending.get(gpuModel) ?? 0n)]),
  );
}
