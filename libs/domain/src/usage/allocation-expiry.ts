/**
 * The reason of an `expire` posting, which keys it: the first return of an allocation's quota is at
 * its window's end; quota released after that (runs that ended later) is returned by later sweeps,
 * each keyed by how many returns came before, so a re-run never returns the same quota twice.
 */
export function expiryReturnReason(previousReturns: number): string {
  return previousReturns === 0 ? 'window_end' : `after_end_${previousReturns}`;
}
