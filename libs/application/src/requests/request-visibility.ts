import { Injectable } from '@nestjs/common';
import {
  assertMayTake,
  DomainError,
  hasRole,
  notFound,
  REQUEST_STATES,
  requestViewerOf,
  type Principal,
  type RequestState,
  type RequestViewer,
} from '#domain';
import { AllocationRequestRepository, type AllocationRequestEntity, type Tx } from '#persistence';
import { ProjectAccess } from '../access/project-access.js';
import { ProgramReader } from '../directory/program-reader.js';

export interface VisibleRequest {
  request: AllocationRequestEntity;
  viewer: RequestViewer;
}

export const AUDIT_SUBJECT = 'allocation_request';

export function stateOf(request: AllocationRequestEntity): RequestState {
  const status = request.status as RequestState;
  if (!REQUEST_STATES.includes(status))
    throw new Error(`allocation request ${request.id} has unknown status ${request.status}`);
  return status;
}

export function userIdOf(principal: Principal): string {
  if (principal.kind !== 'user') {
    throw new DomainError(
      'forbidden',
      'USER_REQUIRED',
      'Allocation requests are handled by people; API tokens cannot do this.',
    );
  }
  return principal.userId;
}

/**
 * Object-level access to allocation requests: ProjectAccess for the requesting project plus the
 * reviewer rule of libs/domain (requestViewerOf). Whoever may not see a request gets 404 for it, so
 * request ids of other projects and of programs one does not review leak nothing.
 */
@Injectable()
export class RequestVisibility {
  constructor(
    private readonly requests: AllocationRequestRepository,
    private readonly projects: ProjectAccess,
    private readonly programs: ProgramReader,
  ) {}

  /** Loads the request (locked FOR UPDATE when `lock`), or 404 if it does not exist or the caller may not see it. */
  async load(tx: Tx | undefined, principal: Principal, id: string, lock = false): Promise<VisibleRequest> {
    const request = await this.requests.find(tx, id, lock);
    const viewer = request ? await this.viewerOf(tx, principal, request) : null;
    if (!request || !viewer) throw notFound('Allocation request', id);
    return { request, viewer };
  }

  async viewerOf(
    tx: Tx | undefined,
    principal: Principal,
    request: AllocationRequestEntity,
  ): Promise<RequestViewer | null> {
    const admin = hasRole(principal, 'admin');
    if (!admin && principal.kind !== 'user') return null;
    const projectMember =
      !admin && (await this.projects.membership(principal, request.projectId, tx)) !== null;
    const assignedReviewer =
      !admin &&
      !projectMember &&
      request.status !== 'draft' &&
      principal.kind === 'user' &&
      (await this.programs.isReviewer(tx, request.programId, principal.userId));
    return requestViewerOf({ admin, projectMember, assignedReviewer, status: request.status });
  }

  /** Acting for the project (edit, submit, withdraw) needs membership; admins may act too (libs/domain's rule). */
  assertActsForProject(visible: VisibleRequest): void {
    assertMayTake(visible.viewer, 'submit');
  }

  /** Reviewing needs an active reviewer assigned to the request's program. */
  async assertAssignedReviewer(tx: Tx, programId: string, userId: string): Promise<void> {
    if (!(await this.programs.isReviewer(tx, programId, userId))) {
      throw new DomainError(
        'forbidden',
        'REVIEWER_REQUIRED',
        "Only reviewers assigned to the request's program can do this.",
      );
    }
  }
}
