import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MAPPING, readTrace } from './trace-reader.js';

describe('readTrace', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gpupool-trace-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('maps the Philly columns, sorts by time then row, rounds durations up and drops bad rows', async () => {
    const path = join(dir, 'philly-like.csv');
    writeFileSync(
      path,
      [
        'timestamp,duration,num_gpus,gpu_time,cluster',
        '2017-10-09 07:01:55,66.2,1,66.2,a', // row 1: 115 s after the first; 66.2 → 67
        '2017-10-09 07:00:00,10.0,2,20.0,b', // row 2: first instant
        '2017-10-09 07:00:00,0.4,1,0.4,a', // row 3: same instant, later row; 0.4 → 1 (minimum)
        '2017-10-09 07:05:00,100.0,0,0.0,a', // row 4: 0 GPUs → dropped
        '2017-10-09 07:06:00,0.0,1,0.0,b', // row 5: zero duration → dropped
        '2017-10-09 07:00:00,5,4,20,c', // row 6
        '',
      ].join('\n'),
    );
    const { jobs, dropped } = await readTrace(path);
    expect(dropped).toBe(2);
    expect(jobs).toEqual([
      { id: 'j2', tenant: 'b', submitAt: 0, durationSeconds: 10, gpus: 2 },
      { id: 'j3', tenant: 'a', submitAt: 0, durationSeconds: 1, gpus: 1 },
      { id: 'j6', tenant: 'c', submitAt: 0, durationSeconds: 5, gpus: 4 },
      { id: 'j1', tenant: 'a', submitAt: 115, durationSeconds: 67, gpus: 1 },
    ]);
    expect(DEFAULT_MAPPING).toEqual({
      submitAt: 'timestamp',
      durationSeconds: 'duration',
      gpus: 'num_gpus',
      tenant: 'cluster',
    });
  });

  it('reads another trace through its own mapping (any column order, CRLF)', async () => {
    const path = join(dir, 'other.csv');
    writeFileSync(
      path,
      'user,gpu,submit,run\r\nu1,8,2020-01-01T00:01:00Z,30\r\nu2,1,2020-01-01T00:00:00Z,2.5\r\n',
    );
    const { jobs, dropped } = await readTrace(path, {
      submitAt: 'submit',
      durationSeconds: 'run',
      gpus: 'gpu',
      tenant: 'user',
    });
    expect(dropped).toBe(0);
    expect(jobs).toEqual([
      { id: 'j2', tenant: 'u2', submitAt: 0, durationSeconds: 3, gpus: 1 },
      { id: 'j1', tenant: 'u1', submitAt: 60, durationSeconds: 30, gpus: 8 },
    ]);
  });

  it('names a missing column', async () => {
    const path = join(dir, 'bad.csv');
    writeFileSync(path, 'timestamp,duration,cluster\n2017-10-09 07:00:00,1,a\n');
    await expect(readTrace(path)).rejects.toThrow('no column "num_gpus"');
  });
});
