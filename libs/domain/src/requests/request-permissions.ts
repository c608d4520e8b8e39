import { DomainError } from '../errors/domain-error.js';
import type { RequestAction } from './request-state.js';
import type { RequestViewer } from './request-viewer.js';

/**
 * Who may take each action on an allocation request, by how they see it (`requestViewerOf`):
 * the project's members (and admins) act for the project; reviewers of its program review; only
 * admins decide. The use cases enforce it (`assertMayTake`) and `allowedActions` offers only what
 * it allows, so a caller is never offered what the API would refuse them.
 */
const WHO_MAY: Readonly<Record<RequestAction, readonly RequestViewer[]>> = {
  submit: ['admin', 'member'],
  withdraw: ['admin', 'member'],
  start_review: ['reviewer'],
  approve: ['admin'],
  partially_approve: ['admin'],
  reject: ['admin'],
};

export function mayTake(viewer: RequestViewer, action: RequestAction): boolean {
  return WHO_MAY[action].includes(viewer);
}

/** 403 naming what the action needs, unless `viewer` may take it. */
export function assertMayTake(viewer: RequestViewer, action: RequestAction): void {
  if (mayTake(viewer, action)) return;
  switch (action) {
    case 'submit':
    case 'withdraw':
      throw new DomainError(
        'forbidden',
        'PROJECT_MEMBER_REQUIRED',
        'Only members of the requesting project can do this.',
      );
    case 'start_review':
      throw new DomainError(
        'forbidden',
        'REVIEWER_REQUIRED',
        "Only reviewers assigned to the request's program can do this.",
      );
    case 'approve':
    case 'partially_approve':
    case 'reject':
      throw new DomainError('forbidden', 'ROLE_REQUIRED', 'This action needs the admin role.', {
        requiredRoles: ['admin'],
      });
  }
}
