/** How a caller sees an allocation request: as an admin, as a member of its project, or as a reviewer of its program. */
export type RequestViewer = 'admin' | 'member' | 'reviewer';

export interface RequestViewerFacts {
  admin: boolean;
  /** A member (or PI) of the requesting project. */
  projectMember: boolean;
  /** An active reviewer assigned to the request's program. */
  assignedReviewer: boolean;
  status: string;
}

/**
 * Who may see a request (invariant 7 plus the reviewer rule): admins, members of its project, and the
 * reviewers of its program once it is submitted — drafts are the applicant's own business. Null: the
 * caller may not see it (404).
 */
export function requestViewerOf(facts: RequestViewerFacts): RequestViewer | null {
  if (facts.admin) return 'admin';
  if (facts.projectMember) return 'member';
  if (facts.status !== 'draft' && facts.assignedReviewer) return 'reviewer';
  return null;
}
