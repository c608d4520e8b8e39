import { conflict } from '../errors/domain-error.js';
import { mayTake } from './request-permissions.js';
import type { RequestViewer } from './request-viewer.js';

export const REQUEST_STATES = [
  'draft',
  'submitted',
  'under_review',
  'approved',
  'partially_approved',
  'rejected',
  'withdrawn',
] as const;
export type RequestState = (typeof REQUEST_STATES)[number];

export const REQUEST_ACTIONS = [
  'submit',
  'start_review',
  'approve',
  'partially_approve',
  'reject',
  'withdraw',
] as const;
export type RequestAction = (typeof REQUEST_ACTIONS)[number];

/**
 * The whole graph. Anything not listed is illegal. Decisions (approved, partially_approved, rejected)
 * and withdrawn are terminal; amendments and extensions will be new requests linked to the decision.
 */
const TRANSITIONS: Readonly<Record<RequestState, Readonly<Partial<Record<RequestAction, RequestState>>>>> = {
  draft: { submit: 'submitted', withdraw: 'withdrawn' },
  submitted: {
    start_review: 'under_review',
    approve: 'approved',
    partially_approve: 'partially_approved',
    reject: 'rejected',
    withdraw: 'withdrawn',
  },
  under_review: {
    approve: 'approved',
    partially_approve: 'partially_approved',
    reject: 'rejected',
    withdraw: 'withdrawn',
  },
  approved: {},
  partially_approved: {},
  rejected: {},
  withdrawn: {},
};

const ACTION_PHRASES: Readonly<Record<RequestAction, string>> = {
  submit: 'submit',
  start_review: 'start reviewing',
  approve: 'approve',
  partially_approve: 'partially approve',
  reject: 'reject',
  withdraw: 'withdraw',
};

const STATE_PHRASES: Readonly<Record<RequestState, string>> = {
  draft: 'still a draft',
  submitted: 'submitted',
  under_review: 'under review',
  approved: 'approved',
  partially_approved: 'partially approved',
  rejected: 'rejected',
  withdrawn: 'withdrawn',
};

/** What a person can do instead, given where the request is. */
const STATE_HINTS: Readonly<Record<RequestState, string>> = {
  draft: 'The applicant must submit it first.',
  submitted: 'It is waiting for review.',
  under_review: 'It is being reviewed; wait for the decision.',
  approved: 'The decision is final; ask the program operator for an amendment instead.',
  partially_approved: 'The decision is final; ask the program operator for an amendment instead.',
  rejected: 'The decision is final; submit a new request instead.',
  withdrawn: 'It was withdrawn; create a new request instead.',
};

export function isTerminal(state: RequestState): boolean {
  return Object.keys(TRANSITIONS[state]).length === 0;
}

/** The actions `viewer` may take on a request in `state`: legal transitions they are allowed (`mayTake`). */
export function allowedActions(state: RequestState, viewer: RequestViewer): RequestAction[] {
  return REQUEST_ACTIONS.filter(
    (action) => TRANSITIONS[state][action] !== undefined && mayTake(viewer, action),
  );
}

export function canTransition(from: RequestState, action: RequestAction): boolean {
  return TRANSITIONS[from][action] !== undefined;
}

function illegal(from: RequestState, action: RequestAction, verb: string) {
  return conflict(
    'ILLEGAL_TRANSITION',
    `Cannot ${verb} a request that is ${STATE_PHRASES[from]}. ${STATE_HINTS[from]}`,
    { from, action },
  );
}

/** The state after `action`, or ILLEGAL_TRANSITION (conflict) naming the state it was in. */
export function transition(from: RequestState, action: RequestAction): RequestState {
  const to = TRANSITIONS[from][action];
  if (to === undefined) throw illegal(from, action, ACTION_PHRASES[action]);
  return to;
}

/**
 * Recording a review moves a submitted request to under_review implicitly; a request already under
 * review stays there. Any other state cannot be reviewed.
 */
export function stateAfterReview(from: RequestState): RequestState {
  if (from === 'under_review') return from;
  if (from === 'submitted') return transition(from, 'start_review');
  throw illegal(from, 'start_review', 'review');
}
