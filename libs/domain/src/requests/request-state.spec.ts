import fc from 'fast-check';
import { DomainError } from '../errors/domain-error.js';
import {
  REQUEST_ACTIONS,
  REQUEST_STATES,
  allowedActions,
  isTerminal,
  stateAfterReview,
  transition,
  type RequestAction,
  type RequestState,
} from './request-state.js';
import { assertMayTake } from './request-permissions.js';
import type { RequestViewer } from './request-viewer.js';

const VIEWERS: readonly RequestViewer[] = ['admin', 'member', 'reviewer'];

// The graph as the design states it, written out independently of the implementation's table.
const EDGES: readonly (readonly [RequestState, RequestAction, RequestState])[] = [
  ['draft', 'submit', 'submitted'],
  ['draft', 'withdraw', 'withdrawn'],
  ['submitted', 'start_review', 'under_review'],
  ['submitted', 'approve', 'approved'],
  ['submitted', 'partially_approve', 'partially_approved'],
  ['submitted', 'reject', 'rejected'],
  ['submitted', 'withdraw', 'withdrawn'],
  ['under_review', 'approve', 'approved'],
  ['under_review', 'partially_approve', 'partially_approved'],
  ['under_review', 'reject', 'rejected'],
  ['under_review', 'withdraw', 'withdrawn'],
];
const TERMINAL: readonly RequestState[] = ['approved', 'partially_approved', 'rejected', 'withdrawn'];
const DECISIONS: readonly RequestAction[] = ['approve', 'partially_approve', 'reject'];

function edgeFor(from: RequestState, action: RequestAction): RequestState | undefined {
  return EDGES.find(([edgeFrom, edgeAction]) => edgeFrom === from && edgeAction === action)?.[2];
}

describe('request state machine', () => {
  it.each(EDGES)('%s --%s--> %s', (from, action, to) => {
    expect(transition(from, action)).toBe(to);
  });

  it('refuses every pair not in the graph with ILLEGAL_TRANSITION naming both', () => {
    for (const from of REQUEST_STATES) {
      for (const action of REQUEST_ACTIONS) {
        if (edgeFor(from, action) !== undefined) continue;
        let thrown: unknown;
        try {
          transition(from, action);
        } catch (error: unknown) {
          thrown = error;
        }
        expect(thrown).toBeInstanceOf(DomainError);
        expect(thrown).toMatchObject({
          kind: 'conflict',
          code: 'ILLEGAL_TRANSITION',
          details: { from, action },
        });
      }
    }
  });

  it('writes the message for a person', () => {
    expect(() => transition('approved', 'withdraw')).toThrow('Cannot withdraw a request that is approved.');
    expect(() => transition('draft', 'partially_approve')).toThrow(
      'Cannot partially approve a request that is still a draft. The applicant must submit it first.',
    );
  });

  it('terminal states are exactly the decisions and withdrawn, and allow nothing', () => {
    expect(REQUEST_STATES.filter(isTerminal)).toEqual(TERMINAL);
    for (const state of TERMINAL) {
      for (const viewer of VIEWERS) expect(allowedActions(state, viewer)).toEqual([]);
    }
    expect(allowedActions('draft', 'member')).toEqual(['submit', 'withdraw']);
    expect(allowedActions('under_review', 'admin')).toEqual([
      'approve',
      'partially_approve',
      'reject',
      'withdraw',
    ]);
  });

  it('offers each caller only the actions they may take (issue 13 item 9)', () => {
    // A PI (member) withdraws but never decides; a reviewer reviews; only admins decide.
    expect(allowedActions('submitted', 'member')).toEqual(['withdraw']);
    expect(allowedActions('under_review', 'member')).toEqual(['withdraw']);
    expect(allowedActions('submitted', 'reviewer')).toEqual(['start_review']);
    expect(allowedActions('under_review', 'reviewer')).toEqual([]);
    expect(allowedActions('submitted', 'admin')).toEqual([
      'approve',
      'partially_approve',
      'reject',
      'withdraw',
    ]);
    for (const state of REQUEST_STATES) {
      for (const viewer of VIEWERS) {
        for (const action of allowedActions(state, viewer))
          expect(() => assertMayTake(viewer, action)).not.toThrow();
      }
    }
    expect(() => assertMayTake('member', 'approve')).toThrow(
      expect.objectContaining({ code: 'ROLE_REQUIRED', details: { requiredRoles: ['admin'] } }),
    );
    expect(() => assertMayTake('reviewer', 'withdraw')).toThrow(
      expect.objectContaining({ code: 'PROJECT_MEMBER_REQUIRED' }),
    );
    expect(() => assertMayTake('admin', 'start_review')).toThrow(
      expect.objectContaining({ code: 'REVIEWER_REQUIRED' }),
    );
  });

  it('a review moves submitted to under_review, keeps under_review, and is refused elsewhere', () => {
    expect(stateAfterReview('submitted')).toBe('under_review');
    expect(stateAfterReview('under_review')).toBe('under_review');
    expect(() => stateAfterReview('draft')).toThrow('Cannot review a request that is still a draft');
    expect(() => stateAfterReview('rejected')).toThrow(
      expect.objectContaining({ code: 'ILLEGAL_TRANSITION' }),
    );
  });

  it('random action sequences stay on the graph, stop at terminal states, and never withdraw after a decision', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...REQUEST_ACTIONS), { maxLength: 30 }), (actions) => {
        let state: RequestState = 'draft';
        let decided = false;
        for (const action of actions) {
          const expected = edgeFor(state, action);
          const wasTerminal = isTerminal(state);
          let next: RequestState | undefined;
          try {
            next = transition(state, action);
          } catch (error: unknown) {
            expect(error).toMatchObject({ code: 'ILLEGAL_TRANSITION' });
          }
          expect(next).toBe(expected);
          expect(VIEWERS.some((viewer) => allowedActions(state, viewer).includes(action))).toBe(
            expected !== undefined,
          );
          if (wasTerminal) expect(next).toBeUndefined();
          if (next === undefined) continue;
          if (action === 'withdraw') expect(decided).toBe(false);
          if (DECISIONS.includes(action)) decided = true;
          state = next;
        }
      }),
    );
  });
});
