import { SettlementFiles, type SettlementFileFormat } from '#application';
import { settlementFormat } from './settlement-format.js';
import { ZipLimitExceeded } from './zip-writer.js';

/** The scheduler's CSV, JSON and XLSX writers behind the export job's SettlementFiles port. */
export class SchedulerSettlementFiles extends SettlementFiles {
  override formatOf(format: string): SettlementFileFormat | undefined {
    return settlementFormat(format);
  }

  override isPermanent(error: unknown): boolean {
    return error instanceof ZipLimitExceeded;
  }
}
