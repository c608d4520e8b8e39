import { SettlementFiles, type SettlementFileFormat } from '#application';
import { settlementFormat } from './settlement-format.js';

/** The scheduler's CSV, JSON and XLSX writers behind the export job's SettlementFiles port. */
export class SchedulerSettlementFiles extends SettlementFiles {
  override formatOf(format: string): SettlementFileFormat | undefined {
    return settlementFormat(format);
  }

  /** The writers' own refusals (an XLSX's row limit) are domain errors, already permanent. */
  override isPermanent(): boolean {
    return false;
  }
}
