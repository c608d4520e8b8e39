/**
 * Ledger accounts are plain strings `<type>:<id>[:<gpuModel>]`, built only here so every writer
 * spells them the same way. A positive entry increases an account's balance.
 *
 *   funding:<program>:<model>    external source of a program's budget (goes negative by the budget)
 *   program:<program>:<model>    what the program can still grant
 *   allocation:<allocation>      what remains of a quota to admit workloads against
 *   hold:<allocation>            admitted, not yet metered (gpus × walltime of running workloads)
 *   consumed:<allocation>        metered usage
 */
export const ACCOUNT_TYPES = ['funding', 'program', 'allocation', 'hold', 'consumed'] as const;
export type AccountType = (typeof ACCOUNT_TYPES)[number];

function part(value: string, what: string): string {
  // A ':' inside an id would make accounts ambiguous ("a:b" + "c" vs "a" + "b:c").
  if (value === '' || value.includes(':')) {
    throw new TypeError(`Ledger account ${what} must be non-empty and contain no ':', got "${value}"`);
  }
  return value;
}

export function fundingAccount(programId: string, gpuModel: string): string {
  return `funding:${part(programId, 'program id')}:${part(gpuModel, 'GPU model')}`;
}

export function programBudgetAccount(programId: string, gpuModel: string): string {
  return `program:${part(programId, 'program id')}:${part(gpuModel, 'GPU model')}`;
}

export function allocationAccount(allocationId: string): string {
  return `allocation:${part(allocationId, 'allocation id')}`;
}

export function holdAccount(allocationId: string): string {
  return `hold:${part(allocationId, 'allocation id')}`;
}

export function consumedAccount(allocationId: string): string {
  return `consumed:${part(allocationId, 'allocation id')}`;
}
