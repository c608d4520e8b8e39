import { readSheet } from 'read-excel-file/node';
import { FOCUS_COLUMNS, parseCsv, UTF8_BOM } from '#domain';
import type { BillingLineEntity } from '#persistence';
import {
  csvWriter,
  jsonWriter,
  SETTLEMENT_COLUMNS,
  SETTLEMENT_NUMERIC_COLUMNS,
  settlementCells,
  settlementFormat,
  type SettlementFormat,
} from './settlement-format.js';

function line(overrides: Partial<BillingLineEntity> = {}): BillingLineEntity {
  return {
    period: '2026-05',
    lineNo: 7,
    chargeClass: '',
    correctionReason: null,
    originalPeriod: null,
    allocationId: '6b1f1c1e-8f5d-4a4e-9a52-0d6c1b2a3c4d',
    projectId: '7c2f1c1e-8f5d-4a4e-9a52-0d6c1b2a3c4d',
    projectTitle: 'LLM 사전학습',
    organizationId: '8d3f1c1e-8f5d-4a4e-9a52-0d6c1b2a3c4d',
    organizationName: '주식회사 청년AI',
    orgType: 'youth_startup',
    businessRegistrationNumber: '1018100011',
    taxIdKind: 'business_registration_number',
    programId: '9e4f1c1e-8f5d-4a4e-9a52-0d6c1b2a3c4d',
    programCode: 'AI-GPU-2026',
    programName: '2026 AI 컴퓨팅 지원',
    agencyCode: 'NIPA',
    gpuModel: 'H100',
    krwPerGpuHour: 3600n,
    rateEffectiveFrom: new Date('2026-04-15T15:00:00Z'),
    chargeStart: new Date('2026-05-01T00:00:00Z'),
    chargeEnd: new Date('2026-05-02T00:00:00Z'),
    gpuSeconds: 36_000n,
    listValue: 36_000n,
    discount: 23_400n,
    supplyPrice: 12_600n,
    subsidy: 8_820n,
    coPay: 3_780n,
    vat: 1_260n,
    vatPayer: 'organization',
    vatFromOrganization: 1_260n,
    vatFromProgram: 0n,
    totalDueOrg: 5_040n,
    totalProgram: 8_820n,
    usagePieces: 3,
    ...overrides,
  };
}

describe('settlement export format', () => {
  it('puts the FOCUS columns first, then the names and Korean settlement fields', () => {
    expect(SETTLEMENT_COLUMNS.slice(0, FOCUS_COLUMNS.length)).toEqual([...FOCUS_COLUMNS]);
    expect(SETTLEMENT_COLUMNS).toContain('BillingAccountName');
    expect(new Set(SETTLEMENT_COLUMNS).size).toBe(SETTLEMENT_COLUMNS.length);
    expect(settlementCells(line())).toHaveLength(SETTLEMENT_COLUMNS.length);
  });

  it('writes CSV rows that read back to the line, with Korean text and formulas neutralized', () => {
    const text =
      csvWriter.header() +
      csvWriter.row(line(), 0) +
      csvWriter.row(line({ organizationName: '=HYPERLINK("http://x","y")', chargeClass: 'Correction' }), 1);
    expect(text.startsWith(UTF8_BOM)).toBe(true);
    const [header, first, second] = parseCsv(text);
    const cell = (row: string[] | undefined, column: string) => row?.[header.indexOf(column)];
    expect(cell(first, 'BillingAccountName')).toBe('주식회사 청년AI');
    expect(cell(first, 'BusinessRegistrationNumber')).toBe('101-81-00011');
    expect(cell(first, 'ConsumedQuantity')).toBe('10');
    expect(cell(first, 'AmountDueFromOrganization')).toBe('5040');
    expect(cell(first, 'ChargeClass')).toBe('');
    expect(cell(first, 'LineNumber')).toBe('7');
    expect(cell(second, 'BillingAccountName')).toBe(`'=HYPERLINK("http://x","y")`);
    expect(cell(second, 'ChargeClass')).toBe('Correction');
  });

  it('writes one JSON array whatever the number of rows, integers as exact strings', () => {
    const none = jsonWriter.header() + jsonWriter.footer(0);
    expect(JSON.parse(none)).toEqual([]);
    const two =
      jsonWriter.header() +
      jsonWriter.row(line(), 0) +
      jsonWriter.row(line({ lineNo: 8 }), 1) +
      jsonWriter.footer(2);
    const parsed = JSON.parse(two) as Record<string, string | null>[];
    expect(parsed.map((row) => row.LineNumber)).toEqual(['7', '8']);
    expect(parsed[0]).toMatchObject({
      ConsumedGpuSeconds: '36000',
      ChargeClass: null,
      BillingCurrency: 'KRW',
    });
    expect(Object.keys(parsed[0])).toEqual([...SETTLEMENT_COLUMNS]);
  });

  /** The whole file of `lines` in `format`, as the export job writes it. */
  async function fileOf(format: SettlementFormat, lines: BillingLineEntity[]): Promise<Buffer> {
    const bytes: Buffer[] = [];
    const file = format.open(
      (piece) => {
        bytes.push(piece);
        return Promise.resolve();
      },
      { period: '2026-05' },
    );
    for (const [index, entry] of lines.entries()) await file.line(entry, index);
    await file.end(lines.length);
    return Buffer.concat(bytes);
  }

  it('has a file for every export format: CSV and JSON are their writers text', async () => {
    const lines = [line(), line({ lineNo: 8 })];
    const text = (writer: typeof csvWriter) =>
      writer.header() + lines.map((entry, index) => writer.row(entry, index)).join('') + writer.footer(2);
    expect((await fileOf(settlementFormat('csv')!, lines)).toString('utf8')).toBe(text(csvWriter));
    expect((await fileOf(settlementFormat('json')!, lines)).toString('utf8')).toBe(text(jsonWriter));
    expect((await fileOf(settlementFormat('json')!, [])).toString('utf8')).toBe('[\n]\n');
    expect(settlementFormat('xlsx')).toBeDefined();
    expect(settlementFormat('pdf')).toBeUndefined();
  });

  const tricky = [
    line(),
    line({ lineNo: 8, organizationName: '=HYPERLINK("http://x","y")', projectTitle: '+82 연구, "따옴표"' }),
    line({
      lineNo: 9,
      chargeClass: 'Correction',
      originalPeriod: '2026-04',
      correctionReason: 'refund',
      gpuSeconds: -5400n,
      listValue: -5400n,
      discount: -3510n,
      supplyPrice: -1890n,
      subsidy: -1323n,
      coPay: -567n,
      vat: -189n,
      vatFromOrganization: -189n,
      totalDueOrg: -756n,
      totalProgram: -1323n,
      organizationName: '@청년\u0007AI <b>&',
      projectTitle: '-2 lines\r\nsecond',
      businessRegistrationNumber: null,
    }),
  ];

  it('writes an XLSX whose cells read back as the CSV reads, numbers as numbers', async () => {
    const xlsx = await fileOf(settlementFormat('xlsx')!, tricky);
    const csv = parseCsv((await fileOf(settlementFormat('csv')!, tricky)).toString('utf8'));
    const sheet = await readSheet(xlsx, { trim: false, parseNumber: (text: string) => `number:${text}` });
    expect(sheet[0]).toEqual([...SETTLEMENT_COLUMNS]);
    expect(sheet).toHaveLength(csv.length);
    sheet.forEach((row, rowIndex) => {
      const expected = csv[rowIndex].map((text, column) =>
        rowIndex > 0 && SETTLEMENT_NUMERIC_COLUMNS.has(SETTLEMENT_COLUMNS[column]) && text !== ''
          ? // A credit's GPU-hours are a decimal string to the CSV, so it neutralizes the minus ('-1.5);
            // the XLSX writes the number -1.5.
            `number:${text.replace(/^'(?=-)/, '')}`
          : // XML cannot carry U+0007: the XLSX leaves it out, the CSV keeps it.
            text.replace('\u0007', ''),
      );
      expect(row.map((cell) => (cell === null ? '' : cell))).toEqual(expected);
    });
    const cell = (row: number, column: string) => sheet[row]?.[SETTLEMENT_COLUMNS.indexOf(column as never)];
    expect(cell(1, 'BillingAccountName')).toBe('주식회사 청년AI');
    expect(cell(2, 'BillingAccountName')).toBe(`'=HYPERLINK("http://x","y")`);
    expect(cell(2, 'SubAccountName')).toBe(`'+82 연구, "따옴표"`);
    expect(cell(3, 'BillingAccountName')).toBe(`'@청년AI <b>&`);
    expect(cell(3, 'SubAccountName')).toBe(`'-2 lines\r\nsecond`);
    expect(cell(3, 'AmountDueFromOrganization')).toBe('number:-756');
    expect(cell(3, 'ConsumedQuantity')).toBe('number:-1.5');
    expect(cell(3, 'BusinessRegistrationNumber')).toBeNull();
  });

  it('writes the same XLSX bytes for the same lines', async () => {
    const xlsx = settlementFormat('xlsx')!;
    const first = await fileOf(xlsx, tricky);
    expect((await fileOf(xlsx, tricky)).equals(first)).toBe(true);
    expect((await fileOf(xlsx, [tricky[0]])).equals(first)).toBe(false);
    // An empty export is still a workbook: the header row alone.
    expect(await readSheet(await fileOf(xlsx, []), { trim: false })).toEqual([[...SETTLEMENT_COLUMNS]]);
  });
});
