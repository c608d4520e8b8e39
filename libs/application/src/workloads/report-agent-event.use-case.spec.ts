import { makeWorkload } from '../../../../test/fakes/workloads.fakes.js';
import { agentToken, workloadHarness } from '../../../../test/fakes/workloads.harness.js';
import { ReportAgentEventUseCase, type AgentEvent } from './report-agent-event.use-case.js';

const AT = '2026-06-01T01:00:00.000Z';
const started = (attempt = 1): AgentEvent => ({ type: 'started', attempt, at: AT });
const ended = (attempt = 1, runtimeSeconds?: number): AgentEvent => ({
  type: 'ended',
  attempt,
  at: AT,
  outcome: 'succeeded',
  runtimeSeconds,
});

function setUp(state = 'admitted') {
  const harness = workloadHarness();
  const { transactions, workloads, holds, partitions, endAttempt, audit, producer } = harness;
  workloads.add(makeWorkload({ state, attempt: 1, heldGpuSeconds: 8n * 3600n }));
  holds.add({ workloadId: 'w-1', attempt: 1, heldGpuSeconds: 8n * 3600n, remainingGpuSeconds: 8n * 3600n });
  const report = new ReportAgentEventUseCase(
    transactions,
    workloads,
    holds,
    partitions,
    endAttempt,
    audit,
    producer.asProducer(),
  );
  return { ...harness, report };
}

describe('ReportAgentEventUseCase', () => {
  it('answers 404 for a workload it does not know, taking no lock', async () => {
    const { report, steps } = setUp();
    await expect(report.execute(agentToken(), null, 'w-404', started())).rejects.toMatchObject({
      kind: 'not_found',
    });
    expect(steps).toEqual([]);
  });

  it('moves admitted → running and stamps the attempt hold, without a cycle', async () => {
    const { report, workloads, holds, audit, producer, steps } = setUp();
    await expect(report.execute(agentToken(), 'r-1', 'w-1', started())).resolves.toEqual({
      applied: true,
      workloadId: 'w-1',
      state: 'running',
      attempt: 1,
      stop: false,
    });
    expect(workloads.rows.get('w-1')).toMatchObject({ state: 'running', startedAt: new Date(AT) });
    expect(holds.get({ workloadId: 'w-1', attempt: 1 })?.startedAt).toEqual(new Date(AT));
    expect(audit.actions()).toEqual(['workload.started']);
    expect(producer.jobs).toEqual([]);
    expect(steps).toEqual([
      'lock partition H200',
      'lock workload w-1',
      'start workload w-1',
      'start hold w-1:1',
    ]);
  });

  it('ends the attempt on its end report, keeps the runtime held for usage and triggers a cycle', async () => {
    const { report, workloads, holds, ledger, audit, producer } = setUp('running');
    const outcome = await report.execute(agentToken(), null, 'w-1', ended(1, 600));
    expect(outcome).toEqual({
      applied: true,
      workloadId: 'w-1',
      state: 'succeeded',
      attempt: 1,
      stop: false,
    });
    expect(workloads.rows.get('w-1')).toMatchObject({
      state: 'succeeded',
      endReason: 'succeeded (reported by the cluster)',
    });
    expect(holds.get({ workloadId: 'w-1', attempt: 1 })?.remainingGpuSeconds).toBe(8n * 600n);
    expect(ledger.posted).toMatchObject([{ kind: 'release', idempotencyKey: 'release:w-1:1:end' }]);
    expect(audit.events).toMatchObject([
      { action: 'workload.ended', after: { state: 'succeeded', runtimeSeconds: 600 } },
    ]);
    expect(producer.jobs).toEqual([{ name: 'schedule.cycle', data: { gpuModel: 'H200' } }]);
  });

  it('treats a replayed end report as a no-op that tells the agent to stop', async () => {
    const { report, ledger, audit, producer, workloads } = setUp('running');
    await report.execute(agentToken(), null, 'w-1', ended());
    const before = { ...workloads.rows.get('w-1') };
    const replay = await report.execute(agentToken(), null, 'w-1', ended());
    expect(replay).toEqual({
      applied: false,
      reason: 'already_ended',
      workloadId: 'w-1',
      state: 'succeeded',
      attempt: 1,
      stop: true,
    });
    expect(workloads.rows.get('w-1')).toEqual(before);
    expect(ledger.posted).toHaveLength(1);
    expect(audit.actions()).toEqual(['workload.ended']);
    expect(producer.jobs).toHaveLength(1);
  });

  it('ignores reports of other attempts: an older one must stop, a newer one is unknown', async () => {
    const { report, audit, producer, workloads } = setUp('running');
    await expect(report.execute(agentToken(), null, 'w-1', ended(0))).resolves.toMatchObject({
      applied: false,
      reason: 'stale_attempt',
      stop: true,
    });
    await expect(report.execute(agentToken(), null, 'w-1', started(2))).resolves.toMatchObject({
      applied: false,
      reason: 'unknown_attempt',
      stop: false,
    });
    await expect(report.execute(agentToken(), null, 'w-1', started(1))).resolves.toMatchObject({
      applied: false,
      reason: 'already_running',
      stop: false,
    });
    expect(workloads.rows.get('w-1')?.state).toBe('running');
    expect(audit.events).toEqual([]);
    expect(producer.jobs).toEqual([]);
  });

  it('ignores reports for a workload that is queued again', async () => {
    const { report } = setUp('queued');
    await expect(report.execute(agentToken(), null, 'w-1', started(1))).resolves.toMatchObject({
      applied: false,
      reason: 'not_admitted',
      stop: false,
    });
  });
});
