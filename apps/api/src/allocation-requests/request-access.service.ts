import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { DomainError, notFound, REQUEST_STATES, type RequestState } from '#domain';
import { AllocationRequestEntity } from '#persistence';
import { hasRole, type Principal } from '../auth/principal.js';
import { ProjectAccess } from '#application';
import { ProgramRulesReader } from './program-rules.reader.js';

/** How the caller sees a request: as an admin, as a member of its project, or as a reviewer of its program. */
export type RequestViewer = 'admin' | 'member' | 'reviewer';

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
 * Object-level access to allocation requests. Whoever may not see a request gets 404 for it, so request
 * ids of other projects and of programs one does not review leak nothing.
 */
@Injectable()
export class RequestAccess {
  constructor(
    private readonly projects: ProjectAccess,
    private readonly programs: ProgramRulesReader,
  ) {}

  /** Loads the request (locked FOR UPDATE when `lock`), or 404 if it does not exist or the caller may not see it. */
  async load(
    manager: EntityManager,
    principal: Principal,
    id: string,
    lock = false,
  ): Promise<VisibleRequest> {
    const request = await manager.getRepository(AllocationRequestEntity).findOne({
      where: { id },
      ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
    const viewer = request ? await this.viewerOf(manager, principal, request) : null;
    if (!request || !viewer) throw notFound('Allocation request', id);
    return { request, viewer };
  }

  async viewerOf(
    manager: EntityManager,
    principal: Principal,
    request: AllocationRequestEntity,
  ): Promise<RequestViewer | null> {
    if (hasRole(principal, 'admin')) return 'admin';
    if (principal.kind !== 'user') return null;
    if ((await this.projects.membership(principal, request.projectId, manager)) !== null) return 'member';
    // Drafts are the applicant's own business until submitted.
    if (
      request.status !== 'draft' &&
      (await this.programs.isReviewer(manager, request.programId, principal.userId))
    ) {
      return 'reviewer';
    }
    return null;
  }

  /** Acting for the project (edit, submit, withdraw) needs membership; admins may act too. */
  assertActsForProject(visible: VisibleRequest): void {
    if (visible.viewer === 'reviewer') {
      throw new DomainError(
        'forbidden',
        'PROJECT_MEMBER_REQUIRED',
        'Only members of the requesting project can do this.',
      );
    }
  }
}
