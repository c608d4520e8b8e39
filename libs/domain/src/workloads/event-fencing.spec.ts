import { agentMustStop, decideEvent, type AgentEventFacts } from './event-fencing.js';

const started = (attempt: number): AgentEventFacts => ({ type: 'started', attempt });
const ended = (attempt: number): AgentEventFacts => ({ type: 'ended', attempt });

describe('decideEvent', () => {
  it('moves admitted → running and admitted | running → ended, for the current attempt only', () => {
    expect(decideEvent({ state: 'admitted', attempt: 1 }, started(1))).toEqual({ apply: true });
    expect(decideEvent({ state: 'running', attempt: 1 }, ended(1))).toEqual({ apply: true });
    expect(decideEvent({ state: 'admitted', attempt: 1 }, ended(1))).toEqual({ apply: true });
  });

  it('ignores what is late, repeated or for another attempt', () => {
    expect(decideEvent({ state: 'admitted', attempt: 1 }, started(0))).toEqual({
      apply: false,
      reason: 'stale_attempt',
    });
    expect(decideEvent({ state: 'admitted', attempt: 1 }, started(2))).toEqual({
      apply: false,
      reason: 'unknown_attempt',
    });
    expect(decideEvent({ state: 'running', attempt: 0 }, started(0))).toEqual({
      apply: false,
      reason: 'already_running',
    });
    for (const state of ['succeeded', 'failed', 'cancelled', 'preempted']) {
      expect(decideEvent({ state, attempt: 0 }, ended(0))).toEqual({ apply: false, reason: 'already_ended' });
      expect(decideEvent({ state, attempt: 0 }, started(0))).toEqual({
        apply: false,
        reason: 'already_ended',
      });
    }
    expect(decideEvent({ state: 'queued', attempt: 0 }, started(0))).toEqual({
      apply: false,
      reason: 'not_admitted',
    });
  });

  it('tells the agent to stop only a run gpupool no longer wants', () => {
    expect(agentMustStop('stale_attempt')).toBe(true);
    expect(agentMustStop('already_ended')).toBe(true);
    expect(agentMustStop('already_running')).toBe(false);
    expect(agentMustStop('unknown_attempt')).toBe(false);
    expect(agentMustStop('not_admitted')).toBe(false);
  });
});
