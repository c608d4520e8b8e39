import fc from 'fast-check';
import { KOREAN_VOUCHER_POLICY, priceLine } from './pricing.js';
import {
  CSV_LINE_BREAK,
  FOCUS_COLUMNS,
  FOCUS_COLUMN_MEANINGS,
  UTF8_BOM,
  csvCell,
  csvDocument,
  csvRow,
  focusCsv,
  focusRecord,
  formatGpuHoursDecimal,
  parseCsv,
  type FocusLineInput,
} from './export-format.js';

describe('csvCell', () => {
  it.each([
    ['plain', 'plain'],
    ['서울대학교 산학협력단', '서울대학교 산학협력단'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['', ''],
    [' leading space', ' leading space'],
  ])('%p → %p', (value, cell) => {
    expect(csvCell(value)).toBe(cell);
  });

  it.each([
    ['=SUM(A1:A9)', "'=SUM(A1:A9)"],
    ['+82-2-123-4567', "'+82-2-123-4567"],
    ['-1+1', "'-1+1"],
    ['@cmd', "'@cmd"],
    ['\t=1', "'\t=1"],
    ['\r=1', `"'\r=1"`],
    ['=HYPERLINK("http://evil","x")', `"'=HYPERLINK(""http://evil"",""x"")"`],
    ["=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"],
    ['=1,2', `"'=1,2"`],
  ])('neutralizes the formula %p → %p', (value, cell) => {
    expect(csvCell(value)).toBe(cell);
  });

  it('writes integers as they are, a credit as a negative number, and null as an empty cell', () => {
    expect(csvCell(1_800_000n)).toBe('1800000');
    expect(csvCell(-540_000n)).toBe('-540000');
    expect(csvCell(null)).toBe('');
    expect(csvRow(['a', 1n, null, '=x'])).toBe("a,1,,'=x");
  });

  it('never lets a text cell start with a formula trigger, and always parses back to the (prefixed) text', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.string({ unit: 'grapheme' }), { minLength: 1, maxLength: 5 }), { maxLength: 5 }),
        (rows) => {
          const document = csvDocument(['h'], rows);
          const parsed = parseCsv(document);
          expect(parsed[0]).toEqual(['h']);
          rows.forEach((row, index) => {
            const expected = row.map((value) => (/^[=+\-@\t\r]/.test(value) ? `'${value}` : value));
            // A lone empty cell is an empty line, which reads back as one empty field.
            expect(parsed[index + 1]).toEqual(expected);
            for (const cell of row.map(csvCell)) expect(cell).not.toMatch(/^"?[=+\-@\t\r]/);
          });
          expect(parsed).toHaveLength(rows.length + 1);
        },
      ),
    );
  });
});

describe('CSV documents', () => {
  it('start with the UTF-8 BOM and end every record with CRLF', () => {
    const text = csvDocument(['기관', 'amount'], [['한국과학기술원', 1n]]);
    expect(text).toBe(`${UTF8_BOM}기관,amount\r\n한국과학기술원,1\r\n`);
    expect(CSV_LINE_BREAK).toBe('\r\n');
  });

  it('round-trip Korean text through UTF-8 bytes', () => {
    const rows = [
      ['주식회사 청년AI', '서울특별시 강남구', '"따옴표", 쉼표'],
      ['부산대학교', '=악성', ''],
    ];
    const bytes = new TextEncoder().encode(csvDocument(['기관명', '주소', '비고'], rows));
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const decoded = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
    expect(parseCsv(decoded)).toEqual([
      ['기관명', '주소', '비고'],
      ['주식회사 청년AI', '서울특별시 강남구', '"따옴표", 쉼표'],
      ['부산대학교', "'=악성", ''],
    ]);
  });
});

describe('formatGpuHoursDecimal', () => {
  it.each([
    [0n, '0'],
    [3600n, '1'],
    [5400n, '1.5'],
    [9n, '0.0025'],
    [1n, '0.000278'],
    [2n, '0.000556'],
    [2_160_000n, '600'],
    [-5400n, '-1.5'],
    [-1n, '-0.000278'],
    [2n ** 80n * 3600n, (2n ** 80n).toString()],
  ])('%p GPU-seconds → %p GPU-hours', (seconds, hours) => {
    expect(formatGpuHoursDecimal(seconds)).toBe(hours);
  });

  it('takes other precisions and rules', () => {
    expect(formatGpuHoursDecimal(1n, 6, 'floor')).toBe('0.000277');
    expect(formatGpuHoursDecimal(1800n, 0)).toBe('1');
    expect(formatGpuHoursDecimal(1799n, 0)).toBe('0');
    expect(formatGpuHoursDecimal(1n, 9)).toBe('0.000277778');
  });

  it('is exact for multiples of 9 seconds and within half a millionth of an hour otherwise', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 18n), max: 10n ** 18n }), (seconds) => {
        const text = formatGpuHoursDecimal(seconds);
        expect(text).toMatch(/^-?\d+(\.\d{0,5}[1-9])?$/);
        expect(text).not.toBe('-0');
        const [whole = '', fraction = ''] = text.replace('-', '').split('.');
        const microHours =
          (text.startsWith('-') ? -1n : 1n) * (BigInt(whole) * 1_000_000n + BigInt(fraction.padEnd(6, '0')));
        const error = microHours * 3600n - seconds * 1_000_000n;
        expect(2n * (error < 0n ? -error : error) <= 3600n).toBe(true);
        if (seconds % 9n === 0n) expect(error).toBe(0n);
      }),
    );
  });
});

const CORRECTION: FocusLineInput = {
  billingPeriod: '2026-05',
  chargeClass: 'Correction',
  correctsPeriod: '2026-04',
  usageStartsAt: new Date('2026-04-29T00:00:00Z'),
  usageEndsAt: new Date('2026-04-30T00:00:00Z'),
  gpuModel: 'H100',
  krwPerGpuHour: 3000n,
  amounts: priceLine({
    gpuSeconds: 600n * 3600n,
    krwPerGpuHour: 3000n,
    orgType: 'startup',
    policy: KOREAN_VOUCHER_POLICY,
  }),
  organizationId: 'org-청년',
  projectId: 'proj-1',
  invoiceIssuer: 'NIPA 국가AI컴퓨팅자원',
  agencyCode: 'NIPA',
  programCode: 'GPU-2026-1',
  businessRegistrationNumber: '123-45-67890',
};

describe('FOCUS settlement export', () => {
  it('has unique columns, every one documented, including the Korean settlement columns', () => {
    expect(new Set(FOCUS_COLUMNS).size).toBe(FOCUS_COLUMNS.length);
    expect(Object.keys(FOCUS_COLUMN_MEANINGS).sort()).toEqual([...FOCUS_COLUMNS].sort());
    expect(FOCUS_COLUMNS).toEqual(
      expect.arrayContaining([
        'BillingPeriodStart',
        'BillingPeriodEnd',
        'ChargePeriodStart',
        'ChargePeriodEnd',
        'BilledCost',
        'EffectiveCost',
        'ListCost',
        'ConsumedQuantity',
        'ConsumedUnit',
        'SkuId',
        'ChargeClass',
        'ChargeDescription',
        'InvoiceIssuer',
        'AgencyCode',
        'ProgramCode',
        'BusinessRegistrationNumber',
        'SupplyPrice',
        'VAT',
        'Subsidy',
        'CoPay',
      ]),
    );
  });

  it('maps a correction line: billed in May, usage in April, the worked example amounts', () => {
    expect(focusRecord(CORRECTION)).toEqual({
      BillingPeriodStart: '2026-04-30T15:00:00.000Z',
      BillingPeriodEnd: '2026-05-31T15:00:00.000Z',
      ChargePeriodStart: '2026-04-29T00:00:00.000Z',
      ChargePeriodEnd: '2026-04-30T00:00:00.000Z',
      ChargeCategory: 'Usage',
      ChargeClass: 'Correction',
      ChargeDescription: 'H100 GPU usage at 3,000원/GPU-hour, correction of 2026-04',
      BillingAccountId: 'org-청년',
      SubAccountId: 'proj-1',
      SkuId: 'H100',
      ConsumedQuantity: '600',
      ConsumedUnit: 'GPU-Hours',
      ConsumedGpuSeconds: 2_160_000n,
      ListUnitPrice: 3000n,
      ListCost: 1_800_000n,
      EffectiveCost: 1_800_000n,
      BilledCost: 1_800_000n,
      BillingCurrency: 'KRW',
      InvoiceIssuer: 'NIPA 국가AI컴퓨팅자원',
      AgencyCode: 'NIPA',
      ProgramCode: 'GPU-2026-1',
      BusinessRegistrationNumber: '123-45-67890',
      SupplyPrice: 1_800_000n,
      VAT: 180_000n,
      Subsidy: 1_260_000n,
      CoPay: 540_000n,
      AmountDueFromOrganization: 720_000n,
      AmountFromProgram: 1_260_000n,
    });
  });

  it('writes the same bytes for the same lines, a regular line with an empty ChargeClass', () => {
    const regular: FocusLineInput = {
      ...CORRECTION,
      billingPeriod: '2026-04',
      chargeClass: null,
      correctsPeriod: null,
    };
    const csv = focusCsv([CORRECTION, regular]);
    expect(focusCsv([CORRECTION, regular])).toBe(csv);
    const [header, first, second] = parseCsv(csv);
    expect(header).toEqual([...FOCUS_COLUMNS]);
    const column = (row: string[] | undefined, name: (typeof FOCUS_COLUMNS)[number]) =>
      row?.[FOCUS_COLUMNS.indexOf(name)];
    expect(column(first, 'ChargeClass')).toBe('Correction');
    expect(column(second, 'ChargeClass')).toBe('');
    expect(column(second, 'ChargeDescription')).toBe('H100 GPU usage at 3,000원/GPU-hour');
    expect(column(first, 'BillingAccountId')).toBe('org-청년');
    expect(column(first, 'CoPay')).toBe('540000');
  });

  it('neutralizes a formula smuggled into an organization field', () => {
    const hostile = { ...CORRECTION, projectId: '=HYPERLINK("http://evil")', invoiceIssuer: '@SUM(1)' };
    const [, row] = parseCsv(focusCsv([hostile]));
    expect(row?.[FOCUS_COLUMNS.indexOf('SubAccountId')]).toBe('\'=HYPERLINK("http://evil")');
    expect(row?.[FOCUS_COLUMNS.indexOf('InvoiceIssuer')]).toBe("'@SUM(1)");
  });
});
