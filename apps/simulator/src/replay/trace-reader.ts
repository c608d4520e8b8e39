import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import type { TraceJob } from './types.js';

/**
 * Which CSV column holds each field of a job. The defaults fit the Philly-derived trace of
 * petuum/adaptdl (branch osdi21-artifact, `simulator/traces/philly.csv`; columns
 * `timestamp,duration,num_gpus,gpu_time,cluster`); another trace plugs in with its own names.
 *
 * - submitAt: a UTC timestamp `YYYY-MM-DD HH:MM:SS` (an ISO-8601 `T` or trailing `Z` is accepted
 *   too) or a plain number of seconds;
 * - durationSeconds: seconds, decimals allowed — rounded UP to whole seconds, at least 1;
 * - gpus: a whole number of GPUs;
 * - tenant: any string (Philly: the virtual cluster).
 */
export interface TraceMapping {
  submitAt: string;
  durationSeconds: string;
  gpus: string;
  tenant: string;
}

export const DEFAULT_MAPPING: Readonly<TraceMapping> = Object.freeze({
  submitAt: 'timestamp',
  durationSeconds: 'duration',
  gpus: 'num_gpus',
  tenant: 'cluster',
});

export interface TraceReadResult {
  /** Sorted by submission time, then by row order; submitAt in seconds since the first one. */
  jobs: TraceJob[];
  /** Rows dropped: 0 (or unparsable) GPUs, or a non-positive (or unparsable) duration. */
  dropped: number;
}

/**
 * Reads a CSV trace record by record (csv-parse, streaming; LF or CRLF, quoted fields allowed). Job
 * ids are `j<row>` with the 1-based data row number, so they are stable across readers and sort
 * orders. Blank lines are skipped.
 */
export async function readTrace(
  path: string,
  mapping: TraceMapping = DEFAULT_MAPPING,
): Promise<TraceReadResult> {
  const records = createReadStream(path, { encoding: 'utf8' }).pipe(
    parse({ bom: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: true }),
  );
  let columns: { submitAt: number; duration: number; gpus: number; tenant: number } | null = null;
  const raw: { row: number; submitMs: number; durationSeconds: number; gpus: number; tenant: string }[] = [];
  let dropped = 0;
  let row = 0;
  for await (const record of records as AsyncIterable<string[]>) {
    const fields = record;
    if (fields.every((field) => field.trim() === '')) continue;
    if (columns === null) {
      const header = fields.map((f) => f.trim());
      const find = (name: string): number => {
        const at = header.indexOf(name);
        if (at < 0) throw new Error(`Trace ${path}: no column "${name}" (columns: ${header.join(', ')})`);
        return at;
      };
      columns = {
        submitAt: find(mapping.submitAt),
        duration: find(mapping.durationSeconds),
        gpus: find(mapping.gpus),
        tenant: find(mapping.tenant),
      };
      continue;
    }
    row += 1;
    const submitMs = parseTime(fields[columns.submitAt] ?? '');
    const duration = Number(fields[columns.duration]);
    const gpus = Number(fields[columns.gpus]);
    if (!Number.isFinite(submitMs)) throw new Error(`Trace ${path}: row ${row}: bad timestamp`);
    if (!(Number.isFinite(duration) && duration > 0) || !(Number.isInteger(gpus) && gpus > 0)) {
      dropped += 1;
      continue;
    }
    raw.push({
      row,
      submitMs,
      durationSeconds: Math.max(1, Math.ceil(duration)),
      gpus,
      tenant: (fields[columns.tenant] ?? '').trim(),
    });
  }
  raw.sort((a, b) => a.submitMs - b.submitMs || a.row - b.row);
  const originMs = raw.length > 0 ? raw[0].submitMs : 0;
  const jobs: TraceJob[] = raw.map((r) => ({
    id: `j${r.row}`,
    tenant: r.tenant,
    submitAt: Math.round((r.submitMs - originMs) / 1000),
    durationSeconds: r.durationSeconds,
    gpus: r.gpus,
  }));
  return { jobs, dropped };
}

/** Milliseconds since the epoch of `YYYY-MM-DD HH:MM:SS` (UTC), an ISO string, or seconds. */
function parseTime(text: string): number {
  const t = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const iso = t.includes('T') ? t : t.replace(' ', 'T');
  return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
}
